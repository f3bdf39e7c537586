/**
 * The tree drawn as an ECharts graph: one node per tree node at its tidy-layout position,
 * coloured by state, labelled with id and block; hover shows the block's parameters, timing
 * and error. Parent edges are solid, a gather's inputs solid in blue, other dependencies dashed.
 * Pan and zoom with the mouse.
 */
import { provenanceText } from '../../workflows/provenance';
import { chartScript } from '../timeline/page';
import type { ReportNode } from './collect';
import { layoutTree } from './layout';

/** Colour of each node state in the graph and tables. */
export const NODE_STATE_COLORS: Record<string, string> = {
  PENDING: '#bdbdbd', WAITING: '#bdbdbd', READY: '#7fb3e0', RUNNING: '#1f77b4',
  COMPLETED: '#2e9e44', FAILED: '#d62728', TIMEOUT: '#ff7f0e', CANCELLED: '#8c8c8c',
};

/** Horizontal distance between columns, vertical distance between rows, node box size (pixels). */
export const COL_WIDTH = 230;
export const ROW_HEIGHT = 48;
export const BOX_WIDTH = 150;
export const BOX_HEIGHT = 34;
/** Space around the outermost box centres (half a box plus room for the arrowheads). */
const MARGIN_X = BOX_WIDTH / 2 + 20;
const MARGIN_Y = BOX_HEIGHT / 2 + 14;

/**
 * The graph in pixels: the centre of every node's box and the size of the drawing. The chart is
 * drawn at exactly this scale (the series box is set to it), so boxes and their labels never
 * overlap however many samples there are; the page scrolls instead of squeezing the drawing.
 */
export interface GraphGeometry {
  centres: Map<string, { x: number; y: number }>;
  /**
   * One bus per node with several inputs (a gather): each input's edge runs right along its own
   * row to the bus's vertical bar at `x`, and one arrow goes from (`x`, `y`) into the gather. So
   * 24 inputs draw as one fan-in instead of 24 diagonals across the other lanes' boxes.
   */
  buses: Array<{ gather: string; x: number; y: number; taps: Array<{ input: string; y: number }> }>;
  width: number;
  height: number;
}

/** Lays the nodes out (see layout.ts) and converts to pixels. */
export function graphGeometry(nodes: readonly ReportNode[]): GraphGeometry {
  const { placed } = layoutTree(nodes.map((n) => ({ id: n.status.id, parentId: n.status.parentId, dependencies: n.dependencies, inputs: n.status.inputs })));
  let minRow = Infinity, maxRow = -Infinity, maxCol = 0;
  for (const p of placed.values()) {
    minRow = Math.min(minRow, p.row);
    maxRow = Math.max(maxRow, p.row);
    maxCol = Math.max(maxCol, p.col);
  }
  if (!Number.isFinite(minRow)) minRow = maxRow = 0;
  const centres = new Map<string, { x: number; y: number }>();
  for (const p of placed.values()) centres.set(p.id, { x: MARGIN_X + p.col * COL_WIDTH, y: MARGIN_Y + (p.row - minRow) * ROW_HEIGHT });
  const buses: GraphGeometry['buses'] = [];
  for (const n of nodes) {
    const g = centres.get(n.status.id);
    const inputs = (n.status.inputs ?? []).filter((i) => centres.has(i));
    if (!g || inputs.length === 0) continue;
    // Halfway across the gap before the gather's column (columns always put inputs left of it).
    const x = g.x - COL_WIDTH / 2;
    buses.push({ gather: n.status.id, x, y: g.y, taps: inputs.map((i) => ({ input: i, y: (centres.get(i) as { y: number }).y })) });
  }
  return { centres, buses, width: 2 * MARGIN_X + maxCol * COL_WIDTH, height: 2 * MARGIN_Y + (maxRow - minRow) * ROW_HEIGHT };
}

/** Tallest graph drawn at scale 1; a taller tree (hundreds of leaves) is scaled down to fit it. */
export const MAX_GRAPH_HEIGHT = 12_000;

/** Pixel size of the graph container and the scale the drawing is shown at (1 unless very tall). */
export function graphBox(geo: GraphGeometry): { width: number; height: number; scale: number } {
  const scale = Math.min(1, MAX_GRAPH_HEIGHT / geo.height);
  return { width: Math.ceil(geo.width * scale), height: Math.max(120, Math.ceil(geo.height * scale)), scale };
}

/** The graph's container: as wide and tall as the drawing, in a box that scrolls sideways. */
export function graphContainer(nodes: readonly ReportNode[], id: string): string {
  const box = graphBox(graphGeometry(nodes));
  return `<div style="overflow-x:auto"><div id="${id}" class="chart" data-nodes="${nodes.length}" style="width:${box.width}px;min-width:100%;height:${box.height}px"></div></div>`;
}

/** Browser code drawing the graph into `#id` (exposed on `window.ragomicsCharts[id]`). */
export function graphScript(nodes: readonly ReportNode[], id: string): string {
  const geo = graphGeometry(nodes);
  const box = graphBox(geo);
  const data: Array<Record<string, unknown>> = nodes.map((n) => {
    const p = geo.centres.get(n.status.id) ?? { x: MARGIN_X, y: MARGIN_Y };
    const block = n.block ? ('name' in n.block ? n.block.name : 'inline code') : n.status.block;
    return {
      name: n.status.id,
      x: p.x,
      y: p.y,
      value: n.status.state,
      symbolSize: [BOX_WIDTH, BOX_HEIGHT],
      itemStyle: { color: NODE_STATE_COLORS[n.status.state] ?? '#777' },
      label: { formatter: `${truncate(n.status.id, 22)}\n${truncate(block, 22)}` },
      details: tooltipRows(n, block),
    };
  });
  // Parent solid, other dependencies dashed; a gather's inputs through its bus (below), in blue.
  const links: unknown[] = nodes.flatMap((n) => n.dependencies.filter((dep) => !n.status.inputs?.includes(dep) || !geo.centres.has(dep)).map((dep) => ({
    source: dep, target: n.status.id,
    lineStyle: dep === n.status.parentId ? { type: 'solid', width: 1.5 } : { type: 'dashed', width: 1 },
  })));
  const busLine = { type: 'solid', width: 1.2, color: '#4f7cac' };
  for (const bus of geo.buses) {
    // Invisible points (names with a space: never a node id) carry the bus's corners.
    const junction = `bus ${bus.gather}`;
    data.push(busPoint(junction, bus.x, bus.y));
    for (const tap of bus.taps) {
      const corner = `bus ${bus.gather} ${tap.input}`;
      data.push(busPoint(corner, bus.x, tap.y));
      links.push({ source: tap.input, target: corner, symbol: ['none', 'none'], lineStyle: busLine, gather: bus.gather });
      links.push({ source: corner, target: junction, symbol: ['none', 'none'], lineStyle: busLine, gather: bus.gather });
    }
    links.push({ source: junction, target: bus.gather, lineStyle: { ...busLine, width: 2 }, gather: bus.gather });
  }
  const option = {
    animation: false,
    tooltip: { trigger: 'item', confine: true },
    series: [{
      type: 'graph', layout: 'none', roam: true,
      // The series box is the drawing's own size (scale 1): see graphGeometry.
      left: MARGIN_X * box.scale, top: MARGIN_Y * box.scale,
      width: Math.max(2, (geo.width - 2 * MARGIN_X) * box.scale), height: Math.max(2, (geo.height - 2 * MARGIN_Y) * box.scale), symbol: 'roundRect', draggable: false,
      label: { show: true, color: '#fff', fontSize: 11, lineHeight: 14 },
      edgeSymbol: ['none', 'arrow'], edgeSymbolSize: 7,
      lineStyle: { color: '#888', curveness: 0 },
      emphasis: { focus: 'adjacency' },
      data, links,
    }],
  };
  return chartScript(id, option, `  option.tooltip.formatter = function (p) {
    if (p.data.bus) return '';
    if (p.dataType === 'edge') return p.data.gather ? esc(p.data.gather) + ' reads its inputs' : esc(p.data.source) + ' → ' + esc(p.data.target);
    return '<table class="tip">' + (p.data.details || []).map(function (r) {
      return '<tr><td>' + esc(r[0]) + '</td><td style="max-width:460px;white-space:pre-wrap;font-family:monospace">' + esc(r[1]) + '</td></tr>';
    }).join('') + '</table>';
  };`);
}

/** An invisible point of a gather's bus. */
function busPoint(name: string, x: number, y: number): Record<string, unknown> {
  return { name, x, y, bus: true, symbolSize: 0, label: { show: false }, itemStyle: { color: 'rgba(0,0,0,0)' } };
}

function tooltipRows(n: ReportNode, block: string): [string, string][] {
  const s = n.status;
  const rows: [string, string][] = [['node', s.id], ['block', block], ['state', s.state], ['attempts', String(s.attempts)]];
  if (s.sample !== undefined) rows.splice(1, 0, ['sample', s.sample]);
  if (s.inputs) rows.push(['inputs', `${s.inputs.length}: ${s.inputs.length > 8 ? `${s.inputs.slice(0, 8).join(', ')}, …` : s.inputs.join(', ')}`]);
  if (s.startedAt) rows.push(['started', s.startedAt]);
  if (s.startedAt && s.endedAt) rows.push(['run time', `${((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000).toFixed(2)} s`]);
  if (n.block) rows.push(['parameters', JSON.stringify(n.block.parameters ?? {}, null, 1).slice(0, 2000)]);
  if (n.block && 'code' in n.block) rows.push(['code', n.block.code.slice(0, 600)]);
  if (n.result?.shape) rows.push(['output', `${n.result.shape[0]} cells × ${n.result.shape[1]} genes`]);
  if (n.result?.summary) rows.push(['summary', n.result.summary.slice(0, 600)]);
  // A published result that could not be read (torn, foreign, unreadable) says so here as in the table.
  if (n.result?.problem) rows.push(['result', n.result.problem.slice(0, 600)]);
  if (s.error) rows.push(['error', s.error.slice(0, 600)]);
  if (s.provenance) rows.push(['added by', provenanceText(s.provenance).slice(0, 800)]);
  for (const e of (s.events ?? []).slice(-5)) rows.push([e.kind, `${e.at}: ${e.detail.slice(0, 300)}`]);
  return rows;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
