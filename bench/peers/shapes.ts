/**
 * The three workloads of the peers benchmark (bench/peers.ts) and the checks every run of every
 * engine must pass before its figures count: every task ran exactly once, no task started before
 * its parent ended, and never more tasks ran at once than the workload's slots.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { maxConcurrency } from '../../test/helpers/harness';
import { bestSchedule, REFERENCE_TREE } from '../schedule-quality';

/** A task of a workload: id, parent (null for the root), seconds of sleep. Parents come first. */
export interface ShapeNode { id: string; parent: string | null; seconds: number }

/**
 * A task's interval in epoch ms, taken by the task itself (or, for ragomics, by the node's
 * attempt), and the pid of the process it ran in (peers only: ragomics' timeline has none).
 */
export interface Interval { start: number; end: number; pid?: number }

/** Which workload: the ten-task chain, the reference tree, the fan. */
export type WorkloadKey = 'chain' | 'tree' | 'fan';

/** One workload: its tasks and the slots every engine gets for it. */
export interface Workload { key: WorkloadKey; nodes: ShapeNode[]; slots: number }

/** Seconds per unit of the reference tree (BENCHMARKS.md section 2: durations scaled ×0.1). */
export const TREE_SCALE = 0.1;
/** Slots of the reference tree (section 2). */
export const TREE_SLOTS = 3;

/** The best `TREE_SLOTS`-slot makespan of the scaled reference tree in seconds (computed, not copied). */
export const bestTreeSeconds = (): number => bestSchedule(REFERENCE_TREE, TREE_SLOTS).makespan * TREE_SCALE;

/**
 * The workloads: `chainLength` sequential tasks of `chainSeconds` at 1 slot; the reference tree at
 * 3 slots; a fan of `fanSize` no-op tasks (one root, the rest its children) at `fanSlots`.
 */
export function workloads(chainLength = 10, chainSeconds = 0.5, fanSize = 200, fanSlots = 10): Workload[] {
  return [
    { key: 'chain', slots: 1, nodes: Array.from({ length: chainLength }, (_, i) => ({ id: `c${i}`, parent: i ? `c${i - 1}` : null, seconds: chainSeconds })) },
    { key: 'tree', slots: TREE_SLOTS, nodes: REFERENCE_TREE.map((n) => ({ id: n.id, parent: n.parent, seconds: Number((n.units * TREE_SCALE).toFixed(3)) })) },
    { key: 'fan', slots: fanSlots, nodes: [{ id: 'root', parent: null, seconds: 0 }, ...Array.from({ length: fanSize - 1 }, (_, i) => ({ id: `f${i}`, parent: 'root', seconds: 0 }))] },
  ];
}

/**
 * Reads the intervals the tasks wrote (bench/peers/task.py: one `<id>.t` file per task holding
 * `<id> <start ms> <end ms> <pid>`) from `dir`.
 * @throws Error naming the file when one is malformed, or holds more than one line (the task ran
 *   more than once).
 */
export function readTaskFiles(dir: string): Map<string, Interval> {
  const out = new Map<string, Interval>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.t'))) {
    const lines = readFileSync(path.join(dir, f), 'utf8').trim().split('\n');
    // task.py appends: a task the engine ran more than once left a line per run.
    if (lines.length > 1) throw new Error(`${path.join(dir, f)}: task ${f.slice(0, -2)} ran ${lines.length} times`);
    const [id, start, end, pid] = (lines[0] ?? '').split(/\s+/);
    if (!id || `${id}.t` !== f || ![start, end, pid].every((x) => x !== undefined && Number.isFinite(Number(x)))) throw new Error(`${path.join(dir, f)}: not "<id> <start ms> <end ms> <pid>" of task ${f.slice(0, -2)}`);
    out.set(id, { start: Number(start), end: Number(end), pid: Number(pid) });
  }
  return out;
}

/**
 * Checks one run of `engine` on `w`: one interval per task and no other, each child started at
 * or after its parent's end (1 ms of slack: ragomics' timestamps are whole milliseconds), at most
 * `w.slots` tasks at once. Returns the intervals in the workload's order.
 * @throws Error naming the engine, the workload and what is wrong.
 */
export function verifyRun(engine: string, w: Workload, intervals: Map<string, Interval>): Interval[] {
  const where = `${engine}, ${w.key}`;
  const missing = w.nodes.filter((n) => !intervals.has(n.id)).map((n) => n.id);
  if (missing.length) throw new Error(`${where}: ${missing.length} of ${w.nodes.length} task(s) did not run (${missing.slice(0, 5).join(', ')})`);
  if (intervals.size !== w.nodes.length) throw new Error(`${where}: ${intervals.size} task intervals for ${w.nodes.length} tasks`);
  for (const n of w.nodes) {
    const iv = intervals.get(n.id)!;
    if (!(iv.end >= iv.start)) throw new Error(`${where}: task ${n.id} ended before it started`);
    if (iv.end - iv.start < n.seconds * 1000 - 1) throw new Error(`${where}: task ${n.id} ran ${iv.end - iv.start} ms, shorter than its ${n.seconds} s sleep`);
    if (n.parent && iv.start < intervals.get(n.parent)!.end - 1) throw new Error(`${where}: task ${n.id} started ${(intervals.get(n.parent)!.end - iv.start).toFixed(1)} ms before its parent ${n.parent} ended`);
  }
  const ordered = w.nodes.map((n) => intervals.get(n.id)!);
  // The same 1 ms of slack: a child stamped a rounding error before its parent's end is not a second slot.
  const most = maxConcurrency(ordered.map((x) => ({ start: x.start, end: Math.max(x.start, x.end - 1) })));
  if (most > w.slots) throw new Error(`${where}: ${most} tasks ran at once on ${w.slots} slot(s)`);
  return ordered;
}

/** First start to last end, in ms. */
export const makespanMs = (iv: Interval[]): number => Math.max(...iv.map((x) => x.end)) - Math.min(...iv.map((x) => x.start));

/** A chain's handoffs: each task's start minus its predecessor's end, in ms. */
export const handoffsMs = (iv: Interval[]): number[] => iv.slice(1).map((x, i) => x.start - iv[i]!.end);

/** How many processes the tasks ran in (from their pids), or null when the intervals carry none. */
export const processCount = (iv: Interval[]): number | null => (iv.every((x) => x.pid !== undefined) ? new Set(iv.map((x) => x.pid)).size : null);
