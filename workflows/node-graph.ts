/**
 * The node graph under the state machine: nodes in insertion order, their dependency edges and
 * states, the only place a state changes ({@link NodeGraph.move}, checked against
 * `ALLOWED_TRANSITIONS`), and cascade cancellation. `TreeScheduler` (scheduler.ts) builds on it
 * with the READY queue and dispatch. Pure and sandbox-safe.
 */
import type { NodeState } from '../common/schemas';
import type { ExistingTree } from '../common/tree-validation';
import { CriticalPaths, type BlockStat } from './critical-path';
import { SchedulerError, isAllowedTransition, isTerminal, zeroCounts, type Transition } from './node-states';
import type { SchedulerNode } from './scheduler-types';

/** The scheduler's own record of a node (never handed out: {@link NodeGraph.list} copies). */
export interface GraphNode {
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
  dependents: GraphNode[];
  /** Nodes whose parentId is this node (for `maxChildrenPerNode` checks via {@link ExistingTree}). */
  childCount: number;
  /** Remaining critical path in seconds (see critical-path.ts). */
  cp: number;
  stat: BlockStat;
}

/** Nodes, edges and states of one tree; implements {@link ExistingTree} for `validateAdditions`. */
export class NodeGraph implements ExistingTree {
  protected readonly nodes = new Map<string, GraphNode>();
  /** Every node in insertion (= topological) order. */
  protected readonly order: GraphNode[] = [];
  protected readonly stateCounts = zeroCounts();
  protected readonly paths = new CriticalPaths();

  /**
   * Links a node into the graph after its dependencies (which must all be present) and counts
   * its state; the caller moves it on. Its indexes (pending dependencies, dependents, children)
   * are derived here, so adding and rebuilding after continue-as-new share one path.
   */
  protected insert(fields: Omit<GraphNode, 'pendingDeps' | 'dependents' | 'childCount' | 'cp' | 'stat'>): GraphNode {
    const deps = fields.dependencies.map((d) => this.nodes.get(d) as GraphNode);
    const node: GraphNode = {
      ...fields, pendingDeps: deps.filter((d) => d.state !== 'COMPLETED').length, dependents: [], childCount: 0, cp: 0, stat: this.paths.statFor(fields.blockKey),
    };
    this.nodes.set(node.id, node);
    this.order.push(node);
    if (!isTerminal(node.state)) this.paths.track(node);
    this.stateCounts[node.state]++;
    for (const dep of deps) dep.dependents.push(node);
    if (node.parentId !== null) (this.nodes.get(node.parentId) as GraphNode).childCount++;
    return node;
  }

  /** Copies of all nodes, in insertion order. O(n); meant for status queries, not hot paths. */
  list(): SchedulerNode[] {
    return this.order.map(toPublic);
  }

  /** Number of nodes in each of the eight states (all keys present). */
  counts(): Record<NodeState, number> {
    return { ...this.stateCounts };
  }

  /** True when nothing is PENDING, WAITING, READY or RUNNING: the tree has nothing left to do. */
  isQuiescent(): boolean {
    const c = this.stateCounts;
    return c.PENDING + c.WAITING + c.READY + c.RUNNING === 0;
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

  protected require(id: string): GraphNode {
    const node = this.nodes.get(id);
    if (!node) throw new SchedulerError('UNKNOWN_NODE', `unknown node "${id}"`, { nodeId: id });
    return node;
  }

  protected illegal(node: GraphNode, to: NodeState): never {
    throw new SchedulerError('ILLEGAL_TRANSITION', `node "${node.id}": illegal transition ${node.state} -> ${to}`, {
      nodeId: node.id,
      from: node.state,
      to,
    });
  }

  /** The only place a node's state changes: checked against ALLOWED_TRANSITIONS and counted. */
  protected move(node: GraphNode, to: NodeState, reason: string | undefined, out: Transition[]): void {
    const from = node.state;
    if (!isAllowedTransition(from, to)) this.illegal(node, to);
    this.stateCounts[from]--;
    this.stateCounts[to]++;
    node.state = to;
    node.reason = reason;
    if (isTerminal(to)) this.paths.ended(node, to);
    out.push(reason === undefined ? { nodeId: node.id, from, to } : { nodeId: node.id, from, to, reason });
  }

  /** Cancels `node` (WAITING or PENDING) because `cause` ended unsuccessfully. */
  protected cancelBecauseOf(node: GraphNode, cause: GraphNode, out: Transition[]): void {
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
  protected cascade(origin: GraphNode, out: Transition[]): void {
    const queue: GraphNode[] = [origin];
    for (let i = 0; i < queue.length; i++) {
      const cause = queue[i] as GraphNode;
      for (const dep of cause.dependents) {
        if (isTerminal(dep.state)) continue;
        this.cancelBecauseOf(dep, cause, out);
        queue.push(dep);
      }
    }
  }
}

/** The parent first when not listed, then the listed dependencies, without duplicates. */
export function normalizeDependencies(parentId: string | null, dependencies: readonly string[]): string[] {
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

function toPublic(node: GraphNode): SchedulerNode {
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