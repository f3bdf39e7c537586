/** The public shapes of the scheduler (scheduler.ts): what goes in, what comes out. */
import type { NodeState, PriorityStrategy } from '../common/schemas';
import type { Transition } from './node-states';

/** What the scheduler needs to know about a node to add it. */
export interface SchedulerNodeInput {
  id: string;
  /** The node whose output is this node's input; `null`/absent for a root. */
  parentId?: string | null;
  /** Ids that must COMPLETE first. The parent is added if missing; duplicates are dropped. */
  dependencies?: readonly string[];
  /** Higher runs first (when `usePriority`). Must be finite. @default 0 */
  priority?: number;
  /**
   * Groups nodes whose durations are averaged for `critical_path`: the block name for built-in
   * blocks, `inline:<hash>` for inline code (see `blockKey` in workflows/node-record.ts).
   */
  blockKey: string;
  /** Expected seconds of one run; overrides the running mean for `critical_path`. */
  expectedDuration?: number;
  /**
   * Optional cross-check: the depth the caller computed (e.g. `NormalizedNode.depth`). The
   * scheduler always computes depth itself; a different value here throws `INVALID_ARGUMENT`.
   */
  depth?: number;
}

/** The scheduling view of one node, as `TreeScheduler.list` returns it. A copy: mutating it changes nothing. */
export interface SchedulerNode {
  id: string;
  parentId: string | null;
  /** All dependencies, always including the parent (first, when it was not listed). */
  dependencies: string[];
  priority: number;
  /** 0 for a node without dependencies, else 1 + the largest depth of its dependencies. */
  depth: number;
  /** Insertion order, assigned by the scheduler from 0; the final tie-break among READY nodes. */
  seq: number;
  blockKey: string;
  expectedDuration?: number;
  state: NodeState;
  /** Why the node is in its current state, when the last transition carried a reason. */
  reason?: string;
  /**
   * For nodes that ended FAILED, TIMEOUT or CANCELLED: the node whose ending started the chain
   * (itself, unless it was cancelled because of a dependency).
   */
  rootCause?: { id: string; state: NodeState };
}

/** Options of a `TreeScheduler`; the tree spec's `priorityStrategy`, `priorityQueue`, `maxParallelJobs`. */
export interface SchedulerOptions {
  /** Order among READY nodes of equal priority. */
  strategy: PriorityStrategy;
  /**
   * Compare priorities first (higher first). When false, priorities are ignored and only the
   * strategy and insertion order decide. (To get the seed's plain FIFO queue for
   * `priorityQueue: false`, pass `usePriority: false` with `strategy: 'fifo'`.)
   */
  usePriority: boolean;
  /** Most nodes RUNNING at once. An integer ≥ 0; 0 pauses all starts. */
  maxParallel: number;
}

/** Result of `TreeScheduler.next`. */
export interface StartDecision {
  /** Ids to start now, in priority order; each is already RUNNING in the scheduler. */
  start: string[];
  /** One `READY → RUNNING` transition per started id, in the same order. */
  transitions: Transition[];
}


/**
 * What `TreeScheduler.restore` rebuilds a scheduler from after continue-as-new: every node
 * in insertion order (as `TreeScheduler.list` gives them) and the duration statistics.
 */
export interface SchedulerSnapshot {
  nodes: SchedulerNode[];
  /** Duration statistics per block key with at least one recorded run. */
  stats: Array<{ blockKey: string; count: number; total: number }>;
}
