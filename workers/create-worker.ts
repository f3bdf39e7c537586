/**
 * The one place where a worker is wired: configuration → executor → activities → Temporal
 * worker. Used by `ragomics worker`, `ragomics dev`, the tests and the benchmarks, so they all
 * run the same code.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { LocalRuns } from '../activities/local-runs';
import { callExpansionPolicy, callFixer } from '../activities/callbacks';
import { createDockerExecutor, ping as pingDocker } from '../activities/executors/docker';
import { CONTAINER_USER } from '../activities/executors/docker-spec';
import { ExecutorUnavailableError } from '../activities/errors';
import { createInprocessExecutor } from '../activities/executors/inprocess';
import { createLocalExecutor } from '../activities/executors/local';
import type { BlockExecutor } from '../activities/executors/types';
import { resolveConnection } from '../client/connection';
import { ConfigError, ServiceUnavailableError } from '../client/errors';
import { isInstalledPackage } from '../activities/executors/repo-root';
import { PROJECT_ROOT, resolveBlocksImage, type WorkerConfig } from './config';
import type { Logger } from './logging';
import { removeOrphanContainers, unjudgedWarning } from './orphans';
import { tracingPlugin } from './tracing';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

/** A created (not yet running) worker and what must be closed after it. */
export interface RagomicsWorker {
  worker: Worker;
  connection: NativeConnection;
  executor: BlockExecutor;
  config: WorkerConfig;
  /** Where the workflow code came from: the bundle's path, or "bundled at start". */
  workflows: string;
  /** The nodes it runs as local activities, which its shutdown stops after the grace period (activities/local-runs.ts; workers/main.ts). */
  localRuns: LocalRuns;
}

/**
 * Why this process cannot run the Docker executor, or null. It must be root: a block's container
 * runs as uid 10001 ({@link CONTAINER_USER}), and only root may make the files it wrote read-only
 * when they are published, or remove them later; as any other user every node would fail at
 * publishing (EPERM). The Docker socket it drives is root-equivalent anyway. `uid` undefined: a
 * platform without uids (nothing to check).
 */
export function dockerExecutorUserProblem(uid: number | undefined): string | null {
  if (uid === undefined || uid === 0) return null;
  return `--executor docker: the worker runs as uid ${uid}, and must run as root: blocks write their outputs as uid ${CONTAINER_USER}, which only root may make read-only and remove (the Docker socket it drives is root-equivalent anyway); run it as root, as the worker image does, or use --executor local`;
}

/**
 * Builds the executor the configuration names; `logger` gets the Docker pool's "warm pool ready" line (once, when it is first full).
 * @throws ConfigError for the Docker executor in a process that is not root ({@link dockerExecutorUserProblem}).
 */
export function createExecutor(config: WorkerConfig, logger?: Logger): BlockExecutor {
  switch (config.executor) {
    case 'docker': {
      const problem = dockerExecutorUserProblem(process.getuid?.());
      if (problem) throw new ConfigError(problem);
      let announced = false;
      return createDockerExecutor({
        onWarmReady: (ready, size) => {
          if (announced || ready < size) return;
          announced = true;
          logger?.info('warm pool ready', { ready, size, workerId: config.workerId });
        },
        image: resolveBlocksImage(config),
        // Members' folders on the workspace's file system: inputs are hard-linked into them.
        warmPool: config.warmPool, warmDir: path.join(config.workspace, 'warm'), workerId: config.workerId, warmInlineCode: config.warmInlineCode, warmRefill: config.warmRefill,
        requirementsBuild: { networkMode: config.buildNetwork, caBundle: config.buildCaBundle ?? process.env.PIP_CERT },
      });
    }
    case 'local':
      return createLocalExecutor({ python: config.python, warmPool: config.warmPool });
    case 'inprocess':
      return createInprocessExecutor();
  }
}

/**
 * Where the workflow code comes from: the configured bundle (RAGOMICS_WORKFLOW_BUNDLE; a path
 * with no file is a ConfigError, workers/config.ts); in an installed package the bundle shipped in it (`dist/workflow-bundle.js`, built by
 * `npm pack`'s prepack step from the same dist/); else the workflows are bundled at start (about
 * a second). A checkout never picks up `dist/workflow-bundle.js` by itself: it may be older than
 * the workflows just rebuilt.
 */
function workflowSource(config: WorkerConfig): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = config.workflowBundle ?? (isInstalledPackage(PROJECT_ROOT) ? path.join(PROJECT_ROOT, 'dist', 'workflow-bundle.js') : undefined);
  // A configured bundle exists (loadWorkerConfig checked it); the shipped one may be absent.
  if (bundle !== undefined && (config.workflowBundle !== undefined || existsSync(bundle))) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('../workflows') };
}

/**
 * How nodes reach this worker: eagerly in the reply to the workflow task that scheduled them
 * (the default), or each through the queue and a poll (`eagerNodes` off: every node goes
 * through the server's matching, which spreads narrow trees over hosts).
 *
 * Eager: each waiting activity poll holds one of the worker's slots. With the SDK's default
 * (one poll per slot, up to 10) no slot is ever free when a workflow task schedules a node, so
 * the server could never hand the node over eagerly and every node waited for a poll; two polls
 * are plenty to drain a backlog (one below 8 slots), and the other slots take nodes eagerly
 * (BENCHMARKS.md). A workflow task may take as many new nodes eagerly as the worker has free
 * slots: the SDK's default of 3 sent the rest of a task that ends several nodes of a wide fan at
 * once (4-10 at 10 slots) through the queue, which cost the server about a third more CPU per fan
 * node (5.9 against 4.0 ms, measured by hand with 200-node fans; BENCHMARKS.md section 1).
 */
export function dispatchOptions(config: Pick<WorkerConfig, 'eagerNodes' | 'maxConcurrentNodes'>): Pick<WorkerOptions, 'activityTaskPollerBehavior' | 'maxEagerActivityReservationsPerWorkflowTask'> {
  if (!config.eagerNodes) return { maxEagerActivityReservationsPerWorkflowTask: 0 };
  return {
    activityTaskPollerBehavior: { type: 'simple-maximum', maximum: Math.max(1, Math.min(2, Math.floor(config.maxConcurrentNodes / 4))) },
    maxEagerActivityReservationsPerWorkflowTask: config.maxConcurrentNodes,
  };
}

/**
 * Sets how many stack frames V8 captures in the workflow sandboxes and threads this process
 * creates from now on (`--stack-trace-limit`; see `workflowStackFrames` in workers/config.ts for
 * why). A realm takes the limit when it is created, so this process's own main realm (the
 * activities and their errors) keeps its limit, while the workflow thread and its V8 context,
 * created by `Worker.create`, get `frames`. Process-wide: a later call wins for later realms.
 */
export function setWorkflowStackFrames(frames: number): void {
  if (!Number.isInteger(frames) || frames < 1) throw new RangeError(`workflow stack frames: a whole number >= 1, got ${frames}`);
  v8.setFlagsFromString(`--stack-trace-limit=${frames}`);
}

/**
 * Connects and creates a worker. For Docker it first removes containers of this system left by
 * dead workers (their nodes are re-run by Temporal). Throws ServiceUnavailableError when the
 * Temporal server does not answer.
 */
export async function createRagomicsWorker(config: WorkerConfig, logger?: Logger, extra: Partial<WorkerOptions> = {}, tracing?: { exporter?: SpanExporter }): Promise<RagomicsWorker> {
  const resolved = resolveConnection({ address: config.address, namespace: config.namespace, taskQueue: config.taskQueue });
  let connection: NativeConnection;
  try {
    const { address, tls, apiKey, metadata } = resolved.connectionOptions;
    connection = await NativeConnection.connect({ address, tls, apiKey: typeof apiKey === 'string' ? apiKey : undefined, metadata });
  } catch (err) {
    throw new ServiceUnavailableError(`cannot reach the Temporal server at ${resolved.address}: ${(err as Error).message.split('\n')[0]}; start one with \`ragomics dev\` (or \`npx ragomics dev\` in the checkout)`, { cause: err });
  }
  // Everything after the connect can throw (orphan clean-up, bundling, a bad option): close the
  // connection then, so a failed start leaves nothing open behind it.
  try {
    return await startOn(connection, config, resolved, logger, extra, tracing);
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
}

/** How long the worker's start waits for the Docker engine's ping: a local socket answers in milliseconds. */
const DOCKER_PING_AT_START_MS = 10_000;

/**
 * The Docker executor's engine must answer before the worker takes any node: without it every
 * node would fail its attempts one by one. Throws ServiceUnavailableError (exit 3) saying how to
 * start the engine or do without it.
 */
async function requireDockerEngine(docker: ReturnType<typeof createDockerExecutor>['docker']): Promise<void> {
  try {
    await pingDocker(docker, DOCKER_PING_AT_START_MS);
  } catch (err) {
    if (!(err instanceof ExecutorUnavailableError)) throw err;
    throw new ServiceUnavailableError(`cannot start a worker with the docker executor: ${err.message.split('\n')[0]}; or run the worker with --executor local`, { cause: err });
  }
}

async function startOn(connection: NativeConnection, config: WorkerConfig, resolved: ReturnType<typeof resolveConnection>, logger: Logger | undefined, extra: Partial<WorkerOptions>, tracing: { exporter?: SpanExporter } | undefined): Promise<RagomicsWorker> {
  const executor = createExecutor(config, logger);
  // A start that fails from here on (no Docker engine, the orphan sweep, Worker.create) closes the
  // executor: its warm pool may already be filling, and a caller retrying the start would leave
  // one pool per attempt behind.
  try {
    return await startWith(executor, connection, config, resolved, extra, tracing, logger);
  } catch (err) {
    await executor.close?.().catch(() => undefined);
    throw err;
  }
}

async function startWith(executor: BlockExecutor, connection: NativeConnection, config: WorkerConfig, resolved: ReturnType<typeof resolveConnection>, extra: Partial<WorkerOptions>, tracing: { exporter?: SpanExporter } | undefined, logger: Logger | undefined): Promise<RagomicsWorker> {
  if (executor.kind === 'docker') {
    const { docker } = executor as ReturnType<typeof createDockerExecutor>;
    await requireDockerEngine(docker);
    const clientConnection = await Connection.connect(resolved.connectionOptions);
    try {
      const removed = await removeOrphanContainers(docker, clientConnection, resolved.namespace, undefined, undefined, (err, trees) => logger?.warn(...unjudgedWarning(err, trees, ' at start')));
      if (removed.length > 0) logger?.warn(`removed ${removed.length} container(s) left by dead workers`, { containers: removed });
    } finally {
      await clientConnection.close();
    }
  }
  const localRuns = new LocalRuns();
  const activities = {
    ...createActivities({
      executor, workspaceRoot: config.workspace, workerId: config.workerId, defaultMemoryMB: config.defaultMemoryMB, defaultCpus: config.defaultCpus,
      heartbeatIntervalMs: config.heartbeatIntervalSeconds * 1000, localRuns,
    }),
    callExpansionPolicy,
    callFixer,
  };
  const traced = config.tracing !== 'off' || tracing?.exporter !== undefined;
  // Tracing adds workflow interceptors, which must be bundled with the workflow code: bundle at start then.
  const source = traced ? { workflowsPath: require.resolve('../workflows') } : workflowSource(config);
  setWorkflowStackFrames(config.workflowStackFrames);
  const worker = await Worker.create({
    connection,
    namespace: resolved.namespace,
    taskQueue: config.taskQueue,
    identity: config.workerId,
    activities,
    ...source,
    ...(traced ? { plugins: [tracingPlugin(tracing?.exporter)] } : {}),
    // The worker-wide cap on nodes (containers) running at once.
    maxConcurrentActivityTaskExecutions: config.maxConcurrentNodes,
    // Nodes of trees with `localActivities` run in the worker's local-activity slots, a pool of
    // their own: the cap holds for each kind, so a worker running both kinds at once may run up
    // to twice it (README, "Trees of short nodes").
    maxConcurrentLocalActivityExecutions: config.maxConcurrentNodes,
    ...dispatchOptions(config),
    // On SIGTERM: stop polling, give running nodes this long, then cancel them (containers are
    // killed). The SDK does so for regular activities only; local ones: workers/main.ts.
    shutdownGraceTime: `${config.shutdownGraceSeconds}s`,
    // Heartbeats carry cancellation back to the activity, and each one that reaches the server is
    // a server write. The activity itself beats every RAGOMICS_HEARTBEAT_INTERVAL (a third of a
    // shorter heartbeat timeout: activities/run-node.ts), so the SDK must pass its beats through
    // undelayed: its default throttle (80% of the heartbeat timeout) would stretch them.
    maxHeartbeatThrottleInterval: `${Math.min(1, config.heartbeatIntervalSeconds)}s`,
    defaultHeartbeatThrottleInterval: `${Math.min(1, config.heartbeatIntervalSeconds)}s`,
    // A dead worker's trees learn of their lost nodes through a workflow task that first waits on
    // its sticky queue for this long: part of the failover time (BENCHMARKS.md, failover).
    stickyQueueScheduleToStartTimeout: `${config.stickyTimeoutSeconds}s`,
    ...extra,
  });
  return { worker, connection, executor, config, localRuns, workflows: source.workflowBundle && 'codePath' in source.workflowBundle ? source.workflowBundle.codePath : 'bundled at start' };
}
