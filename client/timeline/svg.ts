/**
 * Static SVG of the Gantt chart, rendered by ECharts' server-side SVG renderer (no DOM needed).
 * Hover details become SVG `<title>` elements, which every browser and SVG viewer shows as a
 * tooltip: ECharts tags each bar with its series and data index, and we add the title there.
 */
import * as echarts from 'echarts';
import type { TimelineEntry } from '../../workflows/views';
import { chartHeight, ganttOption, renderGanttBar, sampleBands, type BarItem } from './chart';
import { buildGantt, type GanttModel, type GanttOptions } from './model';

/** Width of the static chart in pixels. */
export const SVG_WIDTH = 1200;

/** Renders the timeline as a standalone SVG document. */
export function timelineSvg(treeId: string, entries: readonly TimelineEntry[], opts: GanttOptions = {}): string {
  return ganttSvg(buildGantt(entries, opts.now, opts.nodeEnds, opts.samples), `Timeline of tree ${treeId}`);
}

/** Renders a Gantt model as SVG with one `<title>` per bar. */
export function ganttSvg(model: GanttModel, title: string, width = SVG_WIDTH): string {
  const option = ganttOption(model, title, { interactive: false, width });
  const series = option.series as { data: BarItem[]; renderItem?: unknown }[];
  for (const s of series) s.renderItem = renderGanttBar;
  const bands = sampleBands(model);
  if (bands) (option.yAxis as { splitArea: { interval?: unknown } }).splitArea.interval = (i: number) => bands[i + 1] === true;
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height: chartHeight(model, false) });
  try {
    chart.setOption(option);
    return withTitles(chart.renderToSVGString(), series);
  } finally {
    chart.dispose();
  }
}

/** Adds `<title>` to every element ECharts tagged as data item (series s, index d) of our bars. */
function withTitles(svg: string, series: { data: BarItem[] }[]): string {
  return svg.replace(/<(path|rect)( [^>]*?ecmeta_series_index="(\d+)" ecmeta_data_index="(\d+)"[^>]*?)(\/?)>/g, (whole, tag: string, attrs: string, s: string, d: string, slash: string) => {
    // Legend symbols carry the same tags with ecmeta_ssr_type="legend": only bars get titles.
    if (!attrs.includes('ecmeta_ssr_type="chart"')) return whole;
    const item = series[Number(s)]?.data[Number(d)];
    if (!item) return whole;
    const title = `<title>${escapeXml(item.details.map(([k, v]) => `${k}: ${v}`).join('\n'))}</title>`;
    return slash ? `<${tag}${attrs}>${title}</${tag}>` : `<${tag}${attrs}>${title}`;
  });
}

/** Escapes text for XML content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
