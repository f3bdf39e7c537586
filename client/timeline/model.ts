/**
 * Turns the tree's timeline entries (one per node attempt) into Gantt rows: for each attempt a
 * wait span (queued or ready → started; for a retry: previous attempt's end → started) and a
 * run span (started → ended, or → now while running), coloured by how the attempt ended.
 * Shared by the HTML, SVG and report renderers.
 */
import type { SampleStatus, TimelineEntry } from '../../workflows/views';

/** Colour of each attempt state (and of waiting). */
export const STATE_COLORS: Record<string, string> = {
  COMPLETED: '#2e9e44',
  FAILED: '#d62728',
  TIMEOUT: '#ff7f0e',
  CANCELLED: '#8c8c8c',
  LOST: '#9467bd',
  RUNNING: '#1f77b4',
  WAITING: '#c9ced6',
};

/** One row of the Gantt chart: one attempt (or a node that never started). */
export interface GanttRow {
  /** `node #attempt` (or `node` for a node that never started). */
  label: string;
  entry: TimelineEntry;
  /** Milliseconds since the chart's origin; null when the span does not exist. */
  waitFrom: number | null;
  /** End of the wait: the start, or for a node that never started the time it ended (else the horizon). */
  waitTo: number | null;
  runFrom: number | null;
  runTo: number | null;
  /** True while the attempt still runs (its bar ends at the export time). */
  open: boolean;
  /** True when the attempt ended but its real start was not recorded: the run bar starts at its wait start. */
  startUnknown: boolean;
  /** The node's sample in a cohort tree (null for shared nodes, and in trees without samples). */
  sample: string | null;
}

/**
 * The samples of a cohort tree as the timeline uses them: the sheet order and each node's sample.
 * Timeline entries do not carry the sample; it comes from the status (`nodes[].sample`, `samples`).
 */
export interface TimelineSamples {
  samples: readonly SampleStatus[];
  nodeSample: ReadonlyMap<string, string>;
}

/** The samples of a status, or undefined for a tree without samples (its timeline stays as it was). */
export function timelineSamples(status: { nodes: ReadonlyArray<{ id: string; sample?: string }>; samples?: readonly SampleStatus[] }): TimelineSamples | undefined {
  if (!status.samples || status.samples.length === 0) return undefined;
  const nodeSample = new Map<string, string>();
  for (const n of status.nodes) if (n.sample !== undefined) nodeSample.set(n.id, n.sample);
  return { samples: status.samples, nodeSample };
}

/** Options of the chart renderers. */
export interface GanttOptions {
  /** Closes the bars of attempts still running. @default Date.now() */
  now?: number;
  /** Node id → ISO time the node reached its final state (status `endedAt`); see {@link buildGantt}. */
  nodeEnds?: ReadonlyMap<string, string | null>;
  /** A cohort's samples: chart rows grouped by sample (sheet order, shared nodes last), labelled with it; JSON/CSV gain a `sample` column. */
  samples?: TimelineSamples;
}

/** The chart's rows plus its origin (epoch ms) and horizon (ms since origin). */
export interface GanttModel {
  origin: number;
  horizon: number;
  rows: GanttRow[];
}

const ms = (iso: string | null): number | null => (iso ? Date.parse(iso) : null);

/**
 * Builds the Gantt model; `now` closes bars of attempts still running. `nodeEnds` (node id →
 * ISO time it reached its final state, from the status) ends the wait bar of a node that never
 * started (e.g. cancelled because a dependency failed) where it ended instead of at the horizon.
 * `samples` (a cohort) orders the rows sample by sample in sheet order (attempts of a sample in
 * their order), shared nodes last, and prefixes each label with `[sample]`.
 */
export function buildGantt(entries: readonly TimelineEntry[], now = Date.now(), nodeEnds: ReadonlyMap<string, string | null> = new Map(), samples?: TimelineSamples): GanttModel {
  const times = entries.flatMap((e) => [ms(e.queued), ms(e.ready), ms(e.started), ms(e.ended)]).filter((t): t is number => t !== null);
  // Loops, not Math.min(...times): spreading 100k+ values overflows the call stack.
  let first = Infinity, last = -Infinity;
  for (const t of times) {
    if (t < first) first = t;
    if (t > last) last = t;
  }
  const origin = times.length ? first : now;
  const anyOpen = entries.some((e) => e.started && !e.ended);
  const end = anyOpen ? Math.max(now, last) : times.length ? last : now;
  const prevEnd = new Map<string, number>();
  const rows: GanttRow[] = [];
  for (const e of entries) {
    const ended = ms(e.ended);
    // A retry waits from the end of the attempt before it, not from the node's first queueing.
    const waitStart = prevEnd.get(e.node) ?? ms(e.ready) ?? ms(e.queued);
    // An attempt that ended without a recorded start still ran: draw it from its wait start.
    const startUnknown = e.attempt > 0 && e.started === null && ended !== null;
    const started = startUnknown ? waitStart : ms(e.started);
    const open = started !== null && ended === null;
    const runTo = started === null ? null : (ended ?? end);
    if (runTo !== null) prevEnd.set(e.node, runTo);
    const waitEnd = started ?? ms(nodeEnds.get(e.node) ?? null) ?? end;
    const hasWait = waitStart !== null && !startUnknown && waitEnd > waitStart;
    const sample = samples?.nodeSample.get(e.node) ?? null;
    const label = e.attempt > 0 ? `${e.node} #${e.attempt}` : `${e.node} (not run)`;
    rows.push({
      label: sample !== null ? `[${sample}] ${label}` : label,
      entry: e,
      waitFrom: hasWait ? waitStart - origin : null,
      waitTo: hasWait ? waitEnd - origin : null,
      runFrom: started === null ? null : started - origin,
      runTo: runTo === null ? null : runTo - origin,
      open,
      startUnknown,
      sample,
    });
  }
  return { origin, horizon: end - origin, rows: samples ? bySample(rows, samples) : rows };
}

/** Rows sample by sample in sheet order, shared nodes (and samples not in the list) last; stable. */
function bySample(rows: GanttRow[], samples: TimelineSamples): GanttRow[] {
  const rank = new Map(samples.samples.map((s, i) => [s.sample, i]));
  const last = samples.samples.length;
  return rows
    .map((row, i) => ({ row, i, g: row.sample === null ? last : (rank.get(row.sample) ?? last) }))
    .sort((a, b) => a.g - b.g || a.i - b.i)
    .map((x) => x.row);
}

/** Seconds of waiting of one row (null when it never started or has no queue time). */
export function waitSeconds(row: GanttRow): number | null {
  return row.waitFrom !== null && row.waitTo !== null && row.runFrom !== null ? Math.max(0, row.waitTo - row.waitFrom) / 1000 : null;
}

/** Hover text of a row: node, block, attempt, state, times, durations, worker, exit code, error. */
export function rowDetails(row: GanttRow): [string, string][] {
  const e = row.entry;
  const wait = waitSeconds(row);
  const run = row.runFrom !== null && row.runTo !== null && !row.startUnknown ? (row.runTo - row.runFrom) / 1000 : null;
  const out: [string, string][] = [
    ...(row.sample !== null ? [['sample', row.sample] as [string, string]] : []),
    ['node', e.node],
    ['block', e.block],
    ['attempt', e.attempt > 0 ? String(e.attempt) : 'never started'],
    ['state', row.open ? 'RUNNING' : e.state],
    ['queued', e.queued],
    ['ready', e.ready ?? '-'],
    ['started', e.started ?? (row.startUnknown ? '(not recorded)' : '-')],
    ['ended', e.ended ?? (row.open ? '(running)' : '-')],
    ['wait', wait === null ? '-' : `${wait.toFixed(2)} s`],
    ['duration', e.duration !== null ? `${e.duration.toFixed(2)} s` : run !== null ? `${run.toFixed(2)} s so far` : '-'],
    ['worker', e.worker ?? '-'],
    ['exit code', e.exitCode === null ? '-' : String(e.exitCode)],
    ['peak memory', e.peakMemoryMB === null ? '-' : `${e.peakMemoryMB} MB`],
  ];
  if (e.error) out.push(['error', e.error.length > 500 ? `${e.error.slice(0, 500)}…` : e.error]);
  return out;
}
