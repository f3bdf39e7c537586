/**
 * Live progress of a tree for `run` and `watch`. On a terminal the view is redrawn in place
 * (one line per node with its state and elapsed time, the counts and a progress bar); elsewhere
 * (pipes, CI logs) one plain line is printed per node change, so logs stay readable. A node the
 * tree dispatched but no worker started yet is shown as waiting for a worker slot, and the
 * summary says how many nodes waited so (the worker's cap was below what the tree asked for).
 */
import type { Writable } from 'node:stream';
import type { LiveNodeStatus, LiveTreeStatus } from '../slot-wait';
import { cell, formatDuration, nodeElapsed, shortWait } from './status-view';

/** What `run` and `watch` feed the renderer. */
export interface ProgressRenderer {
  update(status: LiveTreeStatus): void;
  /** Draws the last view, stops the redraw timer and prints the summary. */
  finish(status: LiveTreeStatus): void;
}

const ICON: Record<string, string> = {
  PENDING: '·', WAITING: '·', READY: '○', RUNNING: '▶', COMPLETED: '✔', FAILED: '✖', TIMEOUT: '⌛', CANCELLED: '⊘',
};
const ENDED = new Set(['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED']);

/** Creates the renderer for `out`: redrawn when `tty`, plain lines otherwise. */
export function createProgress(out: Writable & { columns?: number; rows?: number }, tty: boolean): ProgressRenderer {
  return tty ? new TtyProgress(out) : new PlainProgress(out);
}

/** Counts line and bar shared by both renderers. */
export function countsLine(s: LiveTreeStatus): string {
  const c = s.counts;
  const slot = s.waitingForWorkerSlot ? ` (${s.waitingForWorkerSlot} waiting for a worker slot)` : '';
  return `${c.COMPLETED}/${s.totalNodes} completed · ${c.RUNNING} running${slot} · ${c.READY} ready · ${c.PENDING + c.WAITING} waiting · ${c.FAILED + c.TIMEOUT} failed · ${c.CANCELLED} cancelled`;
}

/** `[████░░░░] 50%` over ended nodes. */
export function progressBar(s: LiveTreeStatus, width = 30): string {
  const ended = s.counts.COMPLETED + s.counts.FAILED + s.counts.TIMEOUT + s.counts.CANCELLED;
  const frac = s.totalNodes > 0 ? ended / s.totalNodes : 0;
  const full = Math.round(frac * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${Math.round(frac * 100)}%`;
}

/** Final summary lines: state, makespan, each failure, and the nodes that waited for a worker slot. */
export function summaryLines(s: LiveTreeStatus, slotWaits?: SlotWaitLog): string[] {
  const lines = [`tree ${s.treeId} ${s.state}: ${countsLine(s)}; makespan ${formatDuration(s.metrics.makespan)}`];
  for (const n of s.nodes) {
    if (n.state === 'FAILED' || n.state === 'TIMEOUT' || n.state === 'CANCELLED') lines.push(`  ${n.id} ${n.state}${n.error ? `: ${n.error.split('\n')[0]}` : ''}`);
  }
  const waited = slotWaits?.line(s.maxParallelJobs);
  if (waited) lines.push(waited);
  return lines;
}

/**
 * Remembers which nodes were seen waiting for a worker slot and for how long (between the first
 * and the last status that showed them waiting, so at the resolution of the polls).
 */
export class SlotWaitLog {
  private readonly seen = new Map<string, { first: number; last: number; taskQueue: string }>();

  /** Records the waiting nodes of one status read at `now`. */
  observe(s: LiveTreeStatus, now = Date.now()): void {
    for (const n of s.nodes) {
      if (n.waitingFor?.kind !== 'worker-slot') continue;
      const w = this.seen.get(n.id);
      if (w) w.last = now;
      else this.seen.set(n.id, { first: now, last: now, taskQueue: n.waitingFor.taskQueue });
    }
  }

  /** One summary line, or null when no node was seen waiting. */
  line(maxParallelJobs: number): string | null {
    if (this.seen.size === 0) return null;
    const all = [...this.seen.values()];
    const longest = Math.max(...all.map((w) => w.last - w.first)) / 1000;
    const queues = [...new Set(all.map((w) => `"${w.taskQueue}"`))].join(', ');
    return `  ${this.seen.size} node(s) were seen waiting for a worker slot (longest seen ${formatDuration(longest)}): the workers on task queue ${queues} had fewer free slots than this tree's maxParallelJobs ${maxParallelJobs}; raise RAGOMICS_MAX_CONCURRENT_NODES or add workers`;
  }
}

class PlainProgress implements ProgressRenderer {
  private last = new Map<string, string>();
  private readonly t0 = Date.now();
  private readonly slotWaits = new SlotWaitLog();
  constructor(private readonly out: Writable) {}

  update(s: LiveTreeStatus): void {
    this.slotWaits.observe(s);
    if (this.last.size === 0) this.out.write(`tree ${s.treeId}: ${s.totalNodes} node(s), maxParallelJobs ${s.maxParallelJobs}\n`);
    for (const n of s.nodes) {
      const key = `${n.state}|${n.attempts}|${n.waitingFor?.kind ?? ''}`;
      const before = this.last.get(n.id);
      if (before === key) continue;
      this.last.set(n.id, key);
      // A node that was waiting and now runs: say that it started, else the line repeats "RUNNING".
      const started = n.state === 'RUNNING' && !n.waitingFor && before !== undefined && before.startsWith('RUNNING|') && !before.endsWith('|');
      this.out.write(`${stamp(Date.now() - this.t0)} ${n.id} ${n.state}${started ? ' (started)' : detail(n)}  [${s.counts.COMPLETED}/${s.totalNodes} completed]\n`);
    }
  }

  finish(s: LiveTreeStatus): void {
    this.update(s);
    for (const line of summaryLines(s, this.slotWaits)) this.out.write(`${line}\n`);
  }
}

class TtyProgress implements ProgressRenderer {
  private drawn = 0;
  private latest: LiveTreeStatus | null = null;
  private readonly slotWaits = new SlotWaitLog();
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = Date.now();
  constructor(private readonly out: Writable & { columns?: number; rows?: number }) {
    // Redraw every second so elapsed times move even when nothing changes.
    this.timer = setInterval(() => this.latest && this.draw(this.latest), 1000);
    this.timer.unref();
  }

  update(s: LiveTreeStatus): void {
    this.latest = s;
    this.slotWaits.observe(s);
    this.draw(s);
  }

  finish(s: LiveTreeStatus): void {
    clearInterval(this.timer);
    this.draw(s);
    for (const line of summaryLines(s, this.slotWaits)) this.out.write(`${line}\n`);
  }

  private draw(s: LiveTreeStatus): void {
    // A pty without a size reports 0 columns and rows: fall back to a common terminal size.
    const width = Math.max(40, (this.out.columns || 100) - 1);
    const room = Math.max(3, (this.out.rows || 40) - 6);
    const now = Date.now();
    const lines = [
      `tree ${s.treeId}  ${s.state}${s.paused ? ' (paused)' : ''}  elapsed ${formatDuration((now - this.t0) / 1000)}`,
      `${progressBar(s)}  ${countsLine(s)}`,
      ...visibleNodes(s.nodes, room).map((n) => (typeof n === 'string' ? n : nodeLine(n, now))),
    ];
    // Lines are cut to the terminal width: a wrapped line would break the cursor arithmetic.
    const text = lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l)).join('\n');
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    this.out.write(`${up}\x1b[J${text}\n`);
    this.drawn = lines.length;
  }
}

/** The nodes that fit: running and waiting ones first, then failures, then completed ones, when the tree is taller than the screen. */
function visibleNodes(nodes: LiveNodeStatus[], room: number): (LiveNodeStatus | string)[] {
  if (nodes.length <= room) return nodes;
  const rank = (n: LiveNodeStatus): number => (n.state === 'RUNNING' ? 0 : !ENDED.has(n.state) ? 1 : n.state !== 'COMPLETED' ? 2 : 3);
  const shown = nodes.map((n, i) => ({ n, i })).sort((a, b) => rank(a.n) - rank(b.n) || a.i - b.i).slice(0, room - 1).map((x) => x.n);
  return [...shown, `  … ${nodes.length - shown.length} more node(s) not shown`];
}

function nodeLine(n: LiveNodeStatus, now: number): string {
  const el = nodeElapsed(n, now);
  const icon = n.waitingFor ? '◌' : (ICON[n.state] ?? ' ');
  const wait = n.waitingFor ? `  ${shortWait(n.waitingFor, now)}` : '';
  return `  ${icon} ${cell(n.id, 24)} ${cell(n.block, 16)} ${cell(n.state, 10)} ${cell(el === null ? '' : formatDuration(el), 8)}${n.attempts > 1 ? ` attempt ${n.attempts}` : ''}${wait}${n.error ? `  ${n.error.split('\n')[0]}` : ''}`.trimEnd();
}

function detail(n: LiveNodeStatus): string {
  if (n.waitingFor) return ` (${n.waitingFor.reason})`;
  const parts: string[] = [];
  if (n.attempts > 1) parts.push(`attempt ${n.attempts}`);
  const el = ENDED.has(n.state) ? nodeElapsed(n) : null;
  if (el !== null) parts.push(formatDuration(el));
  if (n.error) parts.push(n.error.split('\n')[0] ?? '');
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function stamp(ms: number): string {
  return `+${(ms / 1000).toFixed(1).padStart(6)}s`;
}
