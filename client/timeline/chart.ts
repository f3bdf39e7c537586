/**
 * The ECharts option of the Gantt chart: a custom series per bar kind (waiting, then one per
 * final state, so the legend doubles as the colour key), rows on a category axis, seconds since
 * the first event on the x axis. The option is plain data apart from {@link renderGanttBar},
 * which is self-contained so the HTML page can embed its source text.
 */
import { STATE_COLORS, rowDetails, type GanttModel } from './model';

/** Data item of a bar: `[row, from, to]` in seconds plus its hover details. */
export interface BarItem {
  value: [number, number, number];
  details: [string, string][];
}

/** Row height in pixels: the chart grows with the number of attempts. */
export const ROW_HEIGHT = 22;

/**
 * Draws one bar of the custom series. Waiting bars are thin and light; run bars fill most of the
 * row. Self-contained (no closure, no imports): its source text is embedded in the HTML page.
 */
export function renderGanttBar(params: { seriesName?: string }, api: {
  value(i: number): number; coord(v: number[]): number[]; size(v: number[]): number[]; visual(key: string): unknown;
}): unknown {
  const row = api.value(0);
  const from = api.coord([api.value(1), row]) as [number, number];
  const to = api.coord([api.value(2), row]) as [number, number];
  const rowHeight = (api.size([0, 1]) as [number, number])[1];
  const waiting = params.seriesName === 'waiting';
  const h = rowHeight * (waiting ? 0.3 : 0.7);
  return {
    type: 'rect',
    // At least 2 px wide, so instant attempts stay visible (and hoverable).
    shape: { x: from[0], y: from[1] - h / 2, width: Math.max(2, to[0] - from[0]), height: h },
    style: { fill: api.visual('color') },
  };
}

/** Series name of the waiting bars. */
export const WAITING_SERIES = 'waiting';

/** Builds the option (renderItem left out: set by the caller, from code or from source text). */
export function ganttOption(model: GanttModel, title: string, opts: { interactive: boolean; width: number }): Record<string, unknown> {
  const sec = (msSinceOrigin: number) => Math.round(msSinceOrigin) / 1000;
  const waiting: BarItem[] = [];
  const byState = new Map<string, BarItem[]>();
  model.rows.forEach((row, i) => {
    const details = rowDetails(row);
    if (row.waitFrom !== null && row.waitTo !== null) waiting.push({ value: [i, sec(row.waitFrom), sec(row.waitTo)], details });
    if (row.runFrom !== null && row.runTo !== null) {
      const state = row.open ? 'RUNNING' : row.entry.state;
      if (!byState.has(state)) byState.set(state, []);
      (byState.get(state) as BarItem[]).push({ value: [i, sec(row.runFrom), sec(row.runTo)], details });
    }
  });
  const series = [
    { name: WAITING_SERIES, data: waiting, color: STATE_COLORS.WAITING },
    ...[...byState.entries()].map(([state, data]) => ({ name: state, data, color: STATE_COLORS[state] ?? '#444' })),
  ].map((s) => ({
    type: 'custom', name: s.name, data: s.data, clip: true,
    encode: { x: [1, 2], y: 0 },
    itemStyle: { color: s.color },
    emphasis: { itemStyle: { borderColor: '#111', borderWidth: 1 } },
  }));
  const labelWidth = Math.min(260, Math.max(80, ...model.rows.slice(0, 2000).map((r) => r.label.length * 7)));
  return {
    animation: false,
    backgroundColor: '#ffffff',
    title: { text: title, left: 10, top: 6, textStyle: { fontSize: 14 } },
    legend: { top: 8, right: 10, data: series.map((s) => s.name) },
    grid: { left: labelWidth + 20, right: 30, top: 44, bottom: opts.interactive ? 70 : 40 },
    xAxis: { type: 'value', min: 0, name: 'seconds', nameLocation: 'middle', nameGap: 26, axisLabel: { formatter: '{value}' }, splitLine: { show: true } },
    yAxis: {
      type: 'category', inverse: true, data: model.rows.map((r) => r.label),
      axisLabel: { interval: 0, width: labelWidth, overflow: 'truncate' }, axisTick: { show: false },
      // A cohort: alternate shading per sample (its interval function is set by the caller, see sampleBands).
      ...(sampleBands(model) ? { splitArea: { show: true, areaStyle: { color: ['rgba(255,255,255,0)', 'rgba(70,130,180,0.09)'] } } } : {}),
    },
    tooltip: opts.interactive ? { trigger: 'item', confine: true } : undefined,
    dataZoom: opts.interactive ? [{ type: 'slider', xAxisIndex: 0, bottom: 8, height: 18 }, { type: 'inside', xAxisIndex: 0 }] : undefined,
    series,
  };
}

/**
 * For a cohort's chart (rows grouped by sample): true at each row starting a new group, so the
 * y axis's split areas (alternating shades) span one sample each. Null when no row has a sample.
 * Used by `yAxis.splitArea.interval` (a function: JSON cannot carry it, the caller sets it) as
 * `i => bands[i + 1]`: ECharts asks about the boundary after category i (seen in Chromium).
 */
export function sampleBands(model: GanttModel): boolean[] | null {
  if (!model.rows.some((r) => r.sample !== null)) return null;
  return model.rows.map((r, i) => i === 0 || r.sample !== model.rows[i - 1]?.sample);
}

/** Pixel height of the chart for a model. */
export function chartHeight(model: GanttModel, interactive: boolean): number {
  return 44 + (interactive ? 70 : 40) + Math.max(1, model.rows.length) * ROW_HEIGHT;
}
