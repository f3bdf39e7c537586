/**
 * Trace-style exports of the timeline (like Nextflow's trace file): one record per node attempt
 * with node, block, attempt, state, queued, started, ended, duration, exit code, peak memory,
 * plus wait time, worker and error. For a cohort tree every record also has `sample` (the node's
 * sample; null, an empty CSV cell, for shared nodes), as the last key and the last CSV column, so
 * the columns of trees without samples are exactly what they were.
 */
import type { TimelineEntry } from '../../workflows/views';
import { buildGantt, waitSeconds, type TimelineSamples } from './model';

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
  /** Only for cohort trees: the node's sample, null for shared nodes (gathers and after). */
  sample?: string | null;
}

/** CSV columns, in order (snake_case headers, as trace files use). */
const COLUMNS: [header: string, key: keyof TraceRecord][] = [
  ['node', 'node'], ['parent_id', 'parentId'], ['block', 'block'], ['attempt', 'attempt'], ['state', 'state'],
  ['queued', 'queued'], ['ready', 'ready'], ['started', 'started'], ['ended', 'ended'], ['duration', 'duration'],
  ['wait', 'wait'], ['exit_code', 'exitCode'], ['peak_memory_mb', 'peakMemoryMB'], ['worker', 'worker'], ['error', 'error'],
];

/** The trace records of a timeline, in entry order; with `samples` (a cohort) each has `sample`. */
export function traceRecords(entries: readonly TimelineEntry[], samples?: TimelineSamples): TraceRecord[] {
  const gantt = buildGantt(entries);
  return gantt.rows.map((row) => {
    const e = row.entry;
    const wait = waitSeconds(row);
    const record: TraceRecord = {
      node: e.node, parentId: e.parentId, block: e.block, attempt: e.attempt, state: e.state,
      queued: e.queued, ready: e.ready, started: e.started, ended: e.ended,
      duration: e.duration, wait: wait === null ? null : Math.round(wait * 1000) / 1000,
      exitCode: e.exitCode, peakMemoryMB: e.peakMemoryMB, worker: e.worker, error: e.error,
    };
    if (samples) record.sample = samples.nodeSample.get(e.node) ?? null;
    return record;
  });
}

/** `{ treeId, generatedAt, attempts: [...] }` as pretty JSON. */
export function timelineJson(treeId: string, entries: readonly TimelineEntry[], generatedAt = new Date(), samples?: TimelineSamples): string {
  return `${JSON.stringify({ treeId, generatedAt: generatedAt.toISOString(), attempts: traceRecords(entries, samples) }, null, 2)}\n`;
}

/** RFC 4180 CSV with a header line; empty cells for nulls. */
export function timelineCsv(entries: readonly TimelineEntry[], samples?: TimelineSamples): string {
  const columns: [string, keyof TraceRecord][] = samples ? [...COLUMNS, ['sample', 'sample']] : COLUMNS;
  const lines = [columns.map(([h]) => h).join(',')];
  for (const r of traceRecords(entries, samples)) lines.push(columns.map(([, k]) => csvCell(r[k])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
