/**
 * The tree's state across continue-as-new, in one form: plain JSON of the node records and the
 * tree's scalars, deflated (fflate, pure JavaScript: it runs in the workflow sandbox), written to
 * the workspace in chunks by local activities (activities/carried-state.ts). The continue-as-new
 * input carries only a reference to the file (a few hundred bytes), so no tree size meets
 * Temporal's 2 MB payload limit there; each chunk stays under it (1 MiB).
 *
 * Nothing here lists a node's fields: a field added to `NodeRecord` is written and read back as
 * it is (the zod check in common/schemas.ts passes unknown fields through).
 */
import { ActivityFailure, ApplicationFailure, proxyLocalActivities } from '@temporalio/workflow';
import { deflateSync, inflateSync, strFromU8, strToU8 } from 'fflate';
import type { Sample } from '../common/cohort';
import { CarriedStateErrors } from '../common/failure-types';
import { CARRIED_CHUNK_BYTES, CarriedStateSchema, formatZodError, type CarriedRef, type CarryActivities } from '../common/schemas';
import type { NodeRecord } from './node-record';
import type { SchedulerSnapshot } from './scheduler';
import type { RejectedAddition } from './views';

/** Everything a tree carries from one run to the next. */
export interface CarriedState {
  /** Every node record, in insertion order (the scheduler is rebuilt from them). */
  nodes: NodeRecord[];
  durationStats: SchedulerSnapshot['stats'];
  /** Applied request ids. */
  requests: string[];
  rejected: RejectedAddition[];
  paused: boolean;
  maxParallelJobs: number;
  closed: boolean;
  /** Runs so far, this one included. */
  runs: number;
  version: number;
  /** The cohort's samples in sheet order (absent for trees without samples). */
  samples?: Sample[];
}

/**
 * The state itself in the input. Written only where `patched(CARRY_IN_WORKSPACE_PATCH)` is false,
 * i.e. while replaying a history recorded before the state moved to the workspace: the
 * continue-as-new of such a history already happened, and its input is not sent again.
 */
export interface InlineCarried {
  format: 'inline-json-v1';
  state: CarriedState;
}

/** Patch id of the writes to the workspace before continue-as-new (histories before it continued without them). */
export const CARRY_IN_WORKSPACE_PATCH = 'carry-in-workspace';

/** Plain JSON, UTF-8, deflated (level 6: BENCHMARKS.md 4b). */
export function encodeState(state: CarriedState): Uint8Array {
  return deflateSync(strToU8(JSON.stringify(state)), { level: 6 });
}

/**
 * Inverse of {@link encodeState}. Throws a non-retryable `CarriedStateCorruptError` naming
 * `where` when the bytes do not inflate, parse or have the shape of a carried state.
 */
export function decodeState(bytes: Uint8Array, where: string): CarriedState {
  let raw: unknown;
  try {
    raw = JSON.parse(strFromU8(inflateSync(bytes)));
  } catch (e) {
    throw ApplicationFailure.nonRetryable(`carried state ${where} does not inflate to JSON: ${(e as Error).message}`, CarriedStateErrors.Corrupt);
  }
  const parsed = CarriedStateSchema.safeParse(raw);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`carried state ${where} is not a tree state:\n${formatZodError(parsed.error)}`, CarriedStateErrors.Corrupt);
  // The checked fields are NodeRecord's; the others passed through unchanged.
  return parsed.data as unknown as CarriedState;
}

/** Cuts `bytes` into chunks of at most `size` bytes (views, nothing copied). */
export function splitChunks(bytes: Uint8Array, size = CARRIED_CHUNK_BYTES): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, Math.min(at + size, bytes.length)));
  return out;
}

/** Joins chunks back into one array. */
export function joinChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Short local activities: the worker running the workflow reads and writes the shared workspace
 * itself (no task-queue round trip, and a load usually finishes inside one workflow task). A
 * missing or corrupt file is never retried; a passing I/O error (a busy or remounting disk) is,
 * with back-off up to 10 s, for up to 10 minutes, and then the tree fails naming the file.
 */
function carryActivities(): CarryActivities {
  return proxyLocalActivities<CarryActivities>({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: '10m',
    retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s', nonRetryableErrorTypes: Object.values(CarriedStateErrors) },
  });
}

/** An activity failure as the tree's own failure, naming the file: the activity's type, or `CarriedStateUnavailableError` after the retries. */
function rethrow(err: unknown, where: string): never {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type && (Object.values(CarriedStateErrors) as string[]).includes(cause.type)) throw ApplicationFailure.nonRetryable(cause.message, cause.type);
    throw ApplicationFailure.nonRetryable(`carried state ${where}: the workspace did not answer: ${cause?.message ?? err.message}`, CarriedStateErrors.Unavailable);
  }
  throw err;
}

/**
 * Writes `state` to the workspace for the next run and returns the reference to put in the
 * continue-as-new input. `keep`: run ids whose files stay (the one this run loaded from).
 */
export async function saveState(state: CarriedState, file: { treeId: string; runKey: string; runId: string }, keep: string[]): Promise<CarriedRef> {
  const acts = carryActivities();
  const bytes = encodeState(state);
  const chunks = splitChunks(bytes);
  try {
    // One after the other: each chunk is up to 1 MiB of history, and a burst of them in one
    // workflow task completion would approach the server's limit on a task's size.
    for (const [index, chunk] of chunks.entries()) await acts.writeCarriedChunk({ ...file, index }, chunk);
    const done = await acts.commitCarried({ ...file, chunks: chunks.length, bytes: bytes.length, keep });
    return { format: 'workspace-deflate-json-v1', ...file, bytes: done.bytes, sha256: done.sha256, chunks: chunks.length };
  } catch (err) {
    rethrow(err, `trees/${file.treeId}.${file.runKey}/carried/${file.runId}.json.deflate`);
  }
}

/**
 * Reads the state a previous run wrote. Fails the tree (non-retryable) with
 * `CarriedStateMissingError` or `CarriedStateCorruptError`, naming the file, rather than start
 * it empty.
 */
export async function loadState(ref: CarriedRef, where: string): Promise<CarriedState> {
  const acts = carryActivities();
  const chunks: Uint8Array[] = [];
  try {
    for (let index = 0; index < ref.chunks; index++) chunks.push(await acts.readCarriedChunk({ ...ref, index }));
  } catch (err) {
    rethrow(err, where);
  }
  const bytes = joinChunks(chunks);
  if (bytes.length !== ref.bytes) throw ApplicationFailure.nonRetryable(`carried state ${where}: read ${bytes.length} bytes, ${ref.bytes} expected`, CarriedStateErrors.Corrupt);
  return decodeState(bytes, where);
}
