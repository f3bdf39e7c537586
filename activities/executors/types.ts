/**
 * The one interface behind which node attempts run: in Docker, in a local Python subprocess,
 * or (diagnostic blocks only) inside the worker. An executor only *runs* the runner and reports
 * raw facts (exit code, OOM, timings); preparing the workspace, classifying the outcome into a
 * typed failure and publishing are shared code in run-node.ts, so all three behave alike.
 */
import type { Block, NodeInput, SampleFacts } from '../../common/schemas';

/** Which executor ran an attempt; also recorded in NodeResult.executor. */
export type ExecutorKind = 'docker' | 'local' | 'inprocess';

/** Host paths of one attempt's workspace (see workspace.ts for the layout). */
export interface AttemptPaths {
  /** `<root>/trees/<tree>/nodes/<node>/attempts/<attempt>-<temporalAttempt>/` */
  dir: string;
  /** `<dir>/job.json`, written before the executor runs. */
  jobFile: string;
  /** `<dir>/output/`: exists, empty and world-writable (the container user is uid 10001). */
  outputDir: string;
  /** Where the executor streams the runner's stdout / stderr. */
  stdoutLog: string;
  stderrLog: string;
}

/** Everything an executor needs for one attempt; already validated. */
export interface ExecJob {
  treeId: string;
  nodeId: string;
  /** Workflow attempt (1-based). */
  attempt: number;
  /** Temporal's attempt of the activity (1-based). */
  activityAttempt: number;
  /**
   * The tree execution's run key (RunNodeInput.runKey): tells two executions of one tree id
   * apart (the Docker executor's container names and labels). Absent when the input had none.
   */
  runKey?: string;
  /**
   * A local activity run's tag (workspace.ts attemptFolderName): its attempt folder's and its
   * container's name carry it, because a local run's attempt numbers restart when its workflow
   * task moves to another worker. Absent for a regular activity.
   */
  localRun?: string;
  /** The block, built-in parameters already parsed (defaults applied); inline code patched. */
  block: Block;
  /** Absolute host path of an existing input `.h5ad`, or null for a root without input (and for a multi-input node). */
  inputPath: string | null;
  /**
   * A multi-input node's inputs in order, each `path` the real host path of an existing `.h5ad`
   * (then `inputPath` is null). The executor makes each visible to the runner at
   * `inputs/<key>.h5ad` in the workspace without copying a byte.
   */
  inputs?: NodeInput[];
  /** The sample of a per-sample node (also in job.json). */
  sample?: SampleFacts;
  paths: AttemptPaths;
  /** Memory limit in MB (hard, no swap) and CPU share for this attempt. */
  memoryMB: number;
  cpus: number;
  /** The worker running the attempt (labels, logs). */
  workerId: string;
}

/** The node attempt a runtime identity is asked for (BlockExecutor.runtimeIdentity): ExecJob's fields of the same names. */
export interface RuntimeFor {
  treeId: string;
  runKey?: string;
  nodeId: string;
  /** Workflow attempt (1-based). */
  attempt: number;
}

/** One `RAGOMICS_PROGRESS` line. */
export interface ExecProgress {
  /** 0..1, or null when the runner gave none. */
  fraction: number | null;
  message: string;
}

/** Handle of a started attempt, reported once so heartbeats and cleanup can name it. */
export interface ExecStartedInfo {
  containerId?: string;
  pid?: number;
}

/** How the caller steers a running attempt. */
export interface ExecControl {
  /** Abort = kill now (timeout, cancellation, shutdown). The executor must then stop and clean up within 5 s. */
  signal: AbortSignal;
  onProgress(progress: ExecProgress): void;
  onStarted(info: ExecStartedInfo): void;
}

/** Raw facts of one finished attempt; run-node turns them into a result or a typed failure. */
export interface ExecOutcome {
  /** `exited`: the runner ended on its own. `aborted`: killed because `ctl.signal` fired. */
  status: 'exited' | 'aborted';
  /** Exit code (128 + signal for a signal death); null for every aborted attempt. */
  exitCode: number | null;
  /** The kernel OOM killer ended it (Docker's State.OOMKilled); false where unknowable. */
  oomKilled: boolean;
  /** Image that ran the attempt (RepoDigest or image Id), null outside Docker. */
  imageDigest: string | null;
  /** Peak memory in MB when the executor can tell, else null. */
  peakMemoryMB: number | null;
  startedAt: Date;
  endedAt: Date;
  /** For `aborted`: milliseconds from the abort to the process / container being gone. */
  killMs?: number;
  /** Where the executor's own time went (diagnostics and benchmarks; absent where unknown). */
  phases?: ExecPhases;
}

/**
 * Durations (ms) of an executor's steps for one attempt, and the engine's view of when the
 * process ran (epoch ms). Every field is optional: each executor fills what it can observe.
 * Together with the runner's marks in result.json (`timings`), they split a node's time into
 * container create → start → interpreter start → imports → read → compute → write → exit → remove.
 */
export interface ExecPhases {
  /** Docker: pinging the engine and resolving the image (a build for inline requirements included). */
  prepareMs?: number;
  /** Docker: `createContainer` (the engine sets up the container's file system and config). */
  createMs?: number;
  /** Docker: attaching to the container's output streams before it starts. */
  attachMs?: number;
  /** Docker: the `start` call (namespaces, cgroups, mounts, exec of the entrypoint). Local: spawn until the child exists. */
  startMs?: number;
  /** From the start call's return (the process runs) until its exit is observed. */
  waitMs?: number;
  /** Docker: reading the exited container's state (exit code, OOMKilled, times). */
  inspectMs?: number;
  /** Docker: removing the container after it exited. */
  removeMs?: number;
  /** When the process started: Docker's State.StartedAt; local: the spawn event. */
  processStartedAt?: number;
  /** When the process ended: Docker's State.FinishedAt; local: the exit event. */
  processEndedAt?: number;
  /**
   * The attempt ran in a pre-started runtime from the executor's warm pool (`warmPool` option):
   * interpreter start and imports were paid before the job arrived. Absent or false: a cold run.
   */
  warm?: boolean;
  /** Warm runs: handing the job to the pooled runtime (input links, job line, limits) until it has it. */
  assignMs?: number;
}

/**
 * Runs one attempt of a block.
 *
 * Contract: `run` resolves with an {@link ExecOutcome} for every attempt that started, whether
 * it succeeded, failed or was aborted, after the process or container is gone and stdout.log /
 * stderr.log are complete. It rejects only when the attempt could not be started, with an
 * `ExecutorUnavailableError` (engine or interpreter missing) or another NodeFailureError
 * (e.g. a requirements image that failed to build).
 */
export interface BlockExecutor {
  readonly kind: ExecutorKind;
  run(job: ExecJob, ctl: ExecControl): Promise<ExecOutcome>;
  /**
   * The identity of the runtime `block` would run in on this executor, for cache keys
   * (activities/cache/key.ts): Docker, the Id of the image (a requirements image built if
   * missing, its build output appended to `buildLog`); local, a hash of the runner's sources and
   * interpreter; in-process, a hash of its own code. It must change whenever the runtime changes.
   * An executor without it makes no node cacheable.
   *
   * `ctx.node`: the node attempt the identity is for, when the caller will run that attempt
   * next (the cache lookup): an executor may hand what it resolved to that attempt's `run` (the
   * Docker executor does, docker-resolved.ts), so the run uses the very runtime the key names.
   *
   * @throws ExecutorUnavailableError (engine or image missing) or BlockCrashedError (a
   *   requirements build failed); the caller then treats the node as not cacheable.
   */
  runtimeIdentity?(block: Block, ctx: { buildLog: string; node?: RuntimeFor }): Promise<string>;
  /**
   * Drains the executor's warm pool: stops refilling and removes every idle pre-started runtime
   * (processes killed, containers removed). The worker calls it on shutdown after its running
   * attempts ended; attempts started later run cold. Never rejects. Absent: nothing to release.
   */
  close?(): Promise<void>;
}
