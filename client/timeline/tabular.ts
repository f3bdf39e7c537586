/**
 * Trace-style exports of the timeline (like Nextflow's trace file): one record per node attempt
 * with node, block, attempt, state, queued, started, ended, duration, exit code, peak memory,
 * plus wait time, worker and error.
 */
import type { TimelineEntry } from '../../workflows/views';
import { buildGantt, waitSeconds } from './model';

/** One trace record. Times are ISO-8601, durations seconds. */
export interface TraceRecord {
  node: string;
  parentId: string | null;
  block: string;
  attempt: number;
  state: string;
  queued: string;
  ready: string | null;
  started: string | null;
  ended: string | null;
  duration: number | null;
  wait: number | null;
  exitCode: number | null;
  peakMemoryMB: number | null;
  worker: string | null;
  error: string | null;
}

/** CSV columns, in order (snake_case headers, as trace files use). */
const COLUMNS: [header: string, key: keyof TraceRecord][] = [
  ['node', 'node'], ['parent_id', 'parentId'], ['block', 'block'], ['attempt', 'attempt'], ['state', 'state'],
  ['queued', 'queued'], ['ready', 'ready'], ['started', 'started'], ['ended', 'ended'], ['duration', 'duration'],
  ['wait', 'wait'], ['exit_code', 'exitCode'], ['peak_memory_mb', 'peakMemoryMB'], ['worker', 'worker'], ['error', 'error'],
];

/** The trace records of a timeline. */
export function traceRecords(entries: readonly TimelineEntry[]): TraceRecord[] {
  const gantt = buildGantt(entries);
  return gantt.rows.map((row) => {
    const e = row.entry;
    const wait = waitSeconds(row);
    return {
      node: e.node, parentId: e.parentId, block: e.block, attempt: e.attempt, state: e.state,
      queued: e.queued, ready: e.ready, started: e.started, ended: e.ended,
      duration: e.duration, wait: wait === null ? null : Math.round(wait * 1000) / 1000,
      exitCode: e.exitCode, peakMemoryMB: e.peakMemoryMB, worker: e.worker, error: e.error,
    };
  });
}

/** `{ treeId, generatedAt, attempts: [...] }` as pretty JSON. */
export function timelineJson(treeId: string, entries: readonly TimelineEntry[], generatedAt = new Date()): string {
  return `${JSON.stringify({ treeId, generatedAt: generatedAt.toISOString(), attempts: traceRecords(entries) }, null, 2)}\n`;
}

/** RFC 4180 CSV with a header line; empty cells for nulls. */
export function timelineCsv(entries: readonly TimelineEntry[]): string {
  const lines = [COLUMNS.map(([h]) => h).join(',')];
  for (const r of traceRecords(entries)) lines.push(COLUMNS.map(([, k]) => csvCell(r[k])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
