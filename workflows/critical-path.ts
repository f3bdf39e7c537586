/**
 * Durations and critical paths for the `critical_path` strategy: the running mean of completed
 * runs per block key, each node's expected duration, and each not-ended node's remaining critical
 * path (its expected duration plus the longest chain through its not-ended dependents),
 * recomputed lazily. Pure and sandbox-safe.
 */
import type { NodeState } from '../common/schemas';
import { isTerminal } from './node-states';

/** Default duration assumed for `critical_path` when a node has no hint and its block key no history. */
export const DEFAULT_EXPECTED_DURATION = 1;

/** Running mean of completed run durations of one block key. */
export interface DurationStat {
  /** Completed runs that reported a duration. */
  count: number;
  /** Sum of their durations, in seconds. */
  total: number;
  /** `total / count`, in seconds. */
  mean: number;
}

/** Completed-run durations of one block key; `count` is 0 until the first is recorded. */
export interface BlockStat {
  count: number;
  total: number;
  /**
   * Non-ended nodes of this key without an `expectedDuration` hint: the only nodes whose
   * expected duration a new mean changes. While it is 0, recording a duration leaves every
   * critical path as it was, so nothing is recomputed (e.g. the tree's single QC node).
   */
  liveUsers: number;
}

/** What the critical-path computation reads and writes on a node. */
export interface PathNode {
  state: NodeState;
  expectedDuration: number | undefined;
  /** The statistics of its block key, shared by all nodes with that key (no lookups in hot loops). */
  stat: BlockStat;
  /** Reverse edges, in insertion order. */
  dependents: PathNode[];
  /** Remaining critical path in seconds; valid only while {@link CriticalPaths.dirty} is false. */
  cp: number;
}

/** Duration statistics and critical paths of one tree's nodes. */
export class CriticalPaths {
  /** Per block key, including keys with no recorded run yet (count 0). */
  private readonly stats = new Map<string, BlockStat>();
  /** Non-terminal nodes in insertion order, pruned lazily; what recomputation walks. */
  private active: PathNode[] = [];
  /** Critical-path values are stale: the graph, the active set or the statistics changed. */
  dirty = true;

  /** The shared statistics object of a block key, created empty on first use. */
  statFor(blockKey: string): BlockStat {
    let stat = this.stats.get(blockKey);
    if (!stat) {
      stat = { count: 0, total: 0, liveUsers: 0 };
      this.stats.set(blockKey, stat);
    }
    return stat;
  }

  /** Starts tracking a node that has not ended (added, or restored after continue-as-new). */
  track(node: PathNode): void {
    this.active.push(node);
    if (node.expectedDuration === undefined) node.stat.liveUsers++;
    this.dirty = true;
  }

  /** Replaces the tracked nodes after the insertion order changed (`TreeScheduler.addDependencies`). */
  reorder(nodes: readonly PathNode[]): void {
    this.active = nodes.filter((n) => !isTerminal(n.state));
    this.dirty = true;
  }

  /** Notes that a node ended in `to`. */
  ended(node: PathNode, to: NodeState): void {
    if (node.expectedDuration === undefined) node.stat.liveUsers--;
    // Ended nodes no longer lengthen anyone's critical path; COMPLETED ones never did (their
    // ancestors have all completed), so only unsuccessful endings make the values stale.
    if (to !== 'COMPLETED') this.dirty = true;
  }

  /** Feeds a completed run's duration into its block key's mean. */
  recordDuration(node: PathNode, seconds: number): void {
    node.stat.count++;
    node.stat.total += seconds;
    if (node.stat.liveUsers > 0) this.dirty = true;
  }

  /** The node's `expectedDuration` hint, else its block key's mean, else {@link DEFAULT_EXPECTED_DURATION}. */
  expected(node: PathNode): number {
    if (node.expectedDuration !== undefined) return node.expectedDuration;
    const s = node.stat;
    return s.count > 0 ? s.total / s.count : DEFAULT_EXPECTED_DURATION;
  }

  /**
   * Recomputes the remaining critical path of every non-ended node, in reverse insertion order
   * (dependents always come after their dependencies), and prunes ended nodes from the active
   * list so later recomputations only walk what is left. O(active + their edges).
   */
  recompute(): void {
    const active = this.active.filter((n) => !isTerminal(n.state));
    this.active = active;
    for (let i = active.length - 1; i >= 0; i--) {
      const node = active[i] as PathNode;
      let longest = 0;
      for (const dep of node.dependents) {
        if (!isTerminal(dep.state) && dep.cp > longest) longest = dep.cp;
      }
      node.cp = this.expected(node) + longest;
    }
    this.dirty = false;
  }

  /** Statistics per block key with at least one recorded run, keys sorted (output never depends on history). */
  durationStats(): Record<string, DurationStat> {
    const entries: Array<[string, DurationStat]> = [];
    for (const [key, s] of [...this.stats].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (s.count > 0) entries.push([key, { count: s.count, total: s.total, mean: s.total / s.count }]);
    }
    // fromEntries defines own properties, so a block key such as "__proto__" is harmless.
    return Object.fromEntries(entries);
  }

  /** Sets the recorded statistics of a block key (after continue-as-new). */
  restoreStat(blockKey: string, count: number, total: number): void {
    // Mutate the shared object: nodes restored before already point at it.
    const stat = this.statFor(blockKey);
    stat.count = count;
    stat.total = total;
    this.dirty = true;
  }
}
