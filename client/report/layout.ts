/**
 * A tidy left-to-right layout of the tree for the report's graph: a node's column is the longest
 * path to it over all its dependencies (so every edge points right), leaves of the parent tree
 * take successive rows, each parent is centred on its children. Several roots stack vertically.
 *
 * Cohorts (issue 12): each sample's chain of nodes is one lane (one row per leaf of its subtree,
 * in sheet order), and a gather (a root with `inputs`) is centred on the rows of its inputs, so
 * its fan-in converges from both sides instead of reaching back from the bottom. If that place
 * is taken (another node within one row in a column the gather's subtree uses), the gather's
 * subtree goes below everything instead. Two nodes of one column are never less than one row
 * apart: that is what keeps boxes from overlapping.
 */

/** Input of the layout: one node, its parent, and optionally its other dependencies and inputs. */
export interface LayoutNode {
  id: string;
  parentId: string | null;
  /** Every node this one waits for (parent included or not); places the node right of them all. */
  dependencies?: readonly string[];
  /** A multi-input node's inputs: a root with inputs is centred on them (see the module comment). */
  inputs?: readonly string[];
}

/** Position of a node, in abstract units (column, row). */
export interface Placed {
  id: string;
  col: number;
  row: number;
}

/** Result of {@link layoutTree}: positions, and the extent (`rows` = largest row + 1). */
export interface Layout {
  placed: Map<string, Placed>;
  rows: number;
  cols: number;
}

/** Places every node; nodes whose parent is unknown are treated as roots. Iterative (deep trees). */
export function layoutTree(nodes: readonly LayoutNode[]): Layout {
  const ids = new Set(nodes.map((n) => n.id));
  const children = new Map<string, string[]>();
  const roots: LayoutNode[] = [];
  for (const n of nodes) {
    if (n.parentId && ids.has(n.parentId) && n.parentId !== n.id) {
      if (!children.has(n.parentId)) children.set(n.parentId, []);
      (children.get(n.parentId) as string[]).push(n.id);
    } else {
      roots.push(n);
    }
  }
  const col = columns(nodes, ids);
  const placed = new Map<string, Placed>();
  let nextRow = 0;

  /** Tidy placement of one subtree with leaves from row `first`; returns its nodes. */
  const placeSubtree = (root: string, first: number, into: Map<string, Placed>): Placed[] => {
    let row0 = first;
    const out: Placed[] = [];
    // Post-order walk with an explicit stack: leaves take the next row, parents the mean of their children.
    const stack: { id: string; visited: boolean }[] = [{ id: root, visited: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { id: string; visited: boolean };
      const kids = (children.get(top.id) ?? []).filter((k) => !into.has(k));
      if (!top.visited && kids.length > 0) {
        top.visited = true;
        for (let i = kids.length - 1; i >= 0; i--) stack.push({ id: kids[i] as string, visited: false });
        continue;
      }
      stack.pop();
      if (into.has(top.id)) continue;
      const placedKids = (children.get(top.id) ?? []).map((k) => into.get(k)).filter((p): p is Placed => p !== undefined);
      const row = placedKids.length > 0 ? (Math.min(...placedKids.map((p) => p.row)) + Math.max(...placedKids.map((p) => p.row))) / 2 : row0++;
      const p = { id: top.id, col: col.get(top.id) ?? 0, row };
      into.set(top.id, p);
      out.push(p);
    }
    return out;
  };

  // Ordinary roots first (sample lanes in node order, i.e. sheet order), gathers after.
  const gathers = roots.filter((r) => (r.inputs?.length ?? 0) > 0);
  for (const r of roots) {
    if ((r.inputs?.length ?? 0) > 0) continue;
    const subtree = placeSubtree(r.id, nextRow, placed);
    for (const p of subtree) nextRow = Math.max(nextRow, Math.floor(p.row) + 1);
  }
  if (gathers.length > 0) {
    const occupied = new ColumnIndex(placed.values());
    for (const g of gathers) {
      const scratch = new Map<string, Placed>(placed);
      const subtree = placeSubtree(g.id, 0, scratch);
      const rootRow = scratch.get(g.id)?.row ?? 0;
      const inputRows = (g.inputs ?? []).map((i) => placed.get(i)?.row).filter((r): r is number => r !== undefined);
      let offset = nextRow;
      if (inputRows.length > 0) {
        const centred = (Math.min(...inputRows) + Math.max(...inputRows)) / 2 - rootRow;
        if (centred >= 0 && subtree.every((p) => occupied.free(p.col, p.row + centred))) offset = centred;
      }
      for (const p of subtree) {
        const q = { id: p.id, col: p.col, row: p.row + offset };
        placed.set(p.id, q);
        occupied.add(q.col, q.row);
        nextRow = Math.max(nextRow, Math.floor(q.row) + 1);
      }
    }
  }
  // Anything left (a parent cycle cannot happen in a valid tree, but never drop a node).
  for (const n of nodes) if (!placed.has(n.id)) placed.set(n.id, { id: n.id, col: 0, row: nextRow++ });
  let maxRow = 0, cols = 0;
  for (const p of placed.values()) {
    maxRow = Math.max(maxRow, p.row);
    cols = Math.max(cols, p.col + 1);
  }
  return { placed, rows: Math.max(1, maxRow + 1), cols: Math.max(1, cols) };
}

/**
 * Column of every node: the longest path to it over its parent, dependencies and inputs
 * (Kahn's algorithm, linear). Nodes on a cycle (never in a valid tree) stay in column 0.
 */
function columns(nodes: readonly LayoutNode[], ids: ReadonlySet<string>): Map<string, number> {
  const preds = new Map<string, string[]>();
  const succs = new Map<string, string[]>();
  const indegree = new Map<string, number>();
  for (const n of nodes) {
    const p = [...new Set([...(n.parentId ? [n.parentId] : []), ...(n.dependencies ?? []), ...(n.inputs ?? [])])].filter((d) => ids.has(d) && d !== n.id);
    preds.set(n.id, p);
    indegree.set(n.id, p.length);
    for (const d of p) {
      if (!succs.has(d)) succs.set(d, []);
      (succs.get(d) as string[]).push(n.id);
    }
  }
  const col = new Map<string, number>();
  const queue = nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i] as string;
    let c = 0;
    for (const d of preds.get(id) ?? []) c = Math.max(c, (col.get(d) ?? 0) + 1);
    col.set(id, c);
    for (const s of succs.get(id) ?? []) {
      const left = (indegree.get(s) ?? 1) - 1;
      indegree.set(s, left);
      if (left === 0) queue.push(s);
    }
  }
  return col;
}

/** Rows taken per column, to ask whether a place keeps one row from every other node. */
class ColumnIndex {
  private readonly rows = new Map<number, number[]>();

  constructor(placed: Iterable<Placed>) {
    for (const p of placed) this.add(p.col, p.row);
  }

  add(col: number, row: number): void {
    const list = this.rows.get(col) ?? [];
    // Sorted insert (binary search), so `free` stays logarithmic.
    list.splice(this.lowerBound(list, row), 0, row);
    this.rows.set(col, list);
  }

  /** True when no node of `col` is less than one row from `row`. */
  free(col: number, row: number): boolean {
    const list = this.rows.get(col);
    if (!list) return true;
    const i = this.lowerBound(list, row);
    const above = list[i - 1], below = list[i];
    return (above === undefined || row - above >= 1) && (below === undefined || below - row >= 1);
  }

  private lowerBound(list: readonly number[], v: number): number {
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((list[mid] as number) < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
