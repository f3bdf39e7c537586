/**
 * Self-contained HTML pages: everything (ECharts, data, styles) is inlined, so an exported
 * timeline or report opens offline, from an e-mail attachment or a CI artifact.
 */
import { readFileSync } from 'node:fs';

let echartsSource: string | undefined;

/** The ECharts browser build, read once from node_modules (about 1 MB). */
export function echartsBrowserSource(): string {
  echartsSource ??= readFileSync(require.resolve('echarts/dist/echarts.min.js'), 'utf8');
  return echartsSource;
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** JSON safe inside `<script>`: no `</script>`, `<!--` or JS-breaking line separators. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Styles shared by the timeline and the report. */
export const BASE_CSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 20px; color: #222; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; font-size: 13px; margin-bottom: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.card { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 8px 12px; min-width: 110px; }
.card b { display: block; font-size: 18px; } .card span { color: #666; font-size: 12px; }
.chart { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; }
table { border-collapse: collapse; background: #fff; font-size: 12px; width: 100%; }
th, td { border: 1px solid #e2e2e2; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; font-size: 11px; }
pre { background: #1e1e1e; color: #ddd; padding: 8px; overflow-x: auto; font-size: 12px; max-height: 360px; }
.tip td, table.tip td { border: none; padding: 1px 6px 1px 0; font-size: 12px; }
details summary { cursor: pointer; color: #555; margin: 8px 0; }
`;

/** A complete HTML document with the given body; `withEcharts` inlines the ECharts build. */
export function htmlPage(title: string, body: string, script: string, withEcharts = true): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ragomics">
<title>${escapeHtml(title)}</title>
<style>${BASE_CSS}</style>
${withEcharts ? `<script>${echartsBrowserSource()}</script>` : ''}
</head>
<body>
${body}
<script>
${script}
</script>
</body>
</html>
`;
}

/**
 * Browser code that draws an ECharts chart with `option` into `#id` and exposes it on
 * `window.ragomicsCharts[id]` (tests and power users can read it). `setup` is browser JavaScript
 * run before drawing, with `option` and `esc` (HTML escaping) in scope, e.g. to add a tooltip
 * formatter or custom renderers, which JSON cannot carry.
 */
export function chartScript(id: string, option: unknown, setup: string): string {
  return `(function () {
  var option = ${scriptJson(option)};
  var esc = function (s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); };
${setup}
  var el = document.getElementById(${scriptJson(id)});
  var chart = echarts.init(el, null, { renderer: 'svg' });
  chart.setOption(option);
  window.addEventListener('resize', function () { chart.resize(); });
  window.ragomicsCharts = window.ragomicsCharts || {};
  window.ragomicsCharts[${scriptJson(id)}] = chart;
})();`;
}
