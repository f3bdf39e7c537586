/**
 * The scheduling core of a tree: which node may run, and which runs next.
 *
 * `TreeScheduler` is a pure state machine over the seed's eight job states. It knows nothing of
 * Temporal, activities or time: the workflow asks it what to start, tells it how runs ended, and
 * stamps the {@link Transition}s it returns with `workflow.now()`. Keeping it pure lets it run in
 * Temporal's deterministic sandbox, be replayed, be unit-tested without a server, and be carried
 * across continue-as-new as plain JSON ({@link TreeScheduler.snapshot} / {@link TreeScheduler.restore}).
 *
 * Determinism: the order among READY nodes is a total order (it always ends with the insertion
 * sequence number), so decisions never depend on Map iteration, heap layout or sort stability,
 * and a restored scheduler decides exactly like the original.
 *
 * This module must stay sandbox-safe: no Node built-ins, no clocks, no randomness, no I/O.
 */
import { NODE_STATES, TERMINAL_STATES, type NodeState, type PriorityStrategy } from '../common/schemas';
import type { ExistingTree } from '../common/tree-validation';

// ---------------------------------------------------------------------------------------------
// Public types

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
 * - `RUNNING → READY` is {@link TreeScheduler.requeue}: the workflow hands a slot back (drain).
 * - The terminal states COMPLETED, FAILED, TIMEOUT and CANCELLED have no way out.
 *
 * Creation is the pseudo-transition `null → PENDING`; it is reported but not in this table.
 */
export const ALLOWED_TRANSITIONS: Readonly<Record<NodeState, readonly NodeState[]>> = Object.freeze({
  PENDING: Object.freeze(['WAITING', 'CANCELLED'] as NodeState[]),
  WAITING: Object.freeze(['READY', 'CANCELLED'] as NodeState[]),
  READY: Object.freeze(['RUNNING', 'CANCELLED'] as NodeState[]),
  RUNNING: Object.freeze(['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'READY'] as NodeState[]),
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
  | 'INVALID_ARGUMENT'
  /** `restore` was given a snapshot that is malformed or internally inconsistent. */
  | 'INVALID_SNAPSHOT';

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
  /** Why, when it is not obvious: cancellation causes, failure messages, requeue reasons. */
  reason?: string;
}

/** How a run ended, as reported to {@link TreeScheduler.finish}. */
export type RunOutcome = 'COMPLETED' | 'FAILED' | 'TIMEOUT' | 'CANCELLED';

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

/** The scheduling view of one node, as returned by {@link TreeScheduler.get}. A copy: mutating it changes nothing. */
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

/** Options of a {@link TreeScheduler}; the tree spec's `priorityStrategy`, `priorityQueue`, `maxParallelJobs`. */
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

/** Result of {@link TreeScheduler.next}. */
export interface StartDecision {
  /** Ids to start now, in priority order; each is already RUNNING in the scheduler. */
  start: string[];
  /** One `READY → RUNNING` transition per started id, in the same order. */
  transitions: Transition[];
}

/** Running mean of completed run durations of one block key. */
export interface DurationStat {
  /** Completed runs that reported a duration. */
  count: number;
  /** Sum of their durations, in seconds. */
  total: number;
  /** `total / count`, in seconds. */
  mean: number;
}

/** Version of the {@link SchedulerSnapshot} format. */
export const SCHEDULER_SNAPSHOT_VERSION = 1;

/**
 * Everything a scheduler holds, as plain JSON (no Map, Set, undefined-valued keys or non-finite
 * numbers), for carrying across continue-as-new. Options are not included: pass them to
 * {@link TreeScheduler.restore} (they come from the tree spec, and may have been changed).
 */
export interface SchedulerSnapshot {
  version: typeof SCHEDULER_SNAPSHOT_VERSION;
  /** The sequence number the next added node gets. */
  nextSeq: number;
  /** Every node, in insertion order. */
  nodes: SchedulerNode[];
  /** Duration statistics per block key with at least one recorded run, sorted by key. */
  stats: Array<{ blockKey: string; count: number; total: number }>;
}

/** Default duration assumed for `critical_path` when a node has no hint and its block key no history. */
export const DEFAULT_EXPECTED_DURATION = 1;

// ---------------------------------------------------------------------------------------------
// Internals

interface InternalNode {
  id: string;
  parentId: string | null;
  dependencies: string[];
  priority: number;
  depth: number;
  seq: number;
  blockKey: string;
  expectedDuration: number | undefined;
  state: NodeState;
  reason: string | undefined;
  rootCause: { id: string; state: NodeState } | undefined;
  /** Dependencies not yet COMPLETED; the node becomes READY when this reaches 0. */
  pendingDeps: number;
  /** Reverse edges, in insertion order, so completions and cascades touch only what they must. */
  dependents: InternalNode[];
  /** Nodes whose parentId is this node (for `maxChildrenPerNode` checks via {@link ExistingTree}). */
  childCount: number;
  /** Remaining critical path in seconds; valid only while `cpDirty` is false. */
  cp: number;
  /** The duration statistics of its block key, shared by all nodes with that key (no lookups in hot loops). */
  stat: BlockStat;
}

/** Completed-run durations of one block key; `count` is 0 until the first is recorded. */
interface BlockStat {
  count: number;
  total: number;
  /**
   * Non-ended nodes of this key without an `expectedDuration` hint: the only nodes whose
   * expected duration a new mean changes. While it is 0, recording a duration leaves every
   * critical path as it was, so nothing is recomputed (e.g. the tree's single QC node).
   */
  liveUsers: number;
}

const TERMINAL: Readonly<Record<NodeState, boolean>> = Object.fromEntries(NODE_STATES.map((st) => [st, TERMINAL_STATES.includes(st)])) as Record<NodeState, boolean>;
const OUTCOMES = new Set<string>(['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED']);
const STRATEGIES = new Set<string>(['depth_first', 'breadth_first', 'fifo', 'critical_path']);

function isTerminal(state: NodeState): boolean {
  return TERMINAL[state];
}

function zeroCounts(): Record<NodeState, number> {
  const counts = {} as Record<NodeState, number>;
  for (const s of NODE_STATES) counts[s] = 0;
  return counts;
}

/**
 * Binary heap of READY nodes under a strict total order. Entries of nodes that left READY
 * without being popped (only possible by cancellation, which is terminal) are skipped lazily,
 * so cancelling a READY node is O(1) and the heap never holds a node twice.
 */
class ReadyHeap {
  private items: InternalNode[] = [];

  constructor(private readonly before: (a: InternalNode, b: InternalNode) => boolean) {}

  /** Entries, live and stale. */
  get length(): number {
    return this.items.length;
  }

  push(node: InternalNode): void {
    const items = this.items;
    items.push(node);
    let i = items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as InternalNode;
      if (!this.before(node, parent)) break;
      items[i] = parent;
      i = p;
    }
    items[i] = node;
  }

  /** Removes and returns the first live READY node, or undefined. */
  popReady(): InternalNode | undefined {
    while (this.items.length > 0) {
      const top = this.popAny();
      if (top.state === 'READY') return top;
    }
    return undefined;
  }

  /** Rebuilds from the live entries (after keys changed, or to drop stale entries). O(n). */
  rebuild(): void {
    const nodes = this.items.filter((n) => n.state === 'READY');
    this.items = nodes;
    for (let i = (nodes.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private popAny(): InternalNode {
    const items = this.items;
    const top = items[0] as InternalNode;
    const last = items.pop() as InternalNode;
    if (items.length > 0) {
      items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(start: number): void {
    const items = this.items;
    const n = items.length;
    const node = items[start] as InternalNode;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(items[r] as InternalNode, items[l] as InternalNode)) c = r;
      const child = items[c] as InternalNode;
      if (!this.before(child, node)) break;
      items[i] = child;
      i = c;
    }
    items[i] = node;
  }
}

// ---------------------------------------------------------------------------------------------
// The scheduler

/**
 * Scheduling state of one tree: node states, the dependency graph, the READY queue, the
 * parallelism limit and per-block duration statistics.
 *
 * Typical use inside the workflow:
 * ```ts
 * const s = new TreeScheduler({ strategy: spec.priorityStrategy, usePriority: spec.priorityQueue, maxParallel: spec.maxParallelJobs });
 * record(s.addNodes(validated.nodes.map(toSchedulerInput)));
 * const { start, transitions } = s.next(); record(transitions); start.forEach(launchActivity);
 * // ... when an activity ends:
 * record(s.finish(id, 'COMPLETED', seconds)); // then next() again
 * ```
 *
 * Complexity: `addNode` is O(dependencies); `finish` and `cancel` are O(affected dependents);
 * `next` is O(k log r) for k starts among r READY nodes, plus, for `critical_path` only and only
 * after the graph or the duration statistics changed, one O(active nodes + their edges)
 * recomputation of critical-path values and an O(r) re-heapify.
 *
 * All methods throw {@link SchedulerError} on misuse, before changing anything.
 * The scheduler also implements {@link ExistingTree}, so it can be passed directly to
 * `validateAdditions`.
 */
export class TreeScheduler implements ExistingTree {
  private readonly strategy: PriorityStrategy;
  private readonly usePriority: boolean;
  private maxParallelValue: number;

  private readonly nodes = new Map<string, InternalNode>();
  /** Every node in insertion (= topological) order. */
  private readonly order: InternalNode[] = [];
  /** Non-terminal nodes in insertion order, pruned lazily; what critical-path recomputation walks. */
  private active: InternalNode[] = [];
  private nextSeq = 0;
  private readonly stateCounts = zeroCounts();
  /** Per block key, including keys with no recorded run yet (count 0). */
  private readonly stats = new Map<string, BlockStat>();
  private readonly ready: ReadyHeap;
  /** Critical-path values are stale: the graph, the active set or the statistics changed. */
  private cpDirty = true;
  /** The READY heap was ordered by critical-path values that have since been recomputed. */
  private heapKeysStale = false;

  /**
   * @throws SchedulerError `INVALID_ARGUMENT` for an unknown strategy or a `maxParallel` that is
   *   not an integer ≥ 0.
   */
  constructor(options: SchedulerOptions) {
    if (!STRATEGIES.has(options.strategy)) {
      throw new SchedulerError('INVALID_ARGUMENT', `unknown priority strategy "${String(options.strategy)}"`);
    }
    checkMaxParallel(options.maxParallel);
    this.strategy = options.strategy;
    this.usePriority = options.usePriority;
    this.maxParallelValue = options.maxParallel;
    this.ready = new ReadyHeap(this.comparator());
  }

  // ---- configuration ------------------------------------------------------------------------

  /** Current limit on RUNNING nodes. */
  get maxParallel(): number {
    return this.maxParallelValue;
  }

  /**
   * Changes the limit on RUNNING nodes. Lowering it below the current running count stops
   * nothing: no new node starts until enough have ended. 0 pauses all starts.
   * @throws SchedulerError `INVALID_ARGUMENT` unless `n` is an integer ≥ 0.
   */
  setMaxParallel(n: number): void {
    checkMaxParallel(n);
    this.maxParallelValue = n;
  }

  /** The options this scheduler orders by (for `restore` after continue-as-new). */
  get options(): SchedulerOptions {
    return { strategy: this.strategy, usePriority: this.usePriority, maxParallel: this.maxParallelValue };
  }

  // ---- graph changes ------------------------------------------------------------------------

  /**
   * Adds one node. It is created PENDING and moved to WAITING at once; then
   * - to READY at once if every dependency is COMPLETED (or it has none);
   * - to CANCELLED if any dependency already ended FAILED, TIMEOUT or CANCELLED (the first such
   *   dependency in `dependencies` order is named in the reason, see {@link finish});
   * - otherwise it stays WAITING until its dependencies complete.
   *
   * Dependencies may only name nodes already added, so the graph is acyclic by construction
   * and insertion order is a topological order. Validate additions first with
   * `validateAdditions` (common/tree-validation.ts), which also sorts them topologically.
   *
   * @returns the transitions, starting with `null → PENDING`.
   * @throws SchedulerError `DUPLICATE_NODE`, `UNKNOWN_DEPENDENCY` (also for a node naming
   *   itself), `INVALID_ARGUMENT` (non-finite priority, negative or non-finite expected duration).
   */
  addNode(input: SchedulerNodeInput): Transition[] {
    const id = input.id;
    if (this.nodes.has(id)) throw new SchedulerError('DUPLICATE_NODE', `node "${id}" already exists`, { nodeId: id });
    const parentId = input.parentId ?? null;
    const dependencies = normalizeDependencies(parentId, input.dependencies ?? []);
    const deps: InternalNode[] = [];
    for (const depId of dependencies) {
      const dep = this.nodes.get(depId);
      if (!dep) {
        const what = depId === id ? 'depends on itself' : `depends on unknown node "${depId}"`;
        throw new SchedulerError('UNKNOWN_DEPENDENCY', `node "${id}" ${what}`, { nodeId: id });
      }
      deps.push(dep);
    }
    const priority = input.priority ?? 0;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) {
      throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": priority must be a finite number`, { nodeId: id });
    }
    const hint = input.expectedDuration;
    if (hint !== undefined && !(typeof hint === 'number' && Number.isFinite(hint) && hint >= 0)) {
      throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": expectedDuration must be a finite number ≥ 0`, { nodeId: id });
    }

    let depth = 0;
    let pending = 0;
    let failedDep: InternalNode | undefined;
    for (const dep of deps) {
      if (dep.depth + 1 > depth) depth = dep.depth + 1;
      if (dep.state !== 'COMPLETED') pending++;
      if (!failedDep && (dep.state === 'FAILED' || dep.state === 'TIMEOUT' || dep.state === 'CANCELLED')) failedDep = dep;
    }
    if (input.depth !== undefined && input.depth !== depth) {
      throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": depth ${String(input.depth)} given, but its dependencies put it at ${depth}`, { nodeId: id });
    }

    const node: InternalNode = {
      id,
      parentId,
      dependencies,
      priority,
      depth,
      seq: this.nextSeq++,
      blockKey: input.blockKey,
      expectedDuration: hint,
      state: 'PENDING',
      reason: undefined,
      rootCause: undefined,
      pendingDeps: pending,
      dependents: [],
      childCount: 0,
      cp: 0,
      stat: this.statFor(input.blockKey),
    };
    this.nodes.set(id, node);
    this.order.push(node);
    this.active.push(node);
    if (hint === undefined) node.stat.liveUsers++;
    this.stateCounts.PENDING++;
    for (const dep of deps) dep.dependents.push(node);
    if (parentId !== null) (this.nodes.get(parentId) as InternalNode).childCount++;
    this.cpDirty = true;

    const out: Transition[] = [{ nodeId: id, from: null, to: 'PENDING' }];
    this.move(node, 'WAITING', undefined, out);
    if (failedDep) {
      this.cancelBecauseOf(node, failedDep, out);
    } else if (pending === 0) {
      this.move(node, 'READY', undefined, out);
      this.ready.push(node);
    }
    return out;
  }

  /**
   * Adds several nodes in order (each may depend on the ones before it). Not atomic: if one
   * throws, the earlier ones stay added, so validate first.
   * @returns all transitions, node by node.
   */
  addNodes(inputs: readonly SchedulerNodeInput[]): Transition[] {
    const out: Transition[] = [];
    for (const input of inputs) out.push(...this.addNode(input));
    return out;
  }

  // ---- dispatch -----------------------------------------------------------------------------

  /**
   * Picks the READY nodes to start now and marks them RUNNING, never letting the RUNNING count
   * exceed `maxParallel` (nor `limit`, when given). Call it after every change that may free a
   * slot or make a node READY; starting nothing is a normal answer.
   *
   * Order among READY nodes: higher `priority` first (when `usePriority`); then the strategy:
   * `depth_first` deeper first, `breadth_first` shallower first, `fifo` no preference,
   * `critical_path` longer remaining critical path first (see {@link criticalPathOf}); then
   * insertion order.
   *
   * @param limit most nodes to start in this call (e.g. when the workflow can only launch a
   *   few now). @default unlimited
   */
  next(limit = Infinity): StartDecision {
    const free = Math.min(this.maxParallelValue - this.stateCounts.RUNNING, limit);
    const decision: StartDecision = { start: [], transitions: [] };
    if (free <= 0 || this.stateCounts.READY === 0) return decision;
    if (this.strategy === 'critical_path' && this.cpDirty) this.recomputeCriticalPaths();
    // Rebuild when the keys changed, or when cancelled READY nodes left many stale entries.
    if (this.heapKeysStale || this.ready.length > 2 * this.stateCounts.READY + 64) this.rebuildReadyHeap();
    while (decision.start.length < free) {
      const node = this.ready.popReady();
      if (!node) break;
      this.move(node, 'RUNNING', undefined, decision.transitions);
      decision.start.push(node.id);
    }
    return decision;
  }

  /**
   * Records how a RUNNING node's run ended.
   *
   * Transitions returned, in order: the node's own (`RUNNING → outcome`); then
   * - on COMPLETED: every dependent whose dependencies are now all COMPLETED, `WAITING → READY`,
   *   in insertion order;
   * - on FAILED, TIMEOUT or CANCELLED: every not-yet-ended dependent, transitively,
   *   `WAITING → CANCELLED` (breadth-first, insertion order within a level), with reasons
   *   `dependency "b" FAILED` for direct dependents and, further down,
   *   `dependency "c" CANCELLED (root cause: "b" FAILED)`.
   *
   * Duration statistics: only COMPLETED runs with a `durationSeconds` feed the block key's
   * running mean. Failed runs often end early, and timed-out or cancelled runs are cut short,
   * so counting them would bias `critical_path` estimates low.
   *
   * @param durationSeconds how long the run took (finite, ≥ 0), if known.
   * @param reason kept on the node and in the transition (e.g. the error message).
   * @throws SchedulerError `UNKNOWN_NODE`; `ILLEGAL_TRANSITION` unless the node is RUNNING;
   *   `INVALID_ARGUMENT` for an unknown outcome or a bad duration.
   */
  finish(id: string, outcome: RunOutcome, durationSeconds?: number, reason?: string): Transition[] {
    const node = this.require(id);
    if (!OUTCOMES.has(outcome)) throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": unknown outcome "${String(outcome)}"`, { nodeId: id });
    if (durationSeconds !== undefined && !(typeof durationSeconds === 'number' && Number.isFinite(durationSeconds) && durationSeconds >= 0)) {
      throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": durationSeconds must be a finite number ≥ 0`, { nodeId: id });
    }
    if (node.state !== 'RUNNING') this.illegal(node, outcome);

    const out: Transition[] = [];
    this.move(node, outcome, reason, out);
    if (outcome === 'COMPLETED') {
      if (durationSeconds !== undefined) this.recordDuration(node, durationSeconds);
      for (const dep of node.dependents) {
        dep.pendingDeps--;
        if (dep.pendingDeps === 0 && dep.state === 'WAITING') {
          this.move(dep, 'READY', undefined, out);
          this.ready.push(dep);
        }
      }
    } else {
      node.rootCause = { id: node.id, state: outcome };
      this.cascade(node, out);
    }
    return out;
  }

  /**
   * Cancels a node that has not started (PENDING, WAITING or READY → CANCELLED) and,
   * transitively, every dependent that has not ended (reasons as in {@link finish}).
   *
   * Returns `[]` and changes nothing when the node is RUNNING (the workflow must cancel the
   * activity and then call `finish(id, 'CANCELLED', …)`, which cascades) or has already ended
   * (cancelling is idempotent).
   *
   * @param reason kept on the node and in its transition. @default "cancelled"
   * @throws SchedulerError `UNKNOWN_NODE`.
   */
  cancel(id: string, reason = 'cancelled'): Transition[] {
    const node = this.require(id);
    if (node.state === 'RUNNING' || isTerminal(node.state)) return [];
    const out: Transition[] = [];
    this.move(node, 'CANCELLED', reason, out);
    node.rootCause = { id: node.id, state: 'CANCELLED' };
    this.cascade(node, out);
    return out;
  }

  /**
   * Gives a RUNNING node's slot back: RUNNING → READY. Used when the workflow stops a run it
   * will start again later, e.g. while draining before continue-as-new, or when an activity
   * could not be scheduled. The node keeps its priority and insertion order, so it is first in
   * line again among equals. No duration is recorded.
   *
   * @throws SchedulerError `UNKNOWN_NODE`; `ILLEGAL_TRANSITION` unless the node is RUNNING.
   */
  requeue(id: string, reason?: string): Transition[] {
    const node = this.require(id);
    if (node.state !== 'RUNNING') this.illegal(node, 'READY');
    const out: Transition[] = [];
    this.move(node, 'READY', reason, out);
    this.ready.push(node);
    return out;
  }

  // ---- queries ------------------------------------------------------------------------------

  /** A copy of the node's scheduling record, or undefined for an unknown id. */
  get(id: string): SchedulerNode | undefined {
    const node = this.nodes.get(id);
    return node ? toPublic(node) : undefined;
  }

  /** The node's current state, or undefined for an unknown id. */
  stateOf(id: string): NodeState | undefined {
    return this.nodes.get(id)?.state;
  }

  /** Copies of all nodes, in insertion order. O(n); meant for status queries, not hot paths. */
  list(): SchedulerNode[] {
    return this.order.map(toPublic);
  }

  /** Number of nodes in each of the eight states (all keys present). */
  counts(): Record<NodeState, number> {
    return { ...this.stateCounts };
  }

  /** Nodes now RUNNING. */
  get runningCount(): number {
    return this.stateCounts.RUNNING;
  }

  /** Nodes now READY (the seed's `queue_size`). */
  get readyCount(): number {
    return this.stateCounts.READY;
  }

  /** True when nothing is PENDING, WAITING, READY or RUNNING: the tree has nothing left to do. */
  isQuiescent(): boolean {
    const c = this.stateCounts;
    return c.PENDING + c.WAITING + c.READY + c.RUNNING === 0;
  }

  /** Duration statistics per block key with at least one recorded run (completed runs only, see {@link finish}), keys sorted. */
  durationStats(): Record<string, DurationStat> {
    const entries: Array<[string, DurationStat]> = [];
    for (const key of this.recordedKeys()) {
      const s = this.stats.get(key) as BlockStat;
      entries.push([key, { count: s.count, total: s.total, mean: s.total / s.count }]);
    }
    // fromEntries defines own properties, so a block key such as "__proto__" is harmless.
    return Object.fromEntries(entries);
  }

  /**
   * Expected seconds of one run of the node, as `critical_path` uses it: its
   * `expectedDuration` hint, else the running mean of completed runs of its block key in this
   * tree, else {@link DEFAULT_EXPECTED_DURATION}.
   * @throws SchedulerError `UNKNOWN_NODE`.
   */
  expectedDurationOf(id: string): number {
    return this.expected(this.require(id));
  }

  /**
   * Remaining critical path of a node in seconds: its expected duration plus the longest chain
   * of expected durations through its dependents that have not ended. 0 for a node that has
   * ended. Recomputed lazily when the graph or the statistics changed.
   * @throws SchedulerError `UNKNOWN_NODE`.
   */
  criticalPathOf(id: string): number {
    const node = this.require(id);
    if (isTerminal(node.state)) return 0;
    if (this.cpDirty) this.recomputeCriticalPaths();
    return node.cp;
  }

  // ---- ExistingTree (for validateAdditions) ------------------------------------------------------

  /** Number of nodes in the tree. */
  get size(): number {
    return this.nodes.size;
  }

  /** True when a node with this id exists. */
  has(id: string): boolean {
    return this.nodes.has(id);
  }

  /** The node's depth, or undefined for an unknown id. */
  depthOf(id: string): number | undefined {
    return this.nodes.get(id)?.depth;
  }

  /** How many nodes have this node as `parentId` (0 for an unknown id). */
  childCount(id: string): number {
    return this.nodes.get(id)?.childCount ?? 0;
  }

  // ---- persistence --------------------------------------------------------------------------

  /**
   * Everything needed to rebuild this scheduler, as plain JSON. Options are not included (see
   * {@link SchedulerSnapshot}).
   */
  snapshot(): SchedulerSnapshot {
    const stats: SchedulerSnapshot['stats'] = [];
    for (const blockKey of this.recordedKeys()) {
      const s = this.stats.get(blockKey) as BlockStat;
      stats.push({ blockKey, count: s.count, total: s.total });
    }
    return { version: SCHEDULER_SNAPSHOT_VERSION, nextSeq: this.nextSeq, nodes: this.order.map(toPublic), stats };
  }

  /**
   * Rebuilds a scheduler from {@link snapshot}. The result makes the same decisions as the
   * original would have with the same options: states, sequence numbers, dependency order and
   * duration statistics are restored exactly; indexes and critical paths are recomputed.
   *
   * @throws SchedulerError `INVALID_SNAPSHOT` when the snapshot is malformed (wrong version,
   *   duplicate ids, unknown or later-added dependencies, unsorted sequence numbers) or
   *   inconsistent (e.g. a READY node with an unfinished dependency, a WAITING node whose
   *   dependencies are all COMPLETED); `INVALID_ARGUMENT` for bad options.
   */
  static restore(snapshot: SchedulerSnapshot, options: SchedulerOptions): TreeScheduler {
    const s = new TreeScheduler(options);
    const bad = (msg: string): never => {
      throw new SchedulerError('INVALID_SNAPSHOT', `invalid scheduler snapshot: ${msg}`);
    };
    if (!snapshot || typeof snapshot !== 'object') bad('not an object');
    if (snapshot.version !== SCHEDULER_SNAPSHOT_VERSION) bad(`unsupported version ${String(snapshot.version)}`);
    if (!Array.isArray(snapshot.nodes) || !Array.isArray(snapshot.stats)) bad('nodes and stats must be arrays');
    const states = new Set<string>(NODE_STATES);
    let lastSeq = -1;
    for (const rec of snapshot.nodes) {
      if (!rec || typeof rec.id !== 'string') bad('a node without an id');
      const id = rec.id;
      if (s.nodes.has(id)) bad(`duplicate node "${id}"`);
      if (!states.has(rec.state)) bad(`node "${id}" has unknown state "${String(rec.state)}"`);
      if (!Number.isInteger(rec.seq) || rec.seq <= lastSeq) bad(`node "${id}": sequence numbers must be integers increasing in node order`);
      if (typeof rec.priority !== 'number' || !Number.isFinite(rec.priority)) bad(`node "${id}": bad priority`);
      if (typeof rec.blockKey !== 'string') bad(`node "${id}": bad blockKey`);
      const hint = rec.expectedDuration;
      if (hint !== undefined && !(typeof hint === 'number' && Number.isFinite(hint) && hint >= 0)) bad(`node "${id}": bad expectedDuration`);
      if (!Array.isArray(rec.dependencies)) bad(`node "${id}": dependencies must be an array`);
      const parentId = rec.parentId ?? null;
      if (parentId !== null && !rec.dependencies.includes(parentId)) bad(`node "${id}": parent "${parentId}" missing from dependencies`);
      lastSeq = rec.seq;
      const deps: InternalNode[] = [];
      let depth = 0;
      let pending = 0;
      let ended = 0;
      for (const depId of rec.dependencies) {
        const dep = s.nodes.get(depId);
        if (!dep) bad(`node "${id}" depends on "${depId}", which is not an earlier node`);
        const d = dep as InternalNode;
        deps.push(d);
        depth = Math.max(depth, d.depth + 1);
        if (d.state !== 'COMPLETED') pending++;
        if (d.state === 'FAILED' || d.state === 'TIMEOUT' || d.state === 'CANCELLED') ended++;
      }
      if (depth !== rec.depth) bad(`node "${id}": depth ${String(rec.depth)} should be ${depth}`);
      const state = rec.state;
      if ((state === 'READY' || state === 'RUNNING' || state === 'COMPLETED' || state === 'FAILED' || state === 'TIMEOUT') && pending > 0) {
        bad(`node "${id}" is ${state} but has unfinished dependencies`);
      }
      if ((state === 'WAITING' || state === 'PENDING') && (pending === 0 || ended > 0)) {
        bad(`node "${id}" is ${state} but its dependencies ${pending === 0 ? 'are all COMPLETED' : 'include an ended one'}`);
      }
      const node: InternalNode = {
        id,
        parentId,
        dependencies: [...rec.dependencies],
        priority: rec.priority,
        depth,
        seq: rec.seq,
        blockKey: rec.blockKey,
        expectedDuration: rec.expectedDuration,
        state,
        reason: rec.reason,
        rootCause: rec.rootCause ? { id: rec.rootCause.id, state: rec.rootCause.state } : undefined,
        pendingDeps: pending,
        dependents: [],
        childCount: 0,
        cp: 0,
        stat: s.statFor(rec.blockKey),
      };
      s.nodes.set(id, node);
      s.order.push(node);
      if (!isTerminal(state)) {
        s.active.push(node);
        if (node.expectedDuration === undefined) node.stat.liveUsers++;
      }
      if (state === 'READY') s.ready.push(node);
      s.stateCounts[state]++;
      for (const dep of deps) dep.dependents.push(node);
      if (parentId !== null) (s.nodes.get(parentId) as InternalNode).childCount++;
    }
    if (!Number.isInteger(snapshot.nextSeq) || snapshot.nextSeq <= lastSeq) bad('nextSeq must exceed every sequence number');
    s.nextSeq = snapshot.nextSeq;
    const seenKeys = new Set<string>();
    for (const st of snapshot.stats) {
      if (!st || typeof st.blockKey !== 'string' || !Number.isInteger(st.count) || st.count < 1 || !Number.isFinite(st.total) || st.total < 0) {
        bad('bad duration statistics');
      }
      if (seenKeys.has(st.blockKey)) bad(`duplicate statistics for "${st.blockKey}"`);
      seenKeys.add(st.blockKey);
      // Mutate the shared object: nodes restored above already point at it.
      const stat = s.statFor(st.blockKey);
      stat.count = st.count;
      stat.total = st.total;
    }
    // Critical paths are recomputed (and the READY heap re-ordered) on first use.
    s.cpDirty = true;
    return s;
  }

  // ---- internals ----------------------------------------------------------------------------

  /** The strict total order of the READY queue: true when `a` should start before `b`. */
  private comparator(): (a: InternalNode, b: InternalNode) => boolean {
    // One specialised closure per strategy: the heap calls this millions of times in big trees.
    const byStrategy = ((): ((a: InternalNode, b: InternalNode) => boolean) => {
      switch (this.strategy) {
        case 'depth_first':
          return (a, b) => (a.depth !== b.depth ? a.depth > b.depth : a.seq < b.seq);
        case 'breadth_first':
          return (a, b) => (a.depth !== b.depth ? a.depth < b.depth : a.seq < b.seq);
        case 'critical_path':
          return (a, b) => (a.cp !== b.cp ? a.cp > b.cp : a.seq < b.seq);
        case 'fifo':
          return (a, b) => a.seq < b.seq;
      }
    })();
    if (!this.usePriority) return byStrategy;
    return (a, b) => (a.priority !== b.priority ? a.priority > b.priority : byStrategy(a, b));
  }

  private require(id: string): InternalNode {
    const node = this.nodes.get(id);
    if (!node) throw new SchedulerError('UNKNOWN_NODE', `unknown node "${id}"`, { nodeId: id });
    return node;
  }

  private illegal(node: InternalNode, to: NodeState): never {
    throw new SchedulerError('ILLEGAL_TRANSITION', `node "${node.id}": illegal transition ${node.state} -> ${to}`, {
      nodeId: node.id,
      from: node.state,
      to,
    });
  }

  /** The only place a node's state changes: checked against ALLOWED_TRANSITIONS and counted. */
  private move(node: InternalNode, to: NodeState, reason: string | undefined, out: Transition[]): void {
    const from = node.state;
    if (!isAllowedTransition(from, to)) this.illegal(node, to);
    this.stateCounts[from]--;
    this.stateCounts[to]++;
    node.state = to;
    node.reason = reason;
    if (isTerminal(to)) {
      if (node.expectedDuration === undefined) node.stat.liveUsers--;
      // Ended nodes no longer lengthen anyone's critical path; COMPLETED ones never did
      // (their ancestors have all completed), so only unsuccessful endings make it stale.
      if (to !== 'COMPLETED') this.cpDirty = true;
    }
    out.push(reason === undefined ? { nodeId: node.id, from, to } : { nodeId: node.id, from, to, reason });
  }

  /** Cancels `node` (WAITING or PENDING) because `cause` ended unsuccessfully. */
  private cancelBecauseOf(node: InternalNode, cause: InternalNode, out: Transition[]): void {
    const root = cause.rootCause ?? { id: cause.id, state: cause.state };
    const reason =
      root.id === cause.id
        ? `dependency "${cause.id}" ${cause.state}`
        : `dependency "${cause.id}" ${cause.state} (root cause: "${root.id}" ${root.state})`;
    this.move(node, 'CANCELLED', reason, out);
    node.rootCause = { id: root.id, state: root.state };
  }

  /**
   * Cancels every not-yet-ended dependent of `origin`, transitively, breadth-first. Dependents
   * of a node that has not COMPLETED can only be PENDING, WAITING or already ended, so each
   * cancellation here is a legal `WAITING → CANCELLED`.
   */
  private cascade(origin: InternalNode, out: Transition[]): void {
    const queue: InternalNode[] = [origin];
    for (let i = 0; i < queue.length; i++) {
      const cause = queue[i] as InternalNode;
      for (const dep of cause.dependents) {
        if (isTerminal(dep.state)) continue;
        this.cancelBecauseOf(dep, cause, out);
        queue.push(dep);
      }
    }
  }

  private recordDuration(node: InternalNode, seconds: number): void {
    node.stat.count++;
    node.stat.total += seconds;
    if (node.stat.liveUsers > 0) this.cpDirty = true;
  }

  /** The shared statistics object of a block key, created empty on first use. */
  private statFor(blockKey: string): BlockStat {
    let stat = this.stats.get(blockKey);
    if (!stat) {
      stat = { count: 0, total: 0, liveUsers: 0 };
      this.stats.set(blockKey, stat);
    }
    return stat;
  }

  /** Keys with at least one recorded run, sorted, so output order never depends on history. */
  private recordedKeys(): string[] {
    const keys: string[] = [];
    for (const [key, s] of this.stats) if (s.count > 0) keys.push(key);
    return keys.sort();
  }

  private expected(node: InternalNode): number {
    if (node.expectedDuration !== undefined) return node.expectedDuration;
    const s = node.stat;
    return s.count > 0 ? s.total / s.count : DEFAULT_EXPECTED_DURATION;
  }

  /**
   * Recomputes the remaining critical path of every non-ended node, in reverse insertion order
   * (dependents always come after their dependencies), and prunes ended nodes from the active
   * list so later recomputations only walk what is left. O(active + their edges).
   */
  private recomputeCriticalPaths(): void {
    const active = this.active.filter((n) => !isTerminal(n.state));
    this.active = active;
    for (let i = active.length - 1; i >= 0; i--) {
      const node = active[i] as InternalNode;
      let longest = 0;
      for (const dep of node.dependents) {
        if (!isTerminal(dep.state) && dep.cp > longest) longest = dep.cp;
      }
      node.cp = this.expected(node) + longest;
    }
    this.cpDirty = false;
    if (this.strategy === 'critical_path') this.heapKeysStale = true;
  }

  /** Re-heapifies the READY queue, dropping stale entries. O(entries). */
  private rebuildReadyHeap(): void {
    this.ready.rebuild();
    this.heapKeysStale = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function checkMaxParallel(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new SchedulerError('INVALID_ARGUMENT', `maxParallel must be an integer ≥ 0, got ${String(n)}`);
}

/** The parent first when not listed, then the listed dependencies, without duplicates. */
function normalizeDependencies(parentId: string | null, dependencies: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  if (parentId !== null && !dependencies.includes(parentId)) {
    seen.add(parentId);
    out.push(parentId);
  }
  for (const d of dependencies) {
    if (!seen.has(d)) {
      seen.add(d);
      out.push(d);
    }
  }
  return out;
}

function toPublic(node: InternalNode): SchedulerNode {
  const out: SchedulerNode = {
    id: node.id,
    parentId: node.parentId,
    dependencies: [...node.dependencies],
    priority: node.priority,
    depth: node.depth,
    seq: node.seq,
    blockKey: node.blockKey,
    state: node.state,
  };
  // Optional keys are omitted rather than set to undefined, so snapshots are plain JSON.
  if (node.expectedDuration !== undefined) out.expectedDuration = node.expectedDuration;
  if (node.reason !== undefined) out.reason = node.reason;
  if (node.rootCause !== undefined) out.rootCause = { id: node.rootCause.id, state: node.rootCause.state };
  return out;
}
