/**
 * Turns what a node's activity threw into the node's fate: which state it ends in, and whether
 * the workflow should run it again (a lost worker, out of memory with growth, code to repair).
 */
import { ActivityFailure, ApplicationFailure, TimeoutFailure, TemporalFailure } from '@temporalio/common';
import { isCancellation } from '@temporalio/workflow';
import { FailureTypes } from '../common/failure-types';
import { FailureDetailsSchema, type FailureDetails } from '../common/schemas';

/** How one run of a node's activity failed. */
export interface ClassifiedFailure {
  /** LOST: the worker vanished or Docker was unavailable; the node can run again elsewhere. */
  state: 'FAILED' | 'TIMEOUT' | 'CANCELLED' | 'LOST';
  type: string;
  message: string;
  details: FailureDetails;
}

const MAX_MESSAGE = 2000;
/**
 * Failure type Temporal's worker core reports for an activity still running when a worker's
 * shutdown grace period ended (SIGTERM). The node did not fail: its worker went away, so it is
 * re-run elsewhere like a lost one (found by test/reliability-4-sigterm.test.ts).
 */
const WORKER_SHUTDOWN_TYPE = 'WorkerShutdown';

/** Classifies an error thrown by awaiting a node's activity. */
export function classifyFailure(err: unknown): ClassifiedFailure {
  if (isCancellation(err)) return { state: 'CANCELLED', type: 'Cancelled', message: 'cancelled', details: {} };
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) {
    // The last heartbeat's details describe the running attempt (its container, its progress),
    // not a failure: a timed-out attempt reports none.
    const details: FailureDetails = {};
    if (cause.timeoutType === 'START_TO_CLOSE') return { state: 'TIMEOUT', type: FailureTypes.BlockTimeout, message: 'the attempt ran past its timeout (start-to-close)', details };
    return { state: 'LOST', type: `Timeout:${cause.timeoutType ?? 'unknown'}`, message: `worker lost: no ${(cause.timeoutType ?? 'heartbeat').toLowerCase().replace(/_/g, '-')} within the limit`, details };
  }
  if (cause instanceof ApplicationFailure) {
    const details = failureDetails(cause.details?.[0]);
    const type = cause.type ?? 'Error';
    const message = truncate(cause.message);
    if (type === FailureTypes.BlockTimeout) return { state: 'TIMEOUT', type, message, details };
    if (type === FailureTypes.ExecutorUnavailable) return { state: 'LOST', type, message, details };
    if (type === WORKER_SHUTDOWN_TYPE) return { state: 'LOST', type, message: `worker shut down before the node finished: ${message}`, details };
    return { state: 'FAILED', type, message, details };
  }
  const message = err instanceof TemporalFailure || err instanceof Error ? err.message : String(err);
  return { state: 'FAILED', type: 'Error', message: truncate(message), details: {} };
}

/**
 * A failure's details as the schema reads them; {} for details that are not ours (a failure
 * raised by other code, another SDK's worker), which would otherwise reach the node's record.
 */
function failureDetails(raw: unknown): FailureDetails {
  const parsed = FailureDetailsSchema.safeParse(raw ?? {});
  return parsed.success ? parsed.data : {};
}

function truncate(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s;
}
