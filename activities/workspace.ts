/**
 * On-disk layout of a tree's work, shared by every executor and by publishing:
 *
 * ```
 * <root>/trees/<tree>/nodes/<node>/
 *   attempts/<attempt>-<temporalAttempt>/   job.json, output/, stdout.log, stderr.log, outcome.json
 *   published/attempt-<attempt>/            the read-only output of a successful workflow attempt
 * <root>/trees/<tree>/carried/<runId>.json.deflate   the tree's state at a continue-as-new (carried-state.ts)
 * ```
 * Tree and node ids are IdSchema-validated (no "/", no ".."), so they are safe path parts.
 */
import { chmodSync, closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Block, NodeInput, SampleFacts } from '../common/schemas';
import type { AttemptPaths } from './executors/types';

/** `<root>/trees/<tree>/nodes/<node>` */
export function nodeDir(root: string, treeId: string, nodeId: string): string {
  return path.join(path.resolve(root), 'trees', treeId, 'nodes', nodeId);
}

/** Paths of one attempt's workspace (nothing is created). */
export function attemptPaths(root: string, treeId: string, nodeId: string, attempt: number, activityAttempt: number): AttemptPaths {
  const dir = path.join(nodeDir(root, treeId, nodeId), 'attempts', `${attempt}-${activityAttempt}`);
  return {
    dir,
    jobFile: path.join(dir, 'job.json'),
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
export interface AttemptRecord {
  /** The worker that ran the attempt. */
  worker?: string;
  attempt: number;
  activityAttempt: number;
  status: 'succeeded' | 'failed' | 'timeout' | 'cancelled';
  failureType: string | null;
  exitCode: number | null;
  memoryMB: number;
  killMs: number | null;
  startedAt: string;
  endedAt: string;
}

/** Writes `outcome.json` into the attempt folder; best effort (a missing one reads back as a lost attempt). */
export async function recordAttempt(paths: AttemptPaths, record: AttemptRecord): Promise<void> {
  try {
    writeFileSync(path.join(paths.dir, 'outcome.json'), JSON.stringify(record, null, 2));
  } catch {
    // best effort
  }
}
