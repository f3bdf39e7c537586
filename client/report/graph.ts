/**
 * The tree drawn as an ECharts graph: one node per tree node at its tidy-layout position,
 * coloured by state, labelled with id and block; hover shows the block's parameters, timing
 * and error. Parent edges are solid, other dependencies dashed. Pan and zoom with the mouse.
 */
import { chartScript } from '../timeline/page';
import type { ReportNode } from './collect';
import { layoutTree } from './layout';

/** Colour of each node state in the graph and tables. */
export const NODE_STATE_COLORS: Record<string, string> = {
  PENDING: '#bdbdbd', WAITING: '#bdbdbd', READY: '#7fb3e0', RUNNING: '#1f77b4',
  COMPLETED: '#2e9e44', FAILED: '#d62728', TIMEOUT: '#ff7f0e', CANCELLED: '#8c8c8c',
};

const COL_WIDTH = 230;
const ROW_HEIGHT = 60;

/** Pixel height of the graph container. */
export function graphHeight(nodes: readonly ReportNode[]): number {
  const { rows } = layoutTree(nodes.map((n) => ({ id: n.status.id, parentId: n.status.parentId })));
  return Math.min(900, Math.max(260, rows * ROW_HEIGHT + 80));
}

/** Browser code drawing the graph into `#id` (exposed on `window.ragomicsCharts[id]`). */
export function graphScript(nodes: readonly ReportNode[], id: string): string {
  const { placed } = layoutTree(nodes.map((n) => ({ id: n.status.id, parentId: n.status.parentId })));
  const data = nodes.map((n) => {
    const p = placed.get(n.status.id) ?? { col: 0, row: 0 };
    const block = n.block ? ('name' in n.block ? n.block.name : 'inline code') : n.status.block;
    return {
      name: n.status.id,
      x: p.col * COL_WIDTH,
      y: p.row * ROW_HEIGHT,
      value: n.status.state,
      symbolSize: [150, 36],
      itemStyle: { color: NODE_STATE_COLORS[n.status.state] ?? '#777' },
      label: { formatter: `${truncate(n.status.id, 22)}\n${truncate(block, 22)}` },
      details: tooltipRows(n, block),
    };
  });
  const links = nodes.flatMap((n) => n.dependencies.map((dep) => ({
    source: dep, target: n.status.id,
    lineStyle: dep === n.status.parentId ? { type: 'solid', width: 1.5 } : { type: 'dashed', width: 1 },
  })));
  const option = {
    animation: false,
    tooltip: { trigger: 'item', confine: true },
    series: [{
      type: 'graph', layout: 'none', roam: true, symbol: 'roundRect', draggable: false,
      label: { show: true, color: '#fff', fontSize: 11, lineHeight: 14 },
      edgeSymbol: ['none', 'arrow'], edgeSymbolSize: 7,
      lineStyle: { color: '#888', curveness: 0 },
      emphasis: { focus: 'adjacency' },
      data, links,
    }],
  };
  return chartScript(id, option, `  option.tooltip.formatter = function (p) {
    if (p.dataType === 'edge') return esc(p.data.source) + ' → ' + esc(p.data.target);
    return '<table class="tip">' + (p.data.details || []).map(function (r) {
      return '<tr><td>' + esc(r[0]) + '</td><td style="max-width:460px;white-space:pre-wrap;font-family:monospace">' + esc(r[1]) + '</td></tr>';
    }).join('') + '</table>';
  };`);
}

function tooltipRows(n: ReportNode, block: string): [string, string][] {
  const s = n.status;
  const rows: [string, string][] = [['node', s.id], ['block', block], ['state', s.state], ['attempts', String(s.attempts)]];
  if (s.startedAt) rows.push(['started', s.startedAt]);
  if (s.startedAt && s.endedAt) rows.push(['run time', `${((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000).toFixed(2)} s`]);
  if (n.block) rows.push(['parameters', JSON.stringify(n.block.parameters ?? {}, null, 1).slice(0, 2000)]);
  if (n.block && 'code' in n.block) rows.push(['code', n.block.code.slice(0, 600)]);
  if (n.result?.shape) rows.push(['output', `${n.result.shape[0]} cells × ${n.result.shape[1]} genes`]);
  if (n.result?.summary) rows.push(['summary', n.result.summary.slice(0, 600)]);
  if (s.error) rows.push(['error', s.error.slice(0, 600)]);
  return rows;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
