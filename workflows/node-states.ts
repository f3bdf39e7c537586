/**
 * The node state machine: the seed's eight job states, the changes allowed between them, and the
 * one error the scheduler throws. Pure and sandbox-safe, like the rest of the scheduler.
 */
import { NODE_STATES, TERMINAL_STATES, type NodeState } from '../common/schemas';


/**
 * The seed's state machine, plus the edges a durable workflow needs. Every state change the
 * scheduler makes is checked against this table; anything else throws a {@link SchedulerError}
 * with code `ILLEGAL_TRANSITION`.
 *
 * - `PENDING → WAITING → READY → RUNNING → COMPLETED` is the normal path.
 * - `RUNNING → FAILED | TIMEOUT` when a run ends badly; `RUNNING → CANCELLED` when the user
 *   cancels a running node (the workflow cancels the activity, then calls `finish(id, 'CANCELLED')`).
 * - `PENDING | WAITING | READY → CANCELLED` on user cancel, and `WAITING → CANCELLED` when a
 *   dependency ends FAILED, TIMEOUT or CANCELLED.
 * - `READY → WAITING` when a node that has not started gets a new dependency that has not
 *   completed (`TreeScheduler.addDependencies`: a gather taking in samples added to a cohort).
 * - The terminal states COMPLETED, FAILED, TIMEOUT and CANCELLED have no way out.
 *
 * Creation is the pseudo-transition `null → PENDING`; it is reported but not in this table.
 */
export const ALLOWED_TRANSITIONS: Readonly<Record<NodeState, readonly NodeState[]>> = Object.freeze({
  PENDING: Object.freeze(['WAITING', 'CANCELLED'] as NodeState[]),
  WAITING: Object.freeze(['READY', 'CANCELLED'] as NodeState[]),
  READY: Object.freeze(['RUNNING', 'CANCELLED', 'WAITING'] as NodeState[]),
  RUNNING: Object.freeze(['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED'] as NodeState[]),
  COMPLETED: Object.freeze([] as NodeState[]),
  FAILED: Object.freeze([] as NodeState[]),
  CANCELLED: Object.freeze([] as NodeState[]),
  TIMEOUT: Object.freeze([] as NodeState[]),
});

/** True when {@link ALLOWED_TRANSITIONS} permits `from → to`. */
export function isAllowedTransition(from: NodeState, to: NodeState): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** Why a {@link SchedulerError} was thrown. */
export type SchedulerErrorCode =
  /** A state change not in {@link ALLOWED_TRANSITIONS} (e.g. `finish` on a READY node). */
  | 'ILLEGAL_TRANSITION'
  /** The id is not in the scheduler. */
  | 'UNKNOWN_NODE'
  /** `addNode` with an id already present. */
  | 'DUPLICATE_NODE'
  /** `addNode` naming a dependency (or parent) that is not present, or the node itself. */
  | 'UNKNOWN_DEPENDENCY'
  /** A malformed argument: negative `maxParallel`, non-finite priority or duration, bad outcome. */
  | 'INVALID_ARGUMENT';

/**
 * The only error the scheduler throws. It is always thrown *before* any state is changed, so a
 * caught `SchedulerError` leaves the scheduler exactly as it was.
 */
export class SchedulerError extends Error {
  override readonly name = 'SchedulerError';
  /** What went wrong, for programmatic handling. */
  readonly code: SchedulerErrorCode;
  /** The node concerned, when there is one. */
  readonly nodeId?: string;
  /** For `ILLEGAL_TRANSITION`: the node's current state. */
  readonly from?: NodeState;
  /** For `ILLEGAL_TRANSITION`: the state that was asked for. */
  readonly to?: NodeState;

  constructor(code: SchedulerErrorCode, message: string, details: { nodeId?: string; from?: NodeState; to?: NodeState } = {}) {
    super(message);
    this.code = code;
    if (details.nodeId !== undefined) this.nodeId = details.nodeId;
    if (details.from !== undefined) this.from = details.from;
    if (details.to !== undefined) this.to = details.to;
  }
}

/**
 * One state change. `from` is `null` for the creation of a node. The workflow stamps each with
 * the current workflow time and appends it to the node's history.
 */
export interface Transition {
  nodeId: string;
  from: NodeState | null;
  to: NodeState;
  /** Why, when it is not obvious: cancellation causes, failure messages, repair notes. */
  reason?: string;
}

/** How a run ended, as reported to `TreeScheduler.finish`. */
export type RunOutcome = 'COMPLETED' | 'FAILED' | 'TIMEOUT' | 'CANCELLED';

const TERMINAL: Readonly<Record<NodeState, boolean>> = Object.fromEntries(NODE_STATES.map((st) => [st, TERMINAL_STATES.includes(st)])) as Record<NodeState, boolean>;

/** True for COMPLETED, FAILED, TIMEOUT and CANCELLED: states with no way out. */
export function isTerminal(state: NodeState): boolean {
  return TERMINAL[state];
}

/** A count of 0 for each of the eight states. */
export function zeroCounts(): Record<NodeState, number> {
  const counts = {} as Record<NodeState, number>;
  for (const s of NODE_STATES) counts[s] = 0;
  return counts;
}
