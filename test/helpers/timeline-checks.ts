/**
 * Checks run on a finished tree's timeline and status: dependency order, concurrency, and idle
 * slots while work was READY. Shared by the scheduling tests and the load benchmark.
 */
import type { TimelineEntry, TreeStatus } from '../../workflows/views';

/** A small deterministic PRNG (mulberry32) so random DAG tests are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Intervals of the last attempt of every node that ran, by node id. */
export function runIntervals(entries: readonly TimelineEntry[]): Map<string, { start: number; end: number }> {
  const out = new Map<string, { start: number; end: number }>();
  for (const e of entries) if (e.started && e.ended) out.set(e.node, { start: Date.parse(e.started), end: Date.parse(e.ended) });
  return out;
}

/** Nodes that started before one of their dependencies ended (must be empty). */
export function dependencyViolations(nodes: ReadonlyArray<{ id: string; dependencies: readonly string[] }>, intervals: Map<string, { start: number; end: number }>): string[] {
  const bad: string[] = [];
  for (const n of nodes) {
    const me = intervals.get(n.id);
    if (!me) continue;
    for (const d of n.dependencies) {
      const dep = intervals.get(d);
      if (!dep || me.start < dep.end) bad.push(`${n.id} started before ${d} ended`);
    }
  }
  return bad;
}

/**
 * Idle-slot gaps: stretches of time when fewer than `slots` nodes ran while some node was READY
 * (its READY transition passed and it had not started). Returns every gap length in ms.
 */
export function idleSlotGaps(status: TreeStatus, intervals: Map<string, { start: number; end: number }>, slots: number): number[] {
  type Ev = { t: number; run: number; ready: number };
  const evs: Ev[] = [];
  for (const n of status.nodes) {
    const iv = intervals.get(n.id);
    const readyAt = n.transitions?.find((x) => x.state === 'READY');
    if (!iv) continue;
    evs.push({ t: iv.start, run: 1, ready: 0 }, { t: iv.end, run: -1, ready: 0 });
    if (readyAt) {
      const r = Date.parse(readyAt.at);
      if (r < iv.start) evs.push({ t: r, run: 0, ready: 1 }, { t: iv.start, run: 0, ready: -1 });
    }
  }
  evs.sort((a, b) => a.t - b.t);
  const gaps: number[] = [];
  let running = 0, ready = 0, gapStart: number | null = null;
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i]!;
    running += e.run;
    ready += e.ready;
    const next = evs[i + 1];
    if (next && next.t === e.t) continue; // apply every event at the same instant first
    const idle = running < slots && ready > 0;
    if (idle && gapStart === null) gapStart = e.t;
    if (!idle && gapStart !== null) {
      gaps.push(e.t - gapStart);
      gapStart = null;
    }
  }
  return gaps;
}

/** Median of numbers (0 for none). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** p-th percentile (0..100) of numbers (0 for none). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
