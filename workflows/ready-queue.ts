/**
 * The READY queue: a binary heap under the strict total order of the tree's strategy. Pure and
 * sandbox-safe.
 */
import type { NodeState, PriorityStrategy } from '../common/schemas';

/** What the queue orders by. `cp` is the remaining critical path (only `critical_path` reads it). */
export interface Queued {
  state: NodeState;
  priority: number;
  depth: number;
  seq: number;
  cp: number;
}

/**
 * The strict total order of the READY queue, true when `a` should start before `b`: higher
 * `priority` first (when `usePriority`); then the strategy (`depth_first` deeper first,
 * `breadth_first` shallower first, `critical_path` longer remaining critical path first, `fifo`
 * no preference); then insertion order (`seq`), so no two nodes ever tie.
 */
export function readyOrder(strategy: PriorityStrategy, usePriority: boolean): (a: Queued, b: Queued) => boolean {
  // One specialised closure per strategy: the heap calls this millions of times in big trees.
  const byStrategy = ((): ((a: Queued, b: Queued) => boolean) => {
    switch (strategy) {
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
  if (!usePriority) return byStrategy;
  return (a, b) => (a.priority !== b.priority ? a.priority > b.priority : byStrategy(a, b));
}

/**
 * Binary heap of READY nodes under a strict total order. Entries of nodes that left READY
 * without being popped (only possible by cancellation, which is terminal) are skipped lazily,
 * so cancelling a READY node is O(1) and the heap never holds a node twice.
 */
export class ReadyHeap<N extends Queued> {
  private items: N[] = [];

  /** @param before the strict total order: true when `a` starts before `b` (see {@link readyOrder}). */
  constructor(private readonly before: (a: N, b: N) => boolean) {}

  /** Entries, live and stale. */
  get length(): number {
    return this.items.length;
  }

  /** Adds a node that just became READY. O(log n). */
  push(node: N): void {
    const items = this.items;
    items.push(node);
    let i = items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as N;
      if (!this.before(node, parent)) break;
      items[i] = parent;
      i = p;
    }
    items[i] = node;
  }

  /** Removes and returns the first live READY node, or undefined. */
  popReady(): N | undefined {
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

  private popAny(): N {
    const items = this.items;
    const top = items[0] as N;
    const last = items.pop() as N;
    if (items.length > 0) {
      items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(start: number): void {
    const items = this.items;
    const n = items.length;
    const node = items[start] as N;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(items[r] as N, items[l] as N)) c = r;
      const child = items[c] as N;
      if (!this.before(child, node)) break;
      items[i] = child;
      i = c;
    }
    items[i] = node;
  }
}
