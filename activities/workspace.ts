/**
 * On-disk layout of a tree's work, shared by every executor and by publishing:
 *
 * ```
 * <root>/trees/<tree>/nodes/<node>/
 *   attempts/<attempt>-<temporalAttempt>[-<localRun>]/   job.json, output/, stdout.log, stderr.log, outcome.json
 *   published/attempt-<attempt>/            the read-only output of a successful workflow attempt
 * <root>/trees/<tree>/carried/<runId>.json.deflate   the tree's state at a continue-as-new (carried-state.ts)
 * ```
 * Tree and node ids are IdSchema-validated (no "/", no ".."), so they are safe path parts.
 */
import { chmodSync, closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { AttemptOutcomeRecord, Block, NodeInput, SampleFacts } from '../common/schemas';
import type { AttemptPaths } from './executors/types';
import { RunnerNames } from '../common/runner-contract';

/** `<root>/trees/<tree>/nodes/<node>` */
export function nodeDir(root: string, treeId: string, nodeId: string): string {
  return path.join(path.resolve(root), 'trees', treeId, 'nodes', nodeId);
}

/** What an attempt folder's name says (see {@link attemptFolderName}). */
export interface AttemptFolder {
  /** Workflow attempt (1-based). */
  attempt: number;
  /** Temporal's attempt of the activity (1-based). */
  activityAttempt: number;
  /** The local run's tag, or null for a regular activity's folder. */
  localRun: string | null;
}

/**
 * A local run's tag: lowercase hex of 1 to 32 characters (see {@link attemptFolderName}); the
 * one pattern for it, also in the run's container name (executors/docker-identity.ts).
 */
export const LOCAL_RUN_TAG = '[0-9a-f]{1,32}';
const LOCAL_RUN = new RegExp(`^${LOCAL_RUN_TAG}$`);

/** True when `tag` is a local run's tag ({@link LOCAL_RUN_TAG}), e.g. read back from a container's label. */
export function isLocalRunTag(tag: string): boolean {
  return LOCAL_RUN.test(tag);
}
/** `<attempt>-<activityAttempt>[-<localRun>]`. */
const ATTEMPT_FOLDER = new RegExp(`^(\\d{1,9})-(\\d{1,9})(?:-(${LOCAL_RUN_TAG}))?$`);

/**
 * The name of an attempt's folder under `attempts/`: `<attempt>-<activityAttempt>`, or
 * `<attempt>-<activityAttempt>-<localRun>` for a local activity's run.
 *
 * Why local runs carry a tag: a regular activity's attempt number is Temporal's, counted by the
 * server, so `<attempt>-<activityAttempt>` names one execution. A local activity's attempt is
 * counted by the worker running the workflow task: when that task moves to another worker
 * (the first worker died, or lost the server for longer than the task timeout while its node
 * still ran), the node runs again there from attempt 1. Without the tag both runs would share
 * one folder, and the second would delete the first's output under it while a slow first one
 * could still publish from it. With it, each run writes its own folder; publishing stays
 * first-wins (publish.ts), and the first run's folder remains as the attempt history's LOST entry.
 * @throws Error when `localRun` is not lowercase hex of 1 to 32 characters (a caller's bug).
 */
export function attemptFolderName(attempt: number, activityAttempt: number, localRun?: string): string {
  if (localRun === undefined) return `${attempt}-${activityAttempt}`;
  if (!LOCAL_RUN.test(localRun)) throw new Error(`attempt folder: local run tag ${JSON.stringify(localRun)} is not lowercase hex of 1 to 32 characters`);
  return `${attempt}-${activityAttempt}-${localRun}`;
}

/** The attempt an `attempts/` folder name stands for, or null for a name {@link attemptFolderName} never makes. */
export function parseAttemptFolder(name: string): AttemptFolder | null {
  const m = ATTEMPT_FOLDER.exec(name);
  if (!m) return null;
  const attempt = Number(m[1]);
  const activityAttempt = Number(m[2]);
  if (attempt < 1 || activityAttempt < 1) return null;
  return { attempt, activityAttempt, localRun: m[3] ?? null };
}

/**
 * Paths of one attempt's workspace (nothing is created).
 * @param localRun a local activity run's tag (see {@link attemptFolderName}); omit for a regular activity.
 */
export function attemptPaths(root: string, treeId: string, nodeId: string, attempt: number, activityAttempt: number, localRun?: string): AttemptPaths {
  const dir = path.join(nodeDir(root, treeId, nodeId), 'attempts', attemptFolderName(attempt, activityAttempt, localRun));
  return {
    dir,
    jobFile: path.join(dir, RunnerNames.jobFile),
    outputDir: path.join(dir, 'output'),
    stdoutLog: path.join(dir, 'stdout.log'),
    stderrLog: path.join(dir, 'stderr.log'),
  };
}

/** The job file the runner reads (blocks/ contract). */
export interface RunnerJob {
  treeId: string;
  nodeId: string;
  attempt: number;
  block: Block;
  /** True when an input was given: the runner then fails with InputMissing (66) if it cannot read it. */
  inputRequired: boolean;
  /** A multi-input node's inputs in order (host paths; the runner reads `inputs/<key>.h5ad`). */
  inputs?: NodeInput[];
  /** The sample of a per-sample node. */
  sample?: SampleFacts;
}

/**
 * Creates a fresh attempt workspace: job.json and an empty output/ that the container user
 * (uid 10001, not the worker's uid) can write. Leftovers of the same attempt (a worker that
 * died mid-run and got the same attempt number back) are removed first.
 */
export async function prepareAttempt(paths: AttemptPaths, job: RunnerJob): Promise<void> {
  // Synchronous calls, on purpose: these are a handful of metadata operations and tiny writes in
  // the worker's own attempt folder (microseconds each on a local disk), and every awaited
  // fs/promises call is a round trip through libuv's thread pool (0.1-0.3 ms on a loaded host)
  // that a no-op node pays between its parent's end and its children's start. The cost: while
  // one runs, the event loop waits, so a hung (network) file system would stall this worker's
  // heartbeats too, and Temporal would then retry its attempts elsewhere. Anything that can be
  // large (the removal of a left-over folder, outputs, hashing) stays asynchronous.
  // A folder of this exact attempt exists only when its task was delivered before and the
  // worker died: start it afresh. The recursive mkdir returns the first folder it created, or
  // undefined when the attempt folder was already there.
  if (mkdirSync(paths.dir, { recursive: true }) === undefined) {
    await rm(paths.dir, { recursive: true, force: true });
    mkdirSync(paths.dir, { recursive: true });
  }
  mkdirSync(paths.outputDir);
  chmodSync(paths.outputDir, 0o777);
  writeFileSync(paths.jobFile, JSON.stringify(job, null, 2), { mode: 0o644 });
  closeSync(openSync(paths.stdoutLog, 'w'));
  closeSync(openSync(paths.stderrLog, 'w'));
}

/** What every attempt leaves in `outcome.json`; read back as the attempt history (attempt-history.ts). */
export type AttemptRecord = AttemptOutcomeRecord;

/**
 * Writes `outcome.json` into the attempt folder. Best effort: the attempt's result does not
 * depend on it (a missing one reads back as a lost attempt in the history), so a failed write
 * (a full disk) is passed to `warn` and the attempt goes on.
 */
export async function recordAttempt(paths: AttemptPaths, record: AttemptRecord, warn: (message: string) => void = () => undefined): Promise<void> {
  const file = path.join(paths.dir, 'outcome.json');
  try {
    writeFileSync(file, JSON.stringify(record, null, 2));
  } catch (e) {
    warn(`attempt outcome not recorded in ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; its history will show it as lost`);
  }
}
