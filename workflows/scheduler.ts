/**
 * The scheduling core of a tree: which node may run, and which runs next.
 *
 * `TreeScheduler` is a pure state machine over the seed's eight job states (node-states.ts). It
 * knows nothing of Temporal, activities or time: the workflow asks it what to start, tells it how
 * runs ended, and stamps the {@link Transition}s it returns with `workflow.now()`. Keeping it pure
 * lets it run in Temporal's deterministic sandbox, be replayed, and be unit-tested without a
 * server. Its parts, one concept each: the state machine (node-states.ts), the graph whose nodes
 * move through it (node-graph.ts), the READY queue (ready-queue.ts), durations and critical paths
 * (critical-path.ts), and the shapes in and out (scheduler-types.ts). This module is the facade:
 * adding nodes, dispatch, ends of runs, cancellation, and the rebuild after continue-as-new.
 *
 * Determinism: the order among READY nodes is a total order (it always ends with the insertion
 * sequence number), so decisions never depend on Map iteration, heap layout or sort stability,
 * and a restored scheduler decides exactly like the original.
 *
 * This module must stay sandbox-safe: no Node built-ins, no clocks, no randomness, no I/O.
 */
import type { NodeState, PriorityStrategy } from '../common/schemas';
import type { DurationStat } from './critical-path';
import { NodeGraph, normalizeDependencies, type GraphNode } from './node-graph';
import { SchedulerError, isTerminal, type RunOutcome, type Transition } from './node-states';
import { ReadyHeap, readyOrder } from './ready-queue';
import type { SchedulerNodeInput, SchedulerOptions, SchedulerSnapshot, StartDecision } from './scheduler-types';

export type { RunOutcome, Transition } from './node-states';
export type { SchedulerNode, SchedulerNodeInput, SchedulerOptions, SchedulerSnapshot, StartDecision } from './scheduler-types';

const OUTCOMES = new Set<string>(['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED']);
const STRATEGIES = new Set<string>(['depth_first', 'breadth_first', 'fifo', 'critical_path']);

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
 * Through {@link NodeGraph} the scheduler implements `ExistingTree`, so it can be passed
 * directly to `validateAdditions`.
 */
export class TreeScheduler extends NodeGraph {
  private readonly strategy: PriorityStrategy;
  private readonly usePriority: boolean;
  private maxParallelValue: number;
  private nextSeq = 0;
  private readonly ready: ReadyHeap<GraphNode>;
  /** The READY heap was ordered by critical-path values that have since been recomputed. */
  private heapKeysStale = false;

  /**
   * @throws SchedulerError `INVALID_ARGUMENT` for an unknown strategy or a `maxParallel` that is
   *   not an integer ≥ 0.
   */
  constructor(options: SchedulerOptions) {
    super();
    if (!STRATEGIES.has(options.strategy)) {
      throw new SchedulerError('INVALID_ARGUMENT', `unknown priority strategy "${String(options.strategy)}"`);
    }
    checkMaxParallel(options.maxParallel);
    this.strategy = options.strategy;
    this.usePriority = options.usePriority;
    this.maxParallelValue = options.maxParallel;
    this.ready = new ReadyHeap<GraphNode>(readyOrder(this.strategy, this.usePriority));
  }

  // ---- configuration ------------------------------------------------------------------------

  /**
   * Changes the limit on RUNNING nodes. Lowering it below the current running count stops
   * nothing: no new node starts until enough have ended. 0 pauses all starts.
   * @throws SchedulerError `INVALID_ARGUMENT` unless `n` is an integer ≥ 0.
   */
  setMaxParallel(n: number): void {
    checkMaxParallel(n);
    this.maxParallelValue = n;
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
    const deps = dependencies.map((depId) => this.nodes.get(depId) ?? this.unknownDependency(id, depId, 'UNKNOWN_DEPENDENCY'));
    const priority = input.priority ?? 0;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) {
      throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": priority must be a finite number`, { nodeId: id });
    }
    const hint = input.expectedDuration;
    if (hint !== undefined && !(typeof hint === 'number' && Number.isFinite(hint) && hint >= 0)) {
      throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": expectedDuration must be a finite number ≥ 0`, { nodeId: id });
    }

    let depth = 0;
    let failedDep: GraphNode | undefined;
    for (const dep of deps) {
      if (dep.depth + 1 > depth) depth = dep.depth + 1;
      if (!failedDep && (dep.state === 'FAILED' || dep.state === 'TIMEOUT' || dep.state === 'CANCELLED')) failedDep = dep;
    }
    if (input.depth !== undefined && input.depth !== depth) {
      throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": depth ${String(input.depth)} given, but its dependencies put it at ${depth}`, { nodeId: id });
    }

    const node = this.insert({
      id, parentId, dependencies, priority, depth, seq: this.nextSeq++, blockKey: input.blockKey, expectedDuration: hint, state: 'PENDING', reason: undefined, rootCause: undefined,
    });

    const out: Transition[] = [{ nodeId: id, from: null, to: 'PENDING' }];
    this.move(node, 'WAITING', undefined, out);
    if (failedDep) {
      this.cancelBecauseOf(node, failedDep, out);
    } else if (node.pendingDeps === 0) {
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

  /**
   * Adds dependencies to a node that has not started (PENDING, WAITING or READY): a gather
   * taking in the samples added to a cohort. The new dependencies are appended in the given
   * order (ones already listed are skipped). Then:
   * - a READY node with a new dependency that has not COMPLETED goes back to WAITING;
   * - a node with a new dependency that ended FAILED, TIMEOUT or CANCELLED is cancelled, with its
   *   dependents (as in {@link addNode});
   * - its depth (and its dependents') grows if a new dependency is deeper;
   * - the node and all its dependents (none has started) move to the end of the insertion order,
   *   keeping their relative order, with new sequence numbers: insertion order stays a
   *   topological order, which continue-as-new ({@link restore}) and critical paths rely on.
   *
   * @returns the transitions and the ids moved to the end, in their new order.
   * @throws SchedulerError `UNKNOWN_NODE`; `ILLEGAL_TRANSITION` when the node is RUNNING or
   *   ended; `UNKNOWN_DEPENDENCY` for an unknown id or the node itself; `INVALID_ARGUMENT` when
   *   a new dependency depends on the node (a cycle). Nothing changes then.
   */
  addDependencies(id: string, dependencies: readonly string[]): { transitions: Transition[]; moved: string[] } {
    const node = this.require(id);
    if (node.state !== 'PENDING' && node.state !== 'WAITING' && node.state !== 'READY') {
      throw new SchedulerError('ILLEGAL_TRANSITION', `node "${id}" is ${node.state}; dependencies can only be added before it starts`, { nodeId: id, from: node.state });
    }
    const fresh: string[] = [];
    for (const d of dependencies) if (!node.dependencies.includes(d) && !fresh.includes(d)) fresh.push(d);
    const deps = fresh.map((d) => (d === id ? this.unknownDependency(id, d, 'UNKNOWN_DEPENDENCY') : this.nodes.get(d) ?? this.unknownDependency(id, d, 'UNKNOWN_DEPENDENCY')));
    // The node and everything downstream of it: a new dependency among them would close a cycle.
    const downstream = new Set<GraphNode>([node]);
    const queue: GraphNode[] = [node];
    for (let i = 0; i < queue.length; i++) {
      for (const dep of (queue[i] as GraphNode).dependents) {
        if (!downstream.has(dep)) {
          downstream.add(dep);
          queue.push(dep);
        }
      }
    }
    for (const dep of deps) {
      if (downstream.has(dep)) throw new SchedulerError('INVALID_ARGUMENT', `node "${id}": adding dependency "${dep.id}" would close a cycle (it depends on "${id}")`, { nodeId: id });
    }

    // ---- from here on nothing throws
    const out: Transition[] = [];
    const moved = [...downstream].sort((a, b) => a.seq - b.seq);
    node.dependencies.push(...fresh);
    let failedDep: GraphNode | undefined;
    for (const dep of deps) {
      dep.dependents.push(node);
      if (dep.state !== 'COMPLETED') node.pendingDeps++;
      if (!failedDep && (dep.state === 'FAILED' || dep.state === 'TIMEOUT' || dep.state === 'CANCELLED')) failedDep = dep;
    }
    // Depths: recomputed in insertion (topological) order over the moved nodes.
    for (const m of moved) {
      let depth = 0;
      for (const d of m.dependencies) depth = Math.max(depth, (this.nodes.get(d) as GraphNode).depth + 1);
      m.depth = Math.max(m.depth, depth);
    }
    // Move to the end with new sequence numbers; reverse edges stay in insertion order.
    const movedSet = new Set(moved);
    const kept = this.order.filter((n) => !movedSet.has(n));
    this.order.length = 0;
    this.order.push(...kept, ...moved);
    for (const m of moved) m.seq = this.nextSeq++;
    for (const m of moved) for (const d of m.dependencies) (this.nodes.get(d) as GraphNode).dependents.sort((a, b) => a.seq - b.seq);
    this.paths.reorder(this.order);

    if (failedDep) {
      if (node.state === 'READY') {
        this.move(node, 'CANCELLED', `dependency "${failedDep.id}" ${failedDep.state}`, out);
        node.rootCause = failedDep.rootCause ?? { id: failedDep.id, state: failedDep.state };
      } else {
        this.cancelBecauseOf(node, failedDep, out);
      }
      this.cascade(node, out);
    } else if (node.state === 'READY' && node.pendingDeps > 0) {
      this.move(node, 'WAITING', 'new dependencies', out);
    }
    // Sequence numbers (and maybe depths) changed: re-heapify, which also drops stale entries,
    // so the heap never holds a node twice when it becomes READY again.
    this.ready.rebuild();
    this.heapKeysStale = false;
    return { transitions: out, moved: moved.map((m) => m.id) };
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
    if (this.strategy === 'critical_path' && this.paths.dirty) this.recomputeCriticalPaths();
    // Rebuild when the keys changed, or when cancelled READY nodes left many stale entries.
    if (this.heapKeysStale || this.ready.length > 2 * this.stateCounts.READY + 64) {
      this.ready.rebuild();
      this.heapKeysStale = false;
    }
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
      if (durationSeconds !== undefined) this.paths.recordDuration(node, durationSeconds);
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

  // ---- queries ------------------------------------------------------------------------------

  /** Duration statistics per block key with at least one recorded run (completed runs only, see {@link finish}), keys sorted. */
  durationStats(): Record<string, DurationStat> {
    return this.paths.durationStats();
  }

  /**
   * Expected seconds of one run of the node, as `critical_path` uses it: its
   * `expectedDuration` hint, else the running mean of completed runs of its block key in this
   * tree, else `DEFAULT_EXPECTED_DURATION` (critical-path.ts).
   * @throws SchedulerError `UNKNOWN_NODE`.
   */
  expectedDurationOf(id: string): number {
    return this.paths.expected(this.require(id));
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
    if (this.paths.dirty) this.recomputeCriticalPaths();
    return node.cp;
  }

  /**
   * The node whose end ended this one, for a node that ended other than COMPLETED: itself when it
   * failed, timed out or was cancelled on its own; the first such node up its dependencies when it
   * was cancelled because of one. Undefined for a node that has not ended or COMPLETED.
   * Carried across continue-as-new (TreeState.carry), so later messages still name it.
   * @throws SchedulerError `UNKNOWN_NODE`.
   */
  rootCauseOf(id: string): { id: string; state: NodeState } | undefined {
    const rc = this.require(id).rootCause;
    return rc ? { id: rc.id, state: rc.state } : undefined;
  }

  // ---- continue-as-new ------------------------------------------------------------------------

  /**
   * Rebuilds a scheduler from the nodes (insertion order, as {@link list} gives them) and
   * duration statistics carried across continue-as-new. It makes the same decisions as the
   * original with the same options: states, sequence numbers, dependency order and statistics
   * are restored as given; indexes and critical paths are recomputed. The nodes are trusted (the
   * workflow carried them itself); every dependency must name an earlier node.
   * @throws SchedulerError `INVALID_ARGUMENT` for bad options or a dependency on a later node.
   */
  static restore(snapshot: SchedulerSnapshot, options: SchedulerOptions): TreeScheduler {
    const s = new TreeScheduler(options);
    for (const rec of snapshot.nodes) {
      for (const d of rec.dependencies) if (!s.nodes.has(d)) s.unknownDependency(rec.id, d, 'INVALID_ARGUMENT');
      const node = s.insert({
        id: rec.id, parentId: rec.parentId ?? null, dependencies: [...rec.dependencies], priority: rec.priority, depth: rec.depth, seq: rec.seq,
        blockKey: rec.blockKey, expectedDuration: rec.expectedDuration, state: rec.state, reason: rec.reason, rootCause: rec.rootCause ? { ...rec.rootCause } : undefined,
      });
      if (node.state === 'READY') s.ready.push(node);
      s.nextSeq = node.seq + 1;
    }
    for (const st of snapshot.stats) s.paths.restoreStat(st.blockKey, st.count, st.total);
    return s;
  }

  /** Recomputes critical paths; the READY heap, ordered by the old values, is then re-heapified before use. */
  private recomputeCriticalPaths(): void {
    this.paths.recompute();
    if (this.strategy === 'critical_path') this.heapKeysStale = true;
  }

  private unknownDependency(id: string, dep: string, code: 'UNKNOWN_DEPENDENCY' | 'INVALID_ARGUMENT'): never {
    const what = dep === id ? 'depends on itself' : code === 'UNKNOWN_DEPENDENCY' ? `depends on unknown node "${dep}"` : `depends on "${dep}", which is not an earlier node`;
    throw new SchedulerError(code, `node "${id}" ${what}`, { nodeId: id });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function checkMaxParallel(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new SchedulerError('INVALID_ARGUMENT', `maxParallel must be an integer ≥ 0, got ${String(n)}`);
}

