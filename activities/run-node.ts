/**
 * The `runNode` activity: one attempt of one node, from validated input to a published,
 * immutable output (or a typed failure). Executor-independent; see executors/ for the how.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { z } from 'zod';
import { CancelledFailure } from '@temporalio/common';
import { checkBlockParameters, formatZodError, RunNodeInputSchema, type Block, type CacheLookup, type CarryActivities, type NodeInput, type NodeResult, type RunNodeInput } from '../common/schemas';
import { superviseAttempt } from './attempt-control';
import { createCarryActivities } from './carried-state';
import { BlockTimeoutError, InputMissingError, InvalidParametersError, NodeFailureError } from './errors';
import type { BlockExecutor, ExecJob } from './executors/types';
import { memoryForAttempt } from '../common/memory';
import { failureForExit } from './outcome';
import { publishAttempt, readPublishedSync } from './publish';
import { readTail } from './runner-output';
import { historyEntry, readAttemptHistory } from './attempt-history';
import { attemptPaths, prepareAttempt, recordAttempt, type AttemptRecord } from './workspace';
import type { LocalRun, LocalRuns } from './local-runs';
import { lookupNodeCache, publishComputed } from './cache/lookup';
import { logTailSection } from '../common/log-tail';

/** What the activities are built from; the worker wires real ones, tests may pass others. */
export interface ActivityDeps {
  executor: BlockExecutor;
  /** Root of all tree workspaces (shared by every worker that runs this tree's nodes). */
  workspaceRoot: string;
  /** This worker's id: container label and NodeResult.worker. */
  workerId: string;
  /**
   * Heartbeat at least this often while an attempt runs; an activity whose heartbeat timeout is
   * under three intervals heartbeats every third of it instead. @default 2000
   */
  heartbeatIntervalMs?: number;
  /** No heartbeat before an attempt has run this long (see superviseAttempt). @default min(1000, heartbeatIntervalMs) */
  firstHeartbeatAfterMs?: number;
  /** Memory limit of a node without `resources.memoryMB`. @default 2048 */
  defaultMemoryMB?: number;
  /** CPUs of a node without `resources.cpus`. @default 1 */
  defaultCpus?: number;
  /** Upper bound for any attempt's memory (after OOM growth). @default this host's total memory */
  maxMemoryMB?: number;
  /**
   * The worker's registry of local-activity runs, which its shutdown stops after the grace
   * period (local-runs.ts). A local run it stops records its attempt as cancelled and never
   * reports a result, so its tree's workflow task moves to another worker. Absent: local runs
   * are not registered (they then end only on their own, by cancellation or by their timeout).
   */
  localRuns?: LocalRuns;
}

/** The worker's heartbeat interval when its configuration names none (RAGOMICS_HEARTBEAT_INTERVAL). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 2000;

/**
 * The interval an attempt heartbeats at: the worker's, or a third of the activity's heartbeat
 * timeout when that is shorter, so one late beat (a busy event loop, a slow RPC) does not make
 * Temporal declare a live worker lost.
 */
export function heartbeatInterval(workerIntervalMs: number, heartbeatTimeoutMs: number | undefined): number {
  if (!heartbeatTimeoutMs || heartbeatTimeoutMs <= 0) return workerIntervalMs;
  return Math.min(workerIntervalMs, heartbeatTimeoutMs / 3);
}

/** What `runNode` accepts: RunNodeInput before zod defaults (a parsed RunNodeInput fits too). */
export type RunNodeRequest = z.input<typeof RunNodeInputSchema>;

/** The activities a worker registers (with the carried-state ones of activities/carried-state.ts). */
export interface Activities extends CarryActivities {
  /**
   * Runs one attempt of a node and returns its published result.
   *
   * - A retry of a workflow attempt that is already published returns the stored result with
   *   `reused: true` and runs nothing.
   * - Throws ApplicationFailure with `type` = a FailureTypes string and
   *   `details: [{ exitCode, stderrTail, logDir }]`: InvalidParametersError (input or block
   *   parameters, before anything starts), InputMissingError, InputCountMismatchError,
   *   InvalidBlockCodeError, BlockCrashedError, OutOfMemoryError, BlockTimeoutError (killed at
   *   `timeoutSeconds`), ExecutorUnavailableError. An I/O error of the worker's own file system
   *   while publishing (disk full, permissions) is thrown as it is, and retried by Temporal.
   * - On cancellation the attempt is killed and Temporal's CancelledFailure is rethrown.
   */
  runNode(input: RunNodeRequest): Promise<NodeResult>;
  /**
   * The node's cache key and, when the key has a verified entry, its result linked from the
   * cache into this tree's `published/attempt-<attempt>/` (activities/cache). `key: null`: not
   * cacheable (the block is not deterministic, the executor names no runtime, an input cannot be
   * read). A corrupt entry is moved aside and is a miss. Throws only on store I/O errors.
   */
  lookupCache(input: RunNodeRequest): Promise<CacheLookup>;
}

/** Builds the activities around injected dependencies. */
export function createActivities(deps: ActivityDeps): Activities {
  return {
    ...createCarryActivities(deps.workspaceRoot),
    async runNode(input: RunNodeRequest): Promise<NodeResult> {
      const ctx = Context.current();
      const recorded: { last?: AttemptRecord } = {};
      // The first activity attempt of a run is the whole history: no need to read it back. Not
      // so for a local activity: its attempt 1 may follow a run on a worker that died
      // (workspace.ts attemptFolderName), whose folder is then the history's LOST entry.
      const history = () => (ctx.info.attempt === 1 && !ctx.info.isLocal && recorded.last
        ? Promise.resolve([historyEntry(recorded.last)])
        : readAttemptHistory(deps.workspaceRoot, workspaceKey(input), input.nodeId, input.attempt).catch(() => []));
      const local = ctx.info.isLocal ? deps.localRuns?.start() : undefined;
      try {
        const result = await runNodeAttempt(deps, ctx, input, recorded, local);
        return { ...result, attemptHistory: await history() };
      } catch (e) {
        if (stoppedByShutdown(ctx, local)) {
          // Stopped by the worker's shutdown (local-runs.ts): its block is stopped and its attempt
          // recorded (`finally` marks it done). No result may reach the tree, which would count it
          // as a failed node: this call never settles, the worker exits, and the node runs again
          // on another worker.
          return new Promise<never>(() => undefined);
        }
        if (e instanceof NodeFailureError) {
          e.details.attemptHistory = await history();
          throw e.toApplicationFailure();
        }
        throw e;
      } finally {
        local?.done();
      }
    },
    async lookupCache(input: RunNodeRequest): Promise<CacheLookup> {
      return lookupNodeCache({
        executor: deps.executor, workspaceRoot: deps.workspaceRoot, workerId: deps.workerId,
        heartbeatIntervalMs: heartbeatInterval(deps.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS, Context.current().info.heartbeatTimeoutMs),
      }, Context.current(), input);
    },
  };
}

/** True when a local run was stopped by its worker's shutdown (local-runs.ts), not cancelled by its tree. */
function stoppedByShutdown(ctx: Context, local: LocalRun | undefined): boolean {
  return local?.signal.aborted === true && !ctx.cancellationSignal.aborted;
}

async function runNodeAttempt(deps: ActivityDeps, ctx: Context, raw: RunNodeRequest, recorded: { last?: AttemptRecord }, local: LocalRun | undefined): Promise<NodeResult> {
  const parsed = RunNodeInputSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidParametersError(`invalid runNode input:\n${formatZodError(parsed.error)}`);
  const input = parsed.data;
  const { treeId, nodeId, attempt } = input;
  const root = deps.workspaceRoot;
  // Folders are per tree *execution*: a tree id reused after its earlier run finished gets fresh ones.
  const treeKey = workspaceKey(input);
  // Synchronous checks (a failed open, a realpath, a stat and an access: metadata calls of
  // microseconds, where each awaited one is a thread-pool round trip that a no-op node pays on
  // its dependents' critical path). The trade-off is publish.ts's: a hung file system would
  // block the event loop. The published check comes first: its error is the one reported.
  const stored = readPublishedSync(root, treeKey, nodeId, attempt);
  if (stored) {
    ctx.log.info('attempt already published; returning the stored result', { treeId, nodeId, attempt });
    // The run that published it may have died before it reached the cache.
    return publishComputed({ workspaceRoot: root }, ctx, input, treeKey, stored);
  }
  const input0 = tryCheckInputs(input);
  const block = resolveBlock(input);
  if (!input0.ok) throw input0.error;
  const { path: inputPath, inputs } = input0;
  const maxMB = deps.maxMemoryMB ?? Math.floor(os.totalmem() / 1024 / 1024);
  const memoryMB = Math.min(memoryForAttempt(input.resources, 0, deps.defaultMemoryMB ?? 2048), maxMB);
  const activityAttempt = ctx.info.attempt;
  // A local run gets a folder of its own: its attempt number is the worker's, not the server's,
  // and restarts at 1 when the workflow task moves to another worker (workspace.ts attemptFolderName).
  const localRun = ctx.info.isLocal ? randomBytes(4).toString('hex') : undefined;
  const paths = attemptPaths(root, treeKey, nodeId, attempt, activityAttempt, localRun);
  const multi = inputs === undefined ? {} : { inputs };
  const sample = input.sample === undefined ? {} : { sample: input.sample };
  await prepareAttempt(paths, { treeId, nodeId, attempt, block, inputRequired: inputPath !== null || inputs !== undefined, ...multi, ...sample });
  const job: ExecJob = {
    treeId, nodeId, attempt, activityAttempt, ...(input.runKey === undefined ? {} : { runKey: input.runKey }), ...(localRun === undefined ? {} : { localRun }), block, inputPath, ...multi, ...sample, paths, memoryMB,
    cpus: input.resources?.cpus ?? deps.defaultCpus ?? 1,
    workerId: deps.workerId,
  };
  const record = (r: Pick<AttemptRecord, 'status' | 'failureType' | 'exitCode' | 'killMs' | 'startedAt' | 'endedAt'>): Promise<void> => {
    recorded.last = { worker: deps.workerId, attempt, activityAttempt, memoryMB, ...r };
    return recordAttempt(paths, recorded.last, (m) => ctx.log.warn(m, { treeId, nodeId, attempt }));
  };
  const startedAt = new Date().toISOString();
  try {
    const { outcome, abortedBy } = await superviseAttempt(deps.executor, job, {
      // A local run also stops when its worker shuts down (local-runs.ts).
      cancellation: local ? AbortSignal.any([ctx.cancellationSignal, local.signal]) : ctx.cancellationSignal,
      timeoutMs: input.timeoutSeconds * 1000,
      // A local activity has no heartbeat (the core logs each one as failed); its
      // cancellation comes through the workflow task instead.
      heartbeat: ctx.info.isLocal ? () => undefined : (d) => ctx.heartbeat(d),
      heartbeatIntervalMs: heartbeatInterval(deps.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS, ctx.info.heartbeatTimeoutMs),
      firstHeartbeatAfterMs: deps.firstHeartbeatAfterMs,
    });
    const times = { startedAt: outcome.startedAt.toISOString(), endedAt: outcome.endedAt.toISOString(), exitCode: outcome.exitCode, killMs: outcome.killMs ?? null };
    if (abortedBy === 'cancelled') {
      const byShutdown = stoppedByShutdown(ctx, local);
      await record({ ...times, status: 'cancelled', failureType: byShutdown ? 'WorkerShutdownError' : null });
      const reason: unknown = byShutdown ? local?.signal.reason : ctx.cancellationSignal.reason;
      throw reason instanceof Error ? reason : new CancelledFailure('runNode cancelled');
    }
    if (abortedBy === 'timeout') {
      await record({ ...times, status: 'timeout', failureType: 'BlockTimeoutError' });
      const stderrTail = await readTail(paths.stderrLog);
      const killed = outcome.killMs === undefined ? '' : ` (killed and cleaned up in ${Math.round(outcome.killMs)} ms)`;
      throw new BlockTimeoutError(`node ${nodeId} ran longer than its timeout of ${input.timeoutSeconds} s${killed}${logTailSection(paths.stderrLog, stderrTail)}`, {
        stderrTail, logDir: paths.dir,
      });
    }
    const failure = await failureForExit(outcome, paths, memoryMB);
    if (failure) throw failure;
    const result = await publishAttempt({
      root, treeId: treeKey, nodeId, attempt, outputDir: paths.outputDir,
      facts: {
        imageDigest: outcome.imageDigest, executor: deps.executor.kind, worker: deps.workerId,
        startedAt: times.startedAt, endedAt: times.endedAt, activityAttempt, peakMemoryMB: outcome.peakMemoryMB,
        ...(input.cacheKey !== undefined ? { cacheKey: input.cacheKey } : {}),
      },
      warn: (m) => ctx.log.warn(m, { treeId, nodeId, attempt }),
    });
    await record({ ...times, status: 'succeeded', failureType: null });
    // Only successes are cached, and only after they are published in the tree.
    return await publishComputed({ workspaceRoot: root }, ctx, input, treeKey, result);
  } catch (e) {
    if (e instanceof NodeFailureError && !recorded.last) {
      await record({ startedAt, endedAt: new Date().toISOString(), exitCode: e.details.exitCode, killMs: null, status: 'failed', failureType: e.type });
    }
    throw e;
  }
}

/** The block to run: built-in parameters parsed (defaults applied), inline code patched. */
function resolveBlock(input: RunNodeInput): Block {
  const block = input.block;
  if ('name' in block) {
    const checked = checkBlockParameters(block, 'block');
    if (!checked.ok) throw new InvalidParametersError(`invalid parameters for block "${block.name}": ${checked.error}`);
    return { name: block.name, parameters: checked.parameters };
  }
  return input.patchedCode === undefined ? block : { ...block, code: input.patchedCode };
}

/**
 * The node's input(s), checked: the real path of a single input (or null for none), and for a
 * multi-input node every input with its real path, in order. Every input is checked; the first
 * failing one (in input order) is the InputMissingError returned, naming its key.
 */
function tryCheckInputs(input: RunNodeInput): { ok: true; path: string | null; inputs?: NodeInput[] } | { ok: false; error: unknown } {
  try {
    if (input.inputs === undefined) return { ok: true, path: checkInput(input.inputPath, 'input') };
    const inputs = input.inputs.map((i) => ({ ...i, path: checkInput(i.path, `input "${i.key}"`) as string }));
    return { ok: true, path: null, inputs };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The real path of a readable `.h5ad` input, or null for none; `what` names it in errors. */
function checkInput(inputPath: string | null, what: string): string | null {
  if (inputPath === null) return null;
  if (inputPath === '') throw new InputMissingError(`${what === 'input' ? 'the parent node' : `${what}: its node`} produced no AnnData output (its outputPath is empty), so there is no input to run on`);
  if (!inputPath.endsWith('.h5ad')) throw new InputMissingError(`${what} "${inputPath}" is not an .h5ad file`);
  const abs = path.resolve(inputPath);
  // stat() and access() follow symlinks, so on `abs` they answer for the same file as on its real
  // path. realpathSync.native is realpath(3), what fs/promises' realpath calls.
  const real = orNull(() => realpathSync.native(abs));
  const info = orNull(() => statSync(abs));
  if (real === null || !info?.isFile()) throw new InputMissingError(`${what} "${abs}" does not exist or is not a file (was the ${what === 'input' ? "parent's" : 'upstream'} output published?)`);
  const readable = orNull(() => {
    accessSync(abs, constants.R_OK);
    return true;
  });
  if (!readable) throw new InputMissingError(`${what} "${abs}" is not readable by the worker`);
  return real;
}

/** `f()`, or null when it throws. */
function orNull<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}

/** Folder name of a tree execution under `<root>/trees/`: the tree id, plus the run key when the workflow gives one. */
export function workspaceKey(input: { treeId: string; runKey?: string }): string {
  return input.runKey ? `${input.treeId}.${input.runKey}` : input.treeId;
}
