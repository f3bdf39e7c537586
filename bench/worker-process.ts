/**
 * `ragomics worker` as a real process, started the way a user (or a supervisor) starts it:
 * `node bin/ragomics.js worker`, configured through its environment (workers/config.ts). Used by
 * the failover benchmark and test, which SIGKILL one to measure how fast its nodes run elsewhere.
 * Every process started here is SIGKILLed when this process exits, so a failed run leaves no
 * worker polling behind it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../activities/executors/repo-root';

const REPO = repoRoot();
const live = new Set<ChildProcess>();
function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.once('exit', killAll);
// Ctrl-C or a kill of the bench: its workers go with it (then the usual exit status of the signal).
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

/** Options of {@link startWorkerProcess}; each becomes the worker's environment variable. */
export interface WorkerProcessSpec {
  /** TEMPORAL_ADDRESS */
  address: string;
  /** TEMPORAL_NAMESPACE; unset: the worker's default. */
  namespace?: string;
  /** RAGOMICS_TASK_QUEUE */
  taskQueue: string;
  /** RAGOMICS_WORKER_ID (also the worker's Temporal identity). */
  workerId: string;
  /** RAGOMICS_WORKSPACE */
  workspace: string;
  /** RAGOMICS_EXECUTOR. @default "inprocess" */
  executor?: 'inprocess' | 'local' | 'docker';
  /** RAGOMICS_STICKY_TIMEOUT in seconds; unset: the worker's default. */
  stickyTimeoutSeconds?: number;
  /** RAGOMICS_HEARTBEAT_INTERVAL in seconds; unset: the worker's default. */
  heartbeatIntervalSeconds?: number;
  /** RAGOMICS_WORKFLOW_STACK_FRAMES; unset: the worker's default. */
  workflowStackFrames?: number;
  /** RAGOMICS_MAX_CONCURRENT_NODES; unset: the executor's default. */
  maxConcurrentNodes?: number;
  /** RAGOMICS_SHUTDOWN_GRACE in seconds; unset: the worker's default. */
  shutdownGraceSeconds?: number;
  /** Folder of the worker's log file `<workerId>.log`. */
  logDir: string;
  /** How long {@link WorkerProcessHandle.ready} waits for "worker started". @default 60000 */
  readyTimeoutMs?: number;
  /**
   * Another built checkout whose `bin/ragomics.js` (and `dist/workflow-bundle.js`, as
   * RAGOMICS_WORKFLOW_BUNDLE) to run instead of this one's: a benchmark's `--baseline DIR`.
   * @default this checkout (RAGOMICS_WORKFLOW_BUNDLE passed on from the caller's environment)
   */
  repoDir?: string;
  /** Extra arguments to node before the script, e.g. `--cpu-prof`. @default none */
  nodeArgs?: string[];
}

/** A started worker process. */
export interface WorkerProcessHandle {
  readonly workerId: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the worker logged "worker started" (it polls right after); rejects if it exits first or after the ready timeout. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code and signal once the process is gone. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** Waits for the exit; rejects after `timeoutMs`. */
  waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `ragomics worker` with `spec` as its environment (the rest of this process's
 * environment is passed on, minus any RAGOMICS_ setting `spec` does not name, so the caller's
 * shell cannot change what is measured). Throws when the CLI is not built.
 */
export function startWorkerProcess(spec: WorkerProcessSpec): WorkerProcessHandle {
  const repo = spec.repoDir ?? REPO;
  if (!existsSync(path.join(repo, 'dist', 'client', 'cli.js'))) throw new Error(`${path.join(repo, 'dist', 'client', 'cli.js')} is missing: run npx tsc -p . there first`);
  mkdirSync(spec.logDir, { recursive: true });
  const logFile = path.join(spec.logDir, `${spec.workerId}.log`);
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RAGOMICS_') || k === 'RAGOMICS_WORKFLOW_BUNDLE' || k === 'RAGOMICS_BLOCKS_IMAGE' || k === 'RAGOMICS_PYTHON' || k === 'RAGOMICS_CONTAINER_SCOPE'));
  Object.assign(env, {
    TEMPORAL_ADDRESS: spec.address,
    RAGOMICS_TASK_QUEUE: spec.taskQueue,
    RAGOMICS_WORKER_ID: spec.workerId,
    RAGOMICS_WORKSPACE: spec.workspace,
    RAGOMICS_EXECUTOR: spec.executor ?? 'inprocess',
    RAGOMICS_LOG_LEVEL: 'INFO',
  });
  if (spec.repoDir) {
    const bundle = path.join(spec.repoDir, 'dist', 'workflow-bundle.js');
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run node scripts/bundle-workflows.js there first`);
    env.RAGOMICS_WORKFLOW_BUNDLE = bundle;
  }
  if (spec.namespace) env.TEMPORAL_NAMESPACE = spec.namespace;
  if (spec.stickyTimeoutSeconds !== undefined) env.RAGOMICS_STICKY_TIMEOUT = String(spec.stickyTimeoutSeconds);
  if (spec.workflowStackFrames !== undefined) env.RAGOMICS_WORKFLOW_STACK_FRAMES = String(spec.workflowStackFrames);
  if (spec.heartbeatIntervalSeconds !== undefined) env.RAGOMICS_HEARTBEAT_INTERVAL = String(spec.heartbeatIntervalSeconds);
  if (spec.maxConcurrentNodes !== undefined) env.RAGOMICS_MAX_CONCURRENT_NODES = String(spec.maxConcurrentNodes);
  if (spec.shutdownGraceSeconds !== undefined) env.RAGOMICS_SHUTDOWN_GRACE = String(spec.shutdownGraceSeconds);
  const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), path.join(repo, 'bin', 'ragomics.js'), 'worker'], { env, cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  if (!child.pid) throw new Error(`could not start worker ${spec.workerId}`);
  live.add(child);
  const out = createWriteStream(logFile, { flags: 'a' });
  let tail = '';
  let markReady: () => void = () => undefined;
  let failReady: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined);
  const readyMs = spec.readyTimeoutMs ?? 60_000;
  const readyTimer = setTimeout(() => failReady(new Error(`worker ${spec.workerId} did not log "worker started" within ${readyMs} ms; log ${logFile}:\n${tail.slice(-2000)}`)), readyMs);
  readyTimer.unref();
  const onData = (chunk: Buffer): void => {
    const s = chunk.toString('utf8');
    out.write(s);
    tail = (tail + s).slice(-20_000);
    if (s.includes('worker started')) {
      clearTimeout(readyTimer);
      markReady();
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.once('close', () => out.end());
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      clearTimeout(readyTimer);
      failReady(new Error(`worker ${spec.workerId} exited (code ${code}, signal ${signal}) before it was ready; log ${logFile}:\n${tail.slice(-2000)}`));
      resolve({ code, signal });
    });
  });
  return {
    workerId: spec.workerId,
    pid: child.pid,
    logFile,
    ready,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitExit: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([exited, new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`worker ${spec.workerId} (pid ${child.pid}) did not exit within ${timeoutMs} ms`)), timeoutMs);
        })]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
