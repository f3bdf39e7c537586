/**
 * Worker configuration: every environment variable and flag the worker reads, in one zod schema.
 * Flags win over the environment, the environment over defaults.
 */
import { statSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { resolveBlocksImage as resolveImage } from '../activities/executors/blocks-image';
import { dataDir, repoRoot } from '../activities/executors/repo-root';
import { DEFAULT_TASK_QUEUE } from '../client/connection';
import { ConfigError } from '../client/errors';

/** The package's root (the checkout, or the installed package), found the one way: activities/executors/repo-root.ts. */
export const PROJECT_ROOT = repoRoot();

const num = (d: number) => z.coerce.number().positive().default(d);

/** Where blocks run: containers, a Python subprocess, or (diagnostic blocks only) inside the worker. */
export const EXECUTOR_KINDS = ['docker', 'local', 'inprocess'] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];

/**
 * The worker's default cap on nodes running at once, chosen for its executor when
 * `RAGOMICS_MAX_CONCURRENT_NODES` is not set:
 * - `inprocess`: 100. Its diagnostic blocks (sleep) run inside the worker and cost next to
 *   nothing, so trees get the parallelism they ask for (`maxParallelJobs`) up to 100 nodes.
 * - `local`: one node per core (`cores`), at least 2: each node is a Python process doing real work.
 * - `docker`: 4. Each node is a container with its own memory limit (RAGOMICS_DEFAULT_MEMORY_MB,
 *   2 GiB by default), so the cap is about memory as much as cores; raise it on bigger hosts.
 * A tree never runs more than `min(its maxParallelJobs, free slots of all workers on its task queue)`.
 */
export function defaultMaxConcurrentNodes(executor: ExecutorKind, cores: number = availableParallelism()): number {
  if (executor === 'inprocess') return 100;
  if (executor === 'local') return Math.max(2, cores);
  return 4;
}

/**
 * The worker's default warm pool (runner processes or containers kept started, their imports
 * done, so a node skips that start-up), when `RAGOMICS_WARM_POOL` / `--warm` is not set:
 * - `inprocess`: 0 (its blocks run inside the worker: nothing to start).
 * - `docker`: 2 (at most the node cap). Measured on the blocks image (2 cores): an idle, ready
 *   member holds 163 MiB (`docker stats`), a refill (create → ready) takes 1.45 s median on a
 *   quiet host and 10 s at load 15; a served node pays a 35-42 ms hand-over instead of 0.8-1.5 s
 *   of create, start and imports (BENCHMARKS.md sections 3 and 10, quoted from the issue 15
 *   session of 2026-11-29). A pooled container is identifiable per node like a cold one: it is
 *   renamed to its attempt's name at hand-over (activities/executors/docker-identity.ts), which
 *   `docker ps --filter name=...`, the clean-up, the orphan sweep and the fault tests read.
 * - `local`: 2 (at most the node cap; for `local` any N > 0 means one fork server per worker,
 *   see activities/executors/fork-server.ts). Measured on the blocks venv (2 cores): the warmed-up
 *   server holds 256 MB RSS (150 MB its own, 105 MB shared library pages), is ready 1.5 s after
 *   start on an idle host (4-6 s under load), and a forked node shares its pages copy-on-write.
 */
export function defaultWarmPool(executor: ExecutorKind, maxConcurrentNodes: number): number {
  if (executor === 'inprocess') return 0;
  return Math.min(2, maxConcurrentNodes);
}

/** Words an on/off setting takes from the environment (any case). */
const ON_OFF: Record<string, boolean> = { '1': true, true: true, on: true, yes: true, '0': false, false: false, off: false, no: false };

/** An on/off setting: a boolean, or one of {@link ON_OFF}'s words; anything else is named in one line. */
function onOff(fallback: boolean) {
  return z.preprocess((v) => (typeof v === 'string' ? ON_OFF[v.toLowerCase()] ?? v : v), z.boolean({ error: 'must be 1/true/on/yes or 0/false/off/no' })).default(fallback);
}

/** Every setting of a worker, with its environment variable. */
export const WorkerConfigSchema = z.strictObject({
  /** TEMPORAL_ADDRESS @default the Temporal config file's profile, else "localhost:7233" (client/connection.ts) */
  address: z.string().optional(),
  /** TEMPORAL_NAMESPACE @default the Temporal config file's profile, else "default" (client/connection.ts) */
  namespace: z.string().optional(),
  /** RAGOMICS_TASK_QUEUE @default "ragomics" */
  taskQueue: z.string().default(DEFAULT_TASK_QUEUE),
  /** RAGOMICS_EXECUTOR: docker (containers), local (Python subprocess), inprocess (diagnostic blocks in the worker). @default "docker" */
  executor: z.enum(EXECUTOR_KINDS).default('docker'),
  /**
   * RAGOMICS_WORKSPACE: root of node workspaces and published outputs.
   * @default "<data dir>/workspace": `.data/workspace` in a checkout, `~/.ragomics/data/workspace`
   * when installed (RAGOMICS_DATA_DIR, RAGOMICS_HOME; activities/executors/repo-root.ts)
   */
  // Absolute: published output paths travel in results (a fork's input, a child's input check) and
  // must not depend on the folder the worker was started from.
  workspace: z.string().default(() => path.join(dataDir(), 'workspace')).transform((p) => path.resolve(p)),
  /** RAGOMICS_BLOCKS_IMAGE: image of the function-block runtime. @default the tag in `<data dir>/blocks-image` */
  blocksImage: z.string().optional(),
  /**
   * RAGOMICS_MAX_CONCURRENT_NODES: worker-wide cap on nodes running at once (Temporal's activity
   * slots), shared by every tree on the task queue. @default by executor, see {@link defaultMaxConcurrentNodes}
   */
  maxConcurrentNodes: z.coerce.number().int().min(1).max(1000).optional(),
  /**
   * RAGOMICS_EAGER_NODES: take a tree's next nodes straight from the reply to the workflow task
   * that scheduled them, when this worker has free slots (Temporal's eager activity dispatch):
   * one dispatch less between a node ending and its dependents starting. Off spreads every
   * node through the task queue instead, e.g. to balance containers across several hosts
   * evenly when trees are narrower than one worker's cap. @default true
   */
  eagerNodes: onOff(true),
  /** RAGOMICS_DEFAULT_MEMORY_MB: memory limit of a container without `resources.memoryMB`. @default 2048 */
  defaultMemoryMB: num(2048),
  /** RAGOMICS_DEFAULT_CPUS: CPU limit of a container without `resources.cpus`. @default 1 */
  defaultCpus: num(1),
  /** RAGOMICS_SHUTDOWN_GRACE: seconds running nodes get to finish on SIGTERM before they are cancelled (local-activity nodes: stopped, to run again on another worker; workers/main.ts). @default 30 */
  shutdownGraceSeconds: z.coerce.number().min(0).default(30),
  /** RAGOMICS_ORPHAN_SWEEP: seconds between sweeps for containers of dead workers while the worker runs (0 = only at start). @default 60 */
  orphanSweepSeconds: z.coerce.number().min(0).default(60),
  /**
   * RAGOMICS_HEARTBEAT_INTERVAL: seconds between a running node's heartbeats to the server. Each
   * heartbeat is one server write (BENCHMARKS.md, failover), and the heartbeat reply is how a
   * cancellation reaches the node, so this bounds how fast a cancelled node's container is killed.
   * A tree whose `heartbeatTimeout` is under three intervals gets a third of it instead, so a
   * live worker never misses its deadline by one late beat. @default 2
   */
  heartbeatIntervalSeconds: z.coerce.number().min(0.1).max(3600).default(2),
  /**
   * RAGOMICS_STICKY_TIMEOUT: seconds a workflow task waits on this worker's own (sticky) queue
   * before the server hands it to any worker of the task queue. After this worker dies, the
   * task that tells its trees a node was lost waits this long first (unless the server has
   * already noticed no poller for 10 s), so it is part of the failover time; a live worker takes
   * its tasks within milliseconds, and a task that waits longer is replayed from history by
   * another worker (slower, still correct). Temporal's TypeScript default is 10. @default 2
   */
  stickyTimeoutSeconds: z.coerce.number().min(0.1).max(3600).default(2),
  /**
   * RAGOMICS_WORKFLOW_STACK_FRAMES: stack frames captured in the workflow sandbox. The SDK records
   * where each promise of workflow code was created (for the `__stack_trace` query, the Web UI's
   * "Stack Trace" tab) by capturing and source-mapping a stack per promise, about a dozen per
   * node. With V8's default of 10 frames the workflow thread spent a fifth to a quarter more CPU
   * per node of a 200-node fan than with 6 (3.10 against 2.55 ms and 3.50 against 2.60 ms,
   * measured by hand from /proc per thread), and with 6 a pending node's stacks still name
   * compute → runNode → dispatch → analysisTree. Applies to the workflow threads and sandboxes
   * this process creates after the worker (V8's `--stack-trace-limit`), not to the activities'
   * errors. Raise it to debug deep workflow stacks.
   * @default 6
   */
  workflowStackFrames: z.coerce.number().int().min(1).max(200).default(6),
  /** RAGOMICS_WORKER_ID: name in container labels and the timeline. @default "<host>-<pid>" */
  workerId: z.string().default(`${hostname()}-${process.pid}`),
  /** RAGOMICS_METRICS_PORT: serve Prometheus metrics on this port (0 = off). @default 0 */
  metricsPort: z.coerce.number().int().min(0).max(65535).default(0),
  /** RAGOMICS_WORKFLOW_BUNDLE: prebuilt workflow bundle. @default the bundle shipped in an installed package; in a checkout the workflows are bundled at start (workers/create-worker.ts) */
  // A path that is not there is a mistake to report, not a reason to bundle at start silently.
  workflowBundle: z.string().refine((f) => statSync(f, { throwIfNoEntry: false })?.isFile() === true, { error: (i) => `no file at "${String(i.input)}" (write one with \`node scripts/bundle-workflows.js\`, or unset it to bundle at start)` }).optional(),
  /** RAGOMICS_LOG_LEVEL @default "INFO" */
  logLevel: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  /**
   * RAGOMICS_WARM_POOL: warm mode, so nodes skip the runtime's start-up; 0 = every node starts
   * its own. local: any N > 0 = one fork server forking a child per node; docker: N containers
   * kept started (a node takes a ready one, else one still importing, else runs cold; it never
   * waits for a refill). @default by executor, see {@link defaultWarmPool}
   */
  warmPool: z.coerce.number({ error: 'must be a whole number 0-64' }).int('must be a whole number 0-64').min(0, 'must be a whole number 0-64').max(64, 'must be a whole number 0-64').optional(),
  /**
   * RAGOMICS_WARM_INLINE_CODE: the Docker pool also serves inline-code blocks (without
   * `requirements` or `network`), not only catalog blocks. Off by default: code an agent or a
   * client sent gets a container created for it, with its input bind-mounted on its own. The
   * sandbox of a pooled container is the same (test/reliability-6-hostile.test.ts, case 6b, runs
   * every attack in pooled containers with this on). @default false
   */
  warmInlineCode: onOff(false),
  /**
   * RAGOMICS_WARM_REFILL: when the Docker pool starts a member to replace one a node took.
   * `spare-cpu`: only while the running nodes leave a CPU free (a member's warm-up is the same
   * ~1.8 s of imports a cold node pays, so on a saturated host it would only take CPU from running
   * nodes: the next nodes run cold instead, as without a pool); `always`: at once.
   * @default "spare-cpu"
   */
  warmRefill: z.enum(['spare-cpu', 'always'], { error: 'must be spare-cpu or always' }).default('spare-cpu'),
  /** RAGOMICS_PYTHON: Python of the local executor. */
  python: z.string().optional(),
  /** RAGOMICS_TRACING: OpenTelemetry spans of workflows and activities; "console" prints them. @default "off" */
  tracing: z.enum(['off', 'console']).default('off'),
  /** RAGOMICS_BUILD_NETWORK: Docker network for building images of inline blocks' `requirements` (e.g. "host"). @default Docker's default */
  buildNetwork: z.string().optional(),
  /** RAGOMICS_BUILD_CA_BUNDLE: CA bundle pip trusts in those builds (a TLS-intercepting proxy). @default PIP_CERT when set */
  buildCaBundle: z.string().optional(),
});
export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;

/** A parsed worker configuration: every setting resolved, the node cap included. */
export type WorkerConfig = Omit<z.output<typeof WorkerConfigSchema>, 'maxConcurrentNodes' | 'warmPool'> & { maxConcurrentNodes: number; warmPool: number };

/** Environment variable of each setting. */
export const WORKER_ENV: Record<keyof WorkerConfig, string> = {
  address: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  taskQueue: 'RAGOMICS_TASK_QUEUE',
  executor: 'RAGOMICS_EXECUTOR',
  workspace: 'RAGOMICS_WORKSPACE',
  blocksImage: 'RAGOMICS_BLOCKS_IMAGE',
  maxConcurrentNodes: 'RAGOMICS_MAX_CONCURRENT_NODES',
  eagerNodes: 'RAGOMICS_EAGER_NODES',
  defaultMemoryMB: 'RAGOMICS_DEFAULT_MEMORY_MB',
  defaultCpus: 'RAGOMICS_DEFAULT_CPUS',
  shutdownGraceSeconds: 'RAGOMICS_SHUTDOWN_GRACE',
  orphanSweepSeconds: 'RAGOMICS_ORPHAN_SWEEP',
  heartbeatIntervalSeconds: 'RAGOMICS_HEARTBEAT_INTERVAL',
  stickyTimeoutSeconds: 'RAGOMICS_STICKY_TIMEOUT',
  workflowStackFrames: 'RAGOMICS_WORKFLOW_STACK_FRAMES',
  workerId: 'RAGOMICS_WORKER_ID',
  metricsPort: 'RAGOMICS_METRICS_PORT',
  workflowBundle: 'RAGOMICS_WORKFLOW_BUNDLE',
  logLevel: 'RAGOMICS_LOG_LEVEL',
  warmPool: 'RAGOMICS_WARM_POOL',
  warmInlineCode: 'RAGOMICS_WARM_INLINE_CODE',
  warmRefill: 'RAGOMICS_WARM_REFILL',
  python: 'RAGOMICS_PYTHON',
  tracing: 'RAGOMICS_TRACING',
  buildNetwork: 'RAGOMICS_BUILD_NETWORK',
  buildCaBundle: 'RAGOMICS_BUILD_CA_BUNDLE',
};

/**
 * Reads the configuration: `overrides` (flags) win over `env`.
 * @throws ConfigError with one problem per bad setting, each naming its variable.
 */
export function loadWorkerConfig(overrides: WorkerConfigInput = {}, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const fromEnv: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(WORKER_ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const merged = { ...fromEnv, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  const parsed = WorkerConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      return `${WORKER_ENV[key as keyof WorkerConfig] ?? key}: ${i.message}`;
    });
    throw new ConfigError(lines);
  }
  const maxConcurrentNodes = parsed.data.maxConcurrentNodes ?? defaultMaxConcurrentNodes(parsed.data.executor);
  return { ...parsed.data, maxConcurrentNodes, warmPool: parsed.data.warmPool ?? defaultWarmPool(parsed.data.executor, maxConcurrentNodes) };
}

/** True when flags or the environment set the node cap (else it is the executor's default). */
export function nodeCapIsSet(overrides: WorkerConfigInput = {}, env: NodeJS.ProcessEnv = process.env): boolean {
  return overrides.maxConcurrentNodes !== undefined || (env[WORKER_ENV.maxConcurrentNodes] ?? '') !== '';
}

/** The blocks image: configured, else the tag `scripts/build-image.sh` recorded (activities/executors/blocks-image.ts). */
export function resolveBlocksImage(config: WorkerConfig): string {
  return resolveImage(config.blocksImage ?? '');
}
