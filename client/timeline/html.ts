/**
 * Interactive timeline page (like Nextflow's timeline report): the Gantt chart rendered in the
 * browser by the inlined ECharts build, with hover details, a legend that toggles states, zoom
 * on the time axis, and a table of every attempt below it.
 */
import type { TimelineEntry } from '../../workflows/views';
import { chartHeight, ganttOption, renderGanttBar, sampleBands } from './chart';
import { buildGantt, STATE_COLORS, waitSeconds, type GanttModel, type GanttOptions, type TimelineSamples } from './model';
import { chartScript, escapeHtml, htmlPage, scriptJson } from './page';

/** Renders the timeline as one self-contained HTML document. */
export function timelineHtml(treeId: string, entries: readonly TimelineEntry[], opts: GanttOptions = {}): string {
  const now = opts.now ?? Date.now();
  const model = buildGantt(entries, now, opts.nodeEnds, opts.samples);
  const attempts = entries.filter((e) => e.attempt > 0).length;
  const body = `
<h1>Timeline of tree ${escapeHtml(treeId)}</h1>
<div class="meta">${attempts} attempt(s) of ${new Set(entries.map((e) => e.node)).size} node(s) · span ${(model.horizon / 1000).toFixed(1)} s · started ${escapeHtml(new Date(model.origin).toISOString())} · exported ${escapeHtml(new Date(now).toISOString())}</div>
<div class="meta">Thin grey bars: waiting (queued or ready → started; for a retry, from the previous attempt's end). Thick bars: running, coloured by how the attempt ended. Hover a bar for details; click a legend entry to hide it; drag the slider to zoom.</div>
${ganttSection(model, 'timeline-chart')}
${opts.samples ? `<div class="meta">Cohort of ${opts.samples.samples.length} sample(s): rows grouped by sample in sheet order (labels start with <code>[sample]</code>), shared nodes (gathers and after) last.</div>` : ''}
<details><summary>All attempts as a table</summary>${attemptsTable(model, opts.samples)}</details>`;
  return htmlPage(`ragomics timeline: ${treeId}`, body, ganttScript(model, `Timeline of tree ${treeId}`, 'timeline-chart'));
}

/** The chart container (its height grows with the number of rows). */
export function ganttSection(model: GanttModel, id: string): string {
  return `<div id="${id}" class="chart gantt" data-rows="${model.rows.length}" style="height:${chartHeight(model, true)}px"></div>`;
}

/**
 * Browser code that draws the Gantt chart into `#id`. Exposes the chart on
 * `window.ragomicsCharts[id]` (tests and power users can read it).
 */
export function ganttScript(model: GanttModel, title: string, id: string): string {
  const option = ganttOption(model, title, { interactive: true, width: 0 });
  const bands = sampleBands(model);
  return chartScript(id, option, `  var renderGanttBar = ${renderGanttBar.toString()};
  var bands = ${scriptJson(bands)};
  if (bands) option.yAxis.splitArea.interval = function (i) { return bands[i + 1] === true; };
  option.series.forEach(function (s) { s.renderItem = renderGanttBar; });
  option.tooltip.formatter = function (p) {
    var rows = (p.data && p.data.details) || [];
    return '<div class="tip"><b>' + esc(p.seriesName === 'waiting' ? 'waiting to run' : 'run: ' + p.seriesName) + '</b><table>' + rows.map(function (r) {
      return '<tr><td>' + esc(r[0]) + '</td><td style="max-width:420px;white-space:pre-wrap">' + esc(r[1]) + '</td></tr>';
    }).join('') + '</table></div>';
  };`);
}

/**
 * Every row as an HTML table (also readable without JavaScript). With `samples` (a cohort): a
 * `sample` column, and a header row (id and sheet columns) before each sample's attempts.
 */
export function attemptsTable(model: GanttModel, samples?: TimelineSamples): string {
  const columns = samples ? new Map(samples.samples.map((x) => [x.sample, x.columns])) : null;
  const head = '<tr>' + (samples ? '<th>sample</th>' : '') + '<th>node</th><th>block</th><th>attempt</th><th>state</th><th>queued</th><th>started</th><th>ended</th><th>wait (s)</th><th>duration (s)</th><th>worker</th><th>exit code</th><th>peak memory (MB)</th><th>error</th></tr>';
  let group: string | null | undefined;
  const rows = model.rows.map((r) => {
    const e = r.entry;
    let header = '';
    if (columns && r.sample !== group) {
      group = r.sample;
      const cols = r.sample === null ? '' : Object.entries(columns.get(r.sample) ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
      header = `<tr class="sample-group" data-sample="${escapeHtml(r.sample ?? '')}"><th colspan="14">${r.sample === null ? 'shared nodes (gathers and after)' : `sample ${escapeHtml(r.sample)}${cols ? ` <span class="meta">(${escapeHtml(cols)})</span>` : ''}`}</th></tr>`;
    }
    const state = r.open ? 'RUNNING' : e.state;
    const w = waitSeconds(r);
    const wait = w === null ? '' : w.toFixed(2);
    return `${header}<tr class="attempt-row">${columns ? `<td>${escapeHtml(r.sample ?? '')}</td>` : ''}<td>${escapeHtml(e.node)}</td><td>${escapeHtml(e.block)}</td><td class="num">${e.attempt || ''}</td>`
      + `<td><span class="state" style="background:${STATE_COLORS[state] ?? '#777'}">${escapeHtml(state)}</span></td>`
      + `<td>${escapeHtml(e.queued)}</td><td>${escapeHtml(e.started ?? '')}</td><td>${escapeHtml(e.ended ?? '')}</td>`
      + `<td class="num">${wait}</td><td class="num">${e.duration === null ? '' : e.duration.toFixed(2)}</td><td>${escapeHtml(e.worker ?? '')}</td>`
      + `<td class="num">${e.exitCode ?? ''}</td><td class="num">${e.peakMemoryMB ?? ''}</td><td>${escapeHtml((e.error ?? '').slice(0, 300))}</td></tr>`;
  });
  return `<table class="attempts">${head}${rows.join('')}</table>`;
}
