/**
 * Timeline exports from synthetic entries (no server): the Gantt model's wait and run spans,
 * trace CSV/JSON, the static SVG with a hover title per bar, and format resolution.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGantt, waitSeconds } from '../client/timeline/model';
import { timelineCsv, timelineJson, traceRecords } from '../client/timeline/tabular';
import { timelineSvg } from '../client/timeline/svg';
import { timelineHtml } from '../client/timeline/html';
import { resolveTimelineFormat } from '../client/timeline';
import { InvalidInputError } from '../client/errors';
import type { TimelineEntry } from '../workflows/views';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const iso = (s: number | null) => (s === null ? null : new Date(T0 + s * 1000).toISOString());

function entry(node: string, attempt: number, state: TimelineEntry['state'], ready: number, started: number | null, ended: number | null, extra: Partial<TimelineEntry> = {}): TimelineEntry {
  return {
    node, parentId: null, block: 'sleep', attempt, state, queued: iso(0) as string, ready: iso(ready), started: iso(started), ended: iso(ended),
    duration: started !== null && ended !== null ? ended - started : null, worker: 'w1', exitCode: state === 'FAILED' ? 70 : 0, peakMemoryMB: 12, error: null, ...extra,
  };
}

const entries: TimelineEntry[] = [
  entry('root', 1, 'COMPLETED', 0, 0.5, 2),
  entry('flaky', 1, 'FAILED', 2, 2.5, 3, { error: 'boom, "quoted"\nsecond line <b>' }),
  entry('flaky', 2, 'COMPLETED', 2, 4, 5),
  entry('lost', 1, 'FAILED', 2, null, 4), // ended, real start not recorded
  entry('never', 0, 'CANCELLED', 2, null, null),
  entry('busy', 1, 'RUNNING', 2, 3, null),
];

void test('Gantt rows: wait from ready (or the previous attempt\'s end) to start; run to end, or to now while running', () => {
  const now = T0 + 10_000;
  const m = buildGantt(entries, now, new Map([['never', iso(4)]]));
  assert.equal(m.origin, T0);
  assert.equal(m.horizon, 10_000, 'a running attempt extends the chart to now');
  const [root, flaky1, flaky2, lost, never, busy] = m.rows;
  assert.deepEqual([root?.waitFrom, root?.waitTo, root?.runFrom, root?.runTo], [0, 500, 500, 2000]);
  assert.equal(waitSeconds(flaky1!), 0.5);
  assert.deepEqual([flaky2?.waitFrom, flaky2?.waitTo], [3000, 4000], 'a retry waits from the previous attempt\'s end');
  assert.equal(lost?.startUnknown, true);
  assert.deepEqual([lost?.waitFrom, lost?.runFrom, lost?.runTo], [null, 2000, 4000]);
  assert.deepEqual([never?.label, never?.waitFrom, never?.waitTo, never?.runFrom], ['never (not run)', 2000, 4000, null]);
  assert.deepEqual([busy?.open, busy?.runTo], [true, 10_000]);
});

void test('CSV: trace columns, one line per entry, quoting', () => {
  const csv = timelineCsv(entries);
  const lines = csv.split('\r\n').filter(Boolean);
  assert.equal(lines[0], 'node,parent_id,block,attempt,state,queued,ready,started,ended,duration,wait,exit_code,peak_memory_mb,worker,error');
  // The error cell holds a newline inside quotes: count records by their leading node column.
  assert.equal(csv.match(/\r\n(root|flaky|lost|never|busy),/g)?.length, entries.length);
  assert.ok(csv.includes('"boom, ""quoted""\nsecond line <b>"'));
  assert.match(csv, /\r\nflaky,,sleep,2,COMPLETED,[^,]+,[^,]+,[^,]+,[^,]+,1,1,0,12,w1,\r\n/);
});

void test('JSON: trace records with wait and duration', () => {
  const doc = JSON.parse(timelineJson('t1', entries)) as { treeId: string; attempts: ReturnType<typeof traceRecords> };
  assert.equal(doc.treeId, 't1');
  assert.equal(doc.attempts.length, entries.length);
  const first = doc.attempts[0];
  assert.deepEqual(Object.keys(first ?? {}), ['node', 'parentId', 'block', 'attempt', 'state', 'queued', 'ready', 'started', 'ended', 'duration', 'wait', 'exitCode', 'peakMemoryMB', 'worker', 'error']);
  assert.equal(first?.wait, 0.5);
  assert.equal(first?.duration, 1.5);
});

void test('SVG: one <title> per bar, escaped, and no script', () => {
  const svg = timelineSvg('t1', entries, { now: T0 + 10_000, nodeEnds: new Map([['never', iso(4)]]) });
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const m = buildGantt(entries, T0 + 10_000, new Map([['never', iso(4)]]));
  const bars = m.rows.filter((r) => r.waitFrom !== null).length + m.rows.filter((r) => r.runFrom !== null).length;
  assert.equal(svg.match(/<title>/g)?.length, bars);
  assert.ok(svg.includes('error: boom, &quot;quoted&quot;\nsecond line &lt;b&gt;'));
  assert.doesNotMatch(svg, /<script/);
});

void test('HTML: self-contained (ECharts inlined, no external resource), data safe inside <script>', () => {
  const html = timelineHtml('t1', entries);
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\/[^"' ]+\.(js|css)\b/);
  assert.ok(html.length > 500_000, 'ECharts is inlined');
  assert.doesNotMatch(html, /second line <b>/, 'error text cannot break out of the page');
  assert.equal(html.match(/<tr class="attempt-row">/g)?.length, entries.length);
});

void test('a large timeline renders quickly', () => {
  const many: TimelineEntry[] = [];
  for (let i = 0; i < 3000; i++) many.push(entry(`n${i}`, 1, 'COMPLETED', i / 100, i / 100 + 0.1, i / 100 + 1));
  const t = Date.now();
  const svg = timelineSvg('big', many);
  timelineCsv(many);
  assert.equal(svg.match(/<title>/g)?.length, 6000);
  const ms = Date.now() - t;
  console.log(`# timeline of 3000 attempts: svg + csv in ${ms} ms`);
  // Measured on the 2-core box: 0.7-4.2 s (load average 3-40), 1.6-3.7 s with two `yes` CPU hogs
  // beside the run. The bound is > 5x the worst: it catches a blow-up, not a slow machine.
  assert.ok(ms < 30_000, `took ${ms} ms`);
});

void test('format: flag, else the output extension, else json; anything else is invalid input', () => {
  assert.equal(resolveTimelineFormat('CSV', undefined), 'csv');
  assert.equal(resolveTimelineFormat(undefined, 'out/t.html'), 'html');
  assert.equal(resolveTimelineFormat(undefined, 't.svg'), 'svg');
  assert.equal(resolveTimelineFormat(undefined, undefined), 'json');
  assert.throws(() => resolveTimelineFormat('pdf', undefined), (e: unknown) => e instanceof InvalidInputError && /^--format: .* got "pdf"$/.test(e.message));
  // No --format given: the file's extension is what was wrong, and it is named.
  assert.throws(() => resolveTimelineFormat(undefined, 'out.pdf'), (e: unknown) => e instanceof InvalidInputError && /^-o out\.pdf: the extension "\.pdf" is not a timeline format/.test(e.message));
});
