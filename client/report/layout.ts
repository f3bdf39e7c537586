/**
 * A tidy left-to-right layout of the tree for the report's graph: depth along x, leaves on
 * successive rows, each parent centred on its children. Extra dependencies (beyond the parent)
 * are drawn as dashed edges over this parent tree. Several roots stack vertically.
 */

/** Input of the layout: one node and its parent. */
export interface LayoutNode {
  id: string;
  parentId: string | null;
}

/** Position of a node, in abstract units (column, row). */
export interface Placed {
  id: string;
  col: number;
  row: number;
}

/** Places every node; nodes whose parent is unknown are treated as roots. Iterative (deep trees). */
export function layoutTree(nodes: readonly LayoutNode[]): { placed: Map<string, Placed>; rows: number; cols: number } {
  const ids = new Set(nodes.map((n) => n.id));
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  for (const n of nodes) {
    if (n.parentId && ids.has(n.parentId) && n.parentId !== n.id) {
      if (!children.has(n.parentId)) children.set(n.parentId, []);
      (children.get(n.parentId) as string[]).push(n.id);
    } else {
      roots.push(n.id);
    }
  }
  const placed = new Map<string, Placed>();
  let nextRow = 0;
  let cols = 0;
  // Post-order walk with an explicit stack: leaves take the next row, parents the mean of their children.
  for (const root of roots) {
    const stack: { id: string; depth: number; visited: boolean }[] = [{ id: root, depth: 0, visited: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { id: string; depth: number; visited: boolean };
      const kids = (children.get(top.id) ?? []).filter((k) => !placed.has(k));
      if (!top.visited && kids.length > 0) {
        top.visited = true;
        for (let i = kids.length - 1; i >= 0; i--) stack.push({ id: kids[i] as string, depth: top.depth + 1, visited: false });
        continue;
      }
      stack.pop();
      if (placed.has(top.id)) continue;
      const placedKids = (children.get(top.id) ?? []).map((k) => placed.get(k)).filter((p): p is Placed => p !== undefined);
      const row = placedKids.length > 0 ? (Math.min(...placedKids.map((p) => p.row)) + Math.max(...placedKids.map((p) => p.row))) / 2 : nextRow++;
      placed.set(top.id, { id: top.id, col: top.depth, row });
      cols = Math.max(cols, top.depth + 1);
    }
  }
  // Anything left (a parent cycle cannot happen in a valid tree, but never drop a node).
  for (const n of nodes) if (!placed.has(n.id)) placed.set(n.id, { id: n.id, col: 0, row: nextRow++ });
  return { placed, rows: Math.max(1, nextRow), cols: Math.max(1, cols) };
}
