/**
 * Seeing a cohort (issue 12, item 9) from synthetic data, no server: nodes grouped by sample, the
 * per-sample QC table read from published results in a temporary workspace (metrics, and the
 * fallbacks when they are missing), the report page's Samples section and grouped nodes table,
 * the graph of 24 samples (no two boxes overlap, bounded size, one lane per sample, the gather
 * centred on its inputs), and the timeline grouped by sample with a `sample` column in JSON/CSV.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { groupBySample, qcRows, sheetColumns } from '../../client/report/cohort';
import type { ReportData, ReportNode } from '../../client/report/collect';
import { BOX_HEIGHT, BOX_WIDTH, COL_WIDTH, graphGeometry, ROW_HEIGHT } from '../../client/report/graph';
import { reportHtml } from '../../client/report/html';
import { layoutTree } from '../../client/report/layout';
import { readPublishedResult } from '../../client/report/workspace';
import { renderTimeline } from '../../client/timeline';
import { sampleBands } from '../../client/timeline/chart';
import { buildGantt, timelineSamples } from '../../client/timeline/model';
import { timelineCsv, timelineJson } from '../../client/timeline/tabular';
import type { LiveNodeStatus, LiveTreeStatus } from '../../client/slot-wait';
import type { SampleStatus, TimelineEntry } from '../../workflows/views';

const ws = mkdtempSync(path.join(tmpdir(), 'ragomics-cohort-report-'));
after(() => rmSync(ws, { recursive: true, force: true }));

/** Publishes a node's output and `node-result.json` in the workspace; returns the output path. */
function publish(node: string, result: { shape: [number, number] | null; metrics?: Record<string, unknown>; summary?: string }): string {
  const dir = path.join(ws, 'trees', 'c1', 'nodes', node, 'published', 'attempt-1');
  mkdirSync(dir, { recursive: true });
  const out = path.join(dir, '_node_anndata.h5ad');
  writeFileSync(out, 'x');
  writeFileSync(path.join(dir, 'node-result.json'), JSON.stringify({ summary: result.summary ?? '', shape: result.shape, metrics: result.metrics ?? {} }));
  return out;
}

const T = '2025-01-01T00:00:0';
function statusNode(id: string, parentId: string | null, block: string, state: LiveNodeStatus['state'], extra: Partial<LiveNodeStatus> = {}): LiveNodeStatus {
  return { id, parentId, block, state, attempts: state === 'PENDING' ? 0 : 1, queuedAt: `${T}0.000Z`, startedAt: `${T}1.000Z`, endedAt: `${T}3.000Z`, error: null, ...extra };
}

const samples: SampleStatus[] = [
  { sample: 'S1', path: '/data/s1.h5ad', columns: { condition: 'ctrl', batch: 'b1' } },
  { sample: 'S2', path: '/data/s2.h5ad', columns: { condition: 'stim', batch: 'b1' } },
  { sample: 'S3', path: '/data/s3.h5ad', columns: { condition: 'stim', batch: 'b2', donor: 'd7' } },
  { sample: 'S4', path: '/data/s4.h5ad', columns: { condition: 'ctrl', batch: 'b2' } },
];

/**
 * S1: QC with its metrics. S2: a `load` node, then QC whose result has no before/after metrics
 * (before = the load node's output shape, after = QC's own shape). S3: QC reading the sample's
 * file, without metrics (before not recorded). S4: no QC node at all, a node still pending.
 * Then a gather over the samples and one node after it.
 */
function cohortNodes(): ReportNode[] {
  const st: LiveNodeStatus[] = [
    statusNode('qc_S1', null, 'quality_control', 'COMPLETED', { sample: 'S1', outputPath: publish('qc_S1', { shape: [900, 1500], metrics: { n_cells_before: 1000, n_cells_after: 900, n_genes_before: 2000, n_genes_after: 1500 } }) }),
    statusNode('norm_S1', 'qc_S1', 'normalize', 'COMPLETED', { sample: 'S1' }),
    statusNode('load_S2', null, 'sleep', 'COMPLETED', { sample: 'S2', outputPath: publish('load_S2', { shape: [1200, 2100] }) }),
    statusNode('qc_S2', 'load_S2', 'quality_control', 'COMPLETED', { sample: 'S2', outputPath: publish('qc_S2', { shape: [1100, 1900] }) }),
    statusNode('qc_S3', null, 'quality_control', 'COMPLETED', { sample: 'S3', outputPath: publish('qc_S3', { shape: [800, 1700] }) }),
    statusNode('norm_S4', null, 'normalize', 'RUNNING', { sample: 'S4', endedAt: null }),
    statusNode('hvg_S4', 'norm_S4', 'highly_variable_genes', 'PENDING', { sample: 'S4', startedAt: null, endedAt: null }),
    statusNode('merge', null, 'concatenate', 'PENDING', { inputs: ['norm_S1', 'qc_S2', 'qc_S3', 'hvg_S4'], startedAt: null, endedAt: null }),
    statusNode('cluster', 'merge', 'leiden', 'PENDING', { startedAt: null, endedAt: null }),
  ];
  return st.map((s) => ({
    status: s,
    block: { name: s.block as 'sleep', parameters: {} },
    dependencies: s.inputs ?? (s.parentId ? [s.parentId] : []),
    result: s.outputPath ? readPublishedResult(s.outputPath) : null,
    figures: [],
    logTail: null,
  }));
}

void test('nodes grouped by sample in sheet order, shared nodes last; no samples: one group', () => {
  const nodes = cohortNodes();
  const groups = groupBySample(nodes, samples);
  assert.deepEqual(groups.map((g) => [g.sample?.sample ?? null, g.nodes.map((n) => n.status.id)]), [
    ['S1', ['qc_S1', 'norm_S1']], ['S2', ['load_S2', 'qc_S2']], ['S3', ['qc_S3']], ['S4', ['norm_S4', 'hvg_S4']], [null, ['merge', 'cluster']],
  ]);
  assert.deepEqual(groupBySample(nodes, undefined).map((g) => [g.sample, g.nodes.length]), [[null, 9]]);
  assert.deepEqual(sheetColumns(samples), ['condition', 'batch', 'donor']);
});

void test('QC table: before/after from the QC metrics, else from published shapes (parent for before), and says which', () => {
  const nodes = cohortNodes();
  const rows = qcRows(groupBySample(nodes, samples), nodes);
  assert.deepEqual(rows.map((r) => [r.sample.sample, r.qcNode, r.before, r.after]), [
    ['S1', 'qc_S1', { cells: 1000, genes: 2000 }, { cells: 900, genes: 1500 }],
    ['S2', 'qc_S2', { cells: 1200, genes: 2100 }, { cells: 1100, genes: 1900 }],
    ['S3', 'qc_S3', { cells: null, genes: null }, { cells: 800, genes: 1700 }],
    ['S4', null, { cells: null, genes: null }, { cells: null, genes: null }],
  ]);
  assert.equal(rows[0]?.source, 'QC metrics');
  assert.equal(rows[1]?.source, 'after: QC output shape; before: output shape of load_S2');
  assert.match(rows[2]?.source ?? '', /^after: QC output shape; before: input shape not recorded/);
  assert.equal(rows[3]?.source, 'no quality_control node in this sample');
  assert.deepEqual(rows[3]?.nodes, [{ id: 'norm_S4', state: 'RUNNING' }, { id: 'hvg_S4', state: 'PENDING' }]);
  // A QC node whose result is not visible (not finished, or the workspace is elsewhere).
  const hidden = nodes.map((n) => (n.status.id === 'qc_S1' ? { ...n, result: null } : n));
  assert.match(qcRows(groupBySample(hidden, samples), hidden)[0]?.source ?? '', /^no published result of qc_S1 \(COMPLETED/);
});

const metrics = { totalProcessed: 5, avgWaitTime: 0.5, avgExecutionTime: 2, successRate: 1, makespan: 6, criticalPathLength: 6, parallelEfficiency: 0.5, totalAttempts: 5, retries: 0 };
function reportData(nodes: ReportNode[], withSamples: boolean): ReportData {
  const status: LiveTreeStatus = {
    treeId: 'c1', state: 'RUNNING', userRequest: '', paused: false, maxParallelJobs: 4, runningJobs: 1, queueSize: 0, totalProcessed: 5,
    counts: { PENDING: 3, WAITING: 0, READY: 0, RUNNING: 1, COMPLETED: 5, FAILED: 0, CANCELLED: 0, TIMEOUT: 0 }, totalNodes: nodes.length, offset: 0,
    nodes: nodes.map((n) => n.status), rejected: [], metrics, runs: 1, ...(withSamples ? { samples } : {}),
  };
  const timeline: TimelineEntry[] = nodes.map((n) => ({
    node: n.status.id, parentId: n.status.parentId, block: n.status.block, attempt: n.status.attempts, state: n.status.state === 'PENDING' ? 'CANCELLED' : n.status.state as 'COMPLETED',
    queued: n.status.queuedAt, ready: n.status.queuedAt, started: n.status.startedAt, ended: n.status.endedAt, duration: null, worker: 'w', exitCode: null, peakMemoryMB: null, error: null,
  }));
  return { status, timeline, nodes, generatedAt: new Date('2025-01-01T00:00:10Z'), workspaceTreeDir: path.join(ws, 'trees', 'c1') };
}

void test('report page of a cohort: Samples section with one QC row per sample, nodes table grouped by sample', () => {
  const html = reportHtml(reportData(cohortNodes(), true));
  const section = /<h2>Samples<\/h2>[\s\S]*?<table id="samples">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  assert.match(section, /<th>sample<\/th><th>condition<\/th><th>batch<\/th><th>donor<\/th><th>cells before<\/th><th>cells after<\/th><th>genes before<\/th><th>genes after<\/th>/);
  assert.deepEqual([...section.matchAll(/<tr class="sample-row" data-sample="([^"]+)">/g)].map((m) => m[1]), ['S1', 'S2', 'S3', 'S4']);
  assert.match(section, /data-sample="S1"><td>S1<\/td><td>ctrl<\/td><td>b1<\/td><td><\/td><td class="num">1000<\/td><td class="num">900<\/td><td class="num">2000<\/td><td class="num">1500<\/td>/);
  assert.match(section, /data-sample="S3"><td>S3<\/td><td>stim<\/td><td>b2<\/td><td>d7<\/td><td class="num"><\/td><td class="num">800<\/td>/);
  assert.match(section, /title="hvg_S4: PENDING"/, 'each node of a sample with its state');
  // Nodes table: a header per sample in sheet order, then the shared nodes; every node once.
  const table = /<table id="nodes">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  const order = [...table.matchAll(/<tr class="(sample-group|node-row)" data-(?:sample|node)="([^"]*)"/g)].map((m) => (m[1] === 'sample-group' ? `#${m[2]}` : m[2]));
  assert.deepEqual(order, ['#S1', 'qc_S1', 'norm_S1', '#S2', 'load_S2', 'qc_S2', '#S3', 'qc_S3', '#S4', 'norm_S4', 'hvg_S4', '#', 'merge', 'cluster']);
  assert.match(table, /sample S4 <span class="meta">\(condition=ctrl, batch=b2\)<\/span> <span class="meta">2 node\(s\): 1 RUNNING, 1 PENDING<\/span>/);
  assert.match(table, /shared nodes \(gathers and after\)/);
  // Hovering a node of the graph names its sample; a gather lists its inputs.
  assert.ok(html.includes('["node","qc_S2"],["sample","S2"]'));
  assert.ok(html.includes('["inputs","4: norm_S1, qc_S2, qc_S3, hvg_S4"]'));
  // The timeline of the report is grouped by sample too.
  assert.ok(html.includes('[S1] qc_S1 #1'));
});

void test('report page of a tree without samples: no Samples section, no group rows', () => {
  const nodes = cohortNodes().map((n) => ({ ...n, status: { ...n.status, sample: undefined } }));
  const html = reportHtml(reportData(nodes, false));
  assert.doesNotMatch(html, /<h2>Samples<\/h2>|class="sample-group"|\[S1\]/);
  assert.equal(html.match(/<tr class="node-row"/g)?.length, 9);
});

/** `n` samples × qc → norm → hvg, a gather over hvg, and clustering after it. */
function bigCohort(n: number): ReportNode[] {
  const out: ReportNode[] = [];
  const node = (id: string, parentId: string | null, sample?: string, inputs?: string[]): ReportNode => ({
    status: statusNode(id, parentId, 'sleep', 'COMPLETED', { ...(sample ? { sample } : {}), ...(inputs ? { inputs } : {}) }),
    block: { name: 'sleep', parameters: {} }, dependencies: inputs ?? (parentId ? [parentId] : []), result: null, figures: [], logTail: null,
  });
  const ids = Array.from({ length: n }, (_, i) => `P${String(i + 1).padStart(2, '0')}`);
  for (const s of ids) out.push(node(`qc_${s}`, null, s), node(`norm_${s}`, `qc_${s}`, s), node(`hvg_${s}`, `norm_${s}`, s));
  out.push(node('merge', null, undefined, ids.map((s) => `hvg_${s}`)), node('integrate', 'merge'), node('leiden', 'integrate'), node('umap', 'integrate'));
  return out;
}

void test('graph of 24 samples: one lane per sample, the gather centred on its inputs, no two boxes overlap, bounded size', () => {
  const nodes = bigCohort(24);
  const geo = graphGeometry(nodes);
  assert.equal(geo.centres.size, nodes.length);
  const boxes = [...geo.centres.entries()];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, pa] = boxes[i] as [string, { x: number; y: number }];
      const [b, pb] = boxes[j] as [string, { x: number; y: number }];
      const apart = Math.abs(pa.x - pb.x) >= BOX_WIDTH + 20 || Math.abs(pa.y - pb.y) >= BOX_HEIGHT + 8;
      assert.ok(apart, `${a} at (${pa.x}, ${pa.y}) overlaps ${b} at (${pb.x}, ${pb.y})`);
    }
  }
  // A lane per sample: its three nodes on one row, left to right; lanes in sheet order.
  const at = (id: string) => geo.centres.get(id) as { x: number; y: number };
  for (let i = 1; i <= 24; i++) {
    const s = `P${String(i).padStart(2, '0')}`;
    assert.equal(at(`qc_${s}`).y, at(`hvg_${s}`).y);
    assert.ok(at(`qc_${s}`).x < at(`norm_${s}`).x && at(`norm_${s}`).x < at(`hvg_${s}`).x);
  }
  assert.ok(at('qc_P01').y < at('qc_P24').y);
  // The gather right of every input, halfway down the lanes; what follows it right of it.
  assert.equal(at('merge').x, at('hvg_P01').x + COL_WIDTH);
  assert.equal(at('merge').y, (at('hvg_P01').y + at('hvg_P24').y) / 2);
  assert.ok(at('integrate').x > at('merge').x && at('leiden').x > at('integrate').x);
  // One fan-in: a single bus whose bar lies in the gap between the inputs' boxes and the gather's box.
  assert.equal(geo.buses.length, 1);
  const bus = geo.buses[0]!;
  assert.equal(bus.gather, 'merge');
  assert.deepEqual(bus.taps.map((t) => [t.input, t.y]), Array.from({ length: 24 }, (_, i) => `hvg_P${String(i + 1).padStart(2, '0')}`).map((id) => [id, at(id).y]));
  assert.ok(bus.x > at('hvg_P01').x + BOX_WIDTH / 2 && bus.x < at('merge').x - BOX_WIDTH / 2, `bus at x=${bus.x}`);
  assert.equal(bus.y, at('merge').y);
  // Bounded: 6 columns and 24 rows of boxes plus margins, whatever the ids.
  console.log(`# graph of 24 samples × 3 + 4 shared nodes: ${geo.width} × ${geo.height} px`);
  assert.ok(geo.width <= 5 * COL_WIDTH + BOX_WIDTH + 60, `width ${geo.width}`);
  assert.ok(geo.height <= 24 * ROW_HEIGHT + BOX_HEIGHT + 40, `height ${geo.height}`);
  assert.ok(ROW_HEIGHT >= BOX_HEIGHT + 8 && COL_WIDTH >= BOX_WIDTH + 20, 'rows and columns wider than a box');
  // The page: the container has the drawing's size (drawn at scale 1).
  const html = reportHtml(reportData(nodes, false));
  assert.match(html, new RegExp(`id="tree-graph" class="chart" data-nodes="${nodes.length}" style="width:${geo.width}px;min-width:100%;height:${geo.height}px"`));
});

void test('layout: a gather whose centred place is taken goes below everything; dependency columns point right', () => {
  // `long` is a root whose chain reaches column 2 on the middle row: a gather over a/b/c (column 1 → 2) cannot sit there.
  const { placed } = layoutTree([
    { id: 'a', parentId: null }, { id: 'long', parentId: null }, { id: 'l1', parentId: 'long' }, { id: 'l2', parentId: 'l1' }, { id: 'c', parentId: null },
    { id: 'g', parentId: null, inputs: ['a', 'long', 'c'], dependencies: ['a', 'long', 'c'] },
  ]);
  assert.deepEqual(placed.get('g'), { id: 'g', col: 1, row: 3 }, 'column 1 row 1 is l1: below everything instead');
  const ok = layoutTree([{ id: 'a', parentId: null }, { id: 'b', parentId: null }, { id: 'c', parentId: null }, { id: 'g', parentId: null, inputs: ['a', 'b', 'c'] }, { id: 'h', parentId: 'g' }]);
  assert.deepEqual([ok.placed.get('g'), ok.placed.get('h'), ok.rows, ok.cols], [{ id: 'g', col: 1, row: 1 }, { id: 'h', col: 2, row: 1 }, 3, 3]);
  // A dependency that is not the parent moves the node right of it.
  const dep = layoutTree([{ id: 'r', parentId: null }, { id: 'x', parentId: 'r' }, { id: 'y', parentId: 'x' }, { id: 'z', parentId: 'r', dependencies: ['y'] }]);
  assert.equal(dep.placed.get('z')?.col, 3);
});

void test('timeline of a cohort: rows grouped by sample with a label; JSON/CSV gain a last `sample` column; without samples unchanged', () => {
  const data = reportData(cohortNodes(), true);
  // Entries in an interleaved order (as a running tree records them): grouping restores the sheet order.
  const entries = [...data.timeline].sort((a, b) => a.node.localeCompare(b.node));
  const ts = timelineSamples(data.status);
  assert.ok(ts);
  const model = buildGantt(entries, Date.parse('2025-01-01T00:00:10Z'), new Map(), ts);
  assert.deepEqual(model.rows.map((r) => r.sample), ['S1', 'S1', 'S2', 'S2', 'S3', 'S4', 'S4', null, null]);
  assert.deepEqual(model.rows.slice(0, 2).map((r) => r.label), ['[S1] norm_S1 #1', '[S1] qc_S1 #1']);
  assert.equal(model.rows[7]?.label, 'cluster (not run)');
  // Alternating shades span one sample each (a band starts at each sample's first row); none without samples.
  assert.deepEqual(sampleBands(model), [true, false, true, false, true, true, false, true, false]);
  assert.equal(sampleBands(buildGantt(entries)), null);
  // The static SVG shades every other sample: S2 and S4 (rows 2-3 and 5-6, 0-based).
  const svg = renderTimeline('c1', entries, 'svg', { now: Date.parse('2025-01-01T00:00:10Z'), samples: ts });
  assert.equal(svg.match(/fill="rgb\(70,130,180\)" fill-opacity="0\.09"/g)?.length, 2);
  assert.doesNotMatch(renderTimeline('c1', entries, 'svg', { now: Date.parse('2025-01-01T00:00:10Z') }), /fill="rgb\(70,130,180\)"/);
  const csv = timelineCsv(entries, ts).split('\r\n');
  assert.equal(csv[0], 'node,parent_id,block,attempt,state,queued,ready,started,ended,duration,wait,exit_code,peak_memory_mb,worker,error,sample');
  assert.match(csv.find((l) => l.startsWith('qc_S2,')) ?? '', /,S2$/);
  assert.match(csv.find((l) => l.startsWith('merge,')) ?? '', /,$/, 'empty for a shared node');
  const json = JSON.parse(timelineJson('c1', entries, new Date(), ts)) as { attempts: Array<Record<string, unknown>> };
  assert.deepEqual(json.attempts.map((a) => [a.node, a.sample]).slice(0, 3), [['cluster', null], ['hvg_S4', 'S4'], ['load_S2', 'S2']], 'entry order kept');
  assert.equal(Object.keys(json.attempts[0] ?? {}).at(-1), 'sample');
  // Without samples: exactly the old columns.
  assert.doesNotMatch(timelineCsv(entries).split('\r\n')[0] ?? '', /sample/);
  assert.equal('sample' in (JSON.parse(timelineJson('c1', entries)) as { attempts: object[] }).attempts[0]!, false);
  // HTML: a sample column and a header row per sample in the attempts table.
  const html = renderTimeline('c1', entries, 'html', { now: Date.parse('2025-01-01T00:00:10Z'), samples: ts });
  const groups = [...html.matchAll(/<tr class="sample-group" data-sample="([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(groups, ['S1', 'S2', 'S3', 'S4', '']);
  assert.match(html, /sample S3 <span class="meta">\(condition=stim, batch=b2, donor=d7\)<\/span>/);
  assert.ok(html.includes('[S4] hvg_S4 (not run)') || html.includes('[S4] hvg_S4 #'), 'chart labels carry the sample');
});
