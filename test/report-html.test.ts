/**
 * The tree report from synthetic data (no server): workspace reading (published results,
 * figures as data URIs, log tails of failed nodes), the tidy layout of the graph, and the
 * rendered page (one self-contained file; every section present).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { layoutTree } from '../client/report/layout';
import { logTail, readFigures, readPublishedResult, treeDir } from '../client/report/workspace';
import { reportHtml } from '../client/report/html';
import type { ReportData, ReportNode } from '../client/report/collect';
import type { LiveNodeStatus, LiveTreeStatus } from '../client/slot-wait';
import type { NodeStatus, TreeStatus } from '../workflows/views';

const ws = mkdtempSync(path.join(tmpdir(), 'ragomics-report-'));
after(() => rmSync(ws, { recursive: true, force: true }));
// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

const tree = path.join(ws, 'trees', 'rep1');
const published = path.join(tree, 'nodes', 'pca', 'published', 'attempt-1');
mkdirSync(path.join(published, 'figures'), { recursive: true });
writeFileSync(path.join(published, '_node_anndata.h5ad'), 'x');
writeFileSync(path.join(published, 'figures', 'pca.png'), PNG);
writeFileSync(path.join(published, 'figures', 'notes.txt'), 'not a figure');
writeFileSync(path.join(published, 'node-result.json'), JSON.stringify({ summary: 'PCA with 30 components', shape: [2700, 1838], metrics: { variance: 0.4 } }));
const attempts = path.join(tree, 'nodes', 'leiden', 'attempts', '1-1');
mkdirSync(attempts, { recursive: true });
writeFileSync(path.join(attempts, 'stderr.log'), `${'noise\n'.repeat(50_000)}Traceback (most recent call last):\nValueError: resolution must be positive\n`);

const node = (id: string, parentId: string | null, state: NodeStatus['state'], extra: Partial<LiveNodeStatus> = {}): LiveNodeStatus => ({
  id, parentId, block: id, state, attempts: 1, queuedAt: '2025-01-01T00:00:00.000Z', startedAt: '2025-01-01T00:00:01.000Z', endedAt: '2025-01-01T00:00:03.000Z', error: null, ...extra,
});

void test('workspace: published result, figures as data URIs (images only), tree folder, log tail', () => {
  const out = path.join(published, '_node_anndata.h5ad');
  assert.deepEqual(readPublishedResult(out), { summary: 'PCA with 30 components', shape: [2700, 1838], metrics: { variance: 0.4 } });
  const figures = readFigures(out);
  assert.deepEqual(figures.map((f) => f.name), ['pca.png']);
  assert.equal(figures[0]?.dataUri, `data:image/png;base64,${PNG.toString('base64')}`);
  assert.equal(treeDir('rep1', [out], '/elsewhere'), tree);
  assert.equal(treeDir('rep1', [], ws), tree);
  const tail = logTail(tree, 'leiden');
  assert.ok(tail);
  assert.match(tail.text, /ValueError: resolution must be positive\n?$/);
  assert.ok(tail.text.split('\n').length <= 42, 'only the last lines');
  assert.equal(logTail(tree, 'unknown'), null);
});

void test('layout: depth along x, leaves on their own rows, parents centred, several roots, deep chains', () => {
  const { placed, rows, cols } = layoutTree([
    { id: 'r', parentId: null }, { id: 'a', parentId: 'r' }, { id: 'b', parentId: 'r' }, { id: 'a1', parentId: 'a' }, { id: 'a2', parentId: 'a' }, { id: 'r2', parentId: null },
  ]);
  assert.deepEqual([rows, cols], [4, 3]);
  assert.deepEqual(placed.get('a1'), { id: 'a1', col: 2, row: 0 });
  assert.deepEqual(placed.get('a'), { id: 'a', col: 1, row: 0.5 });
  assert.equal(placed.get('r')?.row, (0.5 + 2) / 2);
  assert.equal(placed.get('r2')?.row, 3);
  const chain = Array.from({ length: 20_000 }, (_, i) => ({ id: `n${i}`, parentId: i ? `n${i - 1}` : null }));
  assert.equal(layoutTree(chain).cols, 20_000, 'no recursion limit');
});

void test('report page: graph, metrics, nodes with parameters, timeline, figures, errors with log tails', () => {
  const statusNodes = [
    node('qc', null, 'COMPLETED'),
    node('pca', 'qc', 'COMPLETED', { outputPath: path.join(published, '_node_anndata.h5ad') }),
    node('leiden', 'pca', 'FAILED', { error: 'block leiden raised ValueError' }),
  ];
  const metrics = { totalProcessed: 3, avgWaitTime: 0.5, avgExecutionTime: 2, successRate: 2 / 3, makespan: 6, criticalPathLength: 6, parallelEfficiency: 0.33, totalAttempts: 3, retries: 0 };
  const status: TreeStatus = {
    treeId: 'rep1', state: 'FAILED', userRequest: 'cluster <PBMC> cells', paused: false, maxParallelJobs: 3, runningJobs: 0, queueSize: 0, totalProcessed: 3,
    counts: { PENDING: 0, WAITING: 0, READY: 0, RUNNING: 0, COMPLETED: 2, FAILED: 1, CANCELLED: 0, TIMEOUT: 0 }, totalNodes: 3, offset: 0, nodes: statusNodes, rejected: [], metrics, runs: 1,
  };
  const nodes: ReportNode[] = statusNodes.map((s) => ({
    status: s,
    block: { name: s.id as 'pca', parameters: s.id === 'pca' ? { n_comps: 30 } : {} },
    dependencies: s.parentId ? [s.parentId] : [],
    result: s.outputPath ? readPublishedResult(s.outputPath) : null,
    figures: s.outputPath ? readFigures(s.outputPath) : [],
    logTail: s.state === 'FAILED' ? logTail(tree, s.id) : null,
  }));
  const timeline = statusNodes.map((s) => ({
    node: s.id, parentId: s.parentId, block: s.block, attempt: 1, state: s.state as 'COMPLETED', queued: s.queuedAt, ready: s.queuedAt, started: s.startedAt, ended: s.endedAt,
    duration: 2, worker: 'w', exitCode: null, peakMemoryMB: null, error: s.error,
  }));
  const data: ReportData = { status, timeline, nodes, generatedAt: new Date('2025-01-01T00:01:00Z'), workspaceTreeDir: tree };
  const html = reportHtml(data);
  assert.match(html, /^<!DOCTYPE html>/);
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'self-contained');
  assert.ok(html.includes('cluster &lt;PBMC&gt; cells'), 'user text is escaped');
  assert.equal(html.match(/<tr class="node-row"/g)?.length, 3);
  assert.ok(html.includes('{&quot;n_comps&quot;:30}'), 'parameters in the nodes table');
  assert.ok(html.includes('2700 × 1838'));
  assert.equal(html.match(/<img class="figure"[^>]+src="data:image\/png;base64,/g)?.length, 1);
  assert.match(html, /<div class="error" data-node="leiden">[\s\S]*block leiden raised ValueError[\s\S]*ValueError: resolution must be positive/);
  assert.ok(html.includes('id="tree-graph"') && html.includes('id="report-timeline"') && html.includes('id="metrics"'));
});

void test('report page of a running tree: a dispatched node no worker started shows why it waits', () => {
  const wait = { kind: 'worker-slot' as const, taskQueue: 'q1', since: '2025-01-01T00:00:02.000Z', attempt: 1, reason: 'waiting for a worker slot on task queue "q1": activity scheduled, not yet started' };
  const statusNodes: LiveNodeStatus[] = [
    node('a', null, 'RUNNING', { endedAt: null }),
    node('b', null, 'RUNNING', { startedAt: null, endedAt: null, waitingFor: wait }),
  ];
  const metrics = { totalProcessed: 0, avgWaitTime: 0, avgExecutionTime: 0, successRate: 0, makespan: 0, criticalPathLength: 0, parallelEfficiency: 0, totalAttempts: 2, retries: 0 };
  const status: LiveTreeStatus = {
    treeId: 'rep2', state: 'RUNNING', userRequest: '', paused: false, maxParallelJobs: 2, runningJobs: 2, queueSize: 0, totalProcessed: 0,
    counts: { PENDING: 0, WAITING: 0, READY: 0, RUNNING: 2, COMPLETED: 0, FAILED: 0, CANCELLED: 0, TIMEOUT: 0 }, totalNodes: 2, offset: 0, nodes: statusNodes, rejected: [], metrics, runs: 1,
    waitingForWorkerSlot: 1,
  };
  const nodes: ReportNode[] = statusNodes.map((s) => ({ status: s, block: { name: 'sleep', parameters: {} }, dependencies: [], result: null, figures: [], logTail: null }));
  const html = reportHtml({ status, timeline: [], nodes, generatedAt: new Date('2025-01-01T00:00:05Z'), workspaceTreeDir: tree });
  assert.match(html, /<div class="error" id="slot-waits"><b>1 dispatched node\(s\) not started yet<\/b>[\s\S]*<b>b<\/b>: waiting for a worker slot on task queue &quot;q1&quot;/);
  assert.equal(html.match(/class="meta slot-wait"/g)?.length, 1, 'only the waiting node carries the note in the nodes table');
});

void test('workspace: a node-result.json that is not JSON or not a node result is named in the page, never shown as empty', () => {
  const dir = (name: string): string => {
    const d = path.join(tree, 'nodes', name, 'published', 'attempt-1');
    mkdirSync(d, { recursive: true });
    return d;
  };
  const torn = path.join(dir('torn'), '_node_anndata.h5ad');
  writeFileSync(path.join(path.dirname(torn), 'node-result.json'), '{"summary": "half wri');
  const wrong = path.join(dir('wrong'), '_node_anndata.h5ad');
  writeFileSync(path.join(path.dirname(wrong), 'node-result.json'), JSON.stringify({ summary: 'ok', shape: [2700] }));
  const unreadable = path.join(dir('isdir'), '_node_anndata.h5ad');
  mkdirSync(path.join(path.dirname(unreadable), 'node-result.json'));
  assert.equal(readPublishedResult(torn)?.problem, `${path.join(path.dirname(torn), 'node-result.json')} is not JSON`);
  assert.match(readPublishedResult(wrong)?.problem ?? '', /node-result\.json is not a node result \(shape: /);
  assert.match(readPublishedResult(unreadable)?.problem ?? '', /node-result\.json could not be read \(EISDIR\)/);
  assert.equal(readPublishedResult(path.join(tree, 'nodes', 'absent', 'published', 'attempt-1', '_node_anndata.h5ad')), null, 'nothing published: no result, no problem');
  // Defaults of the schema fill what an older writer left out.
  const old = path.join(dir('old'), '_node_anndata.h5ad');
  writeFileSync(path.join(path.dirname(old), 'node-result.json'), JSON.stringify({ summary: 'from an older worker' }));
  assert.deepEqual(readPublishedResult(old), { summary: 'from an older worker', shape: null, metrics: {} });

  const s = node('wrong', null, 'COMPLETED', { outputPath: wrong, summary: 'the status summary' });
  const status: TreeStatus = {
    treeId: 'rep3', state: 'COMPLETED', userRequest: '', paused: false, maxParallelJobs: 1, runningJobs: 0, queueSize: 0, totalProcessed: 1,
    counts: { PENDING: 0, WAITING: 0, READY: 0, RUNNING: 0, COMPLETED: 1, FAILED: 0, CANCELLED: 0, TIMEOUT: 0 }, totalNodes: 1, offset: 0, nodes: [s], rejected: [],
    metrics: { totalProcessed: 1, avgWaitTime: 0, avgExecutionTime: 2, successRate: 1, makespan: 2, criticalPathLength: 2, parallelEfficiency: 1, totalAttempts: 1, retries: 0 }, runs: 1,
  };
  const html = reportHtml({ status, timeline: [], nodes: [{ status: s, block: { name: 'pca', parameters: {} }, dependencies: [], result: readPublishedResult(wrong), figures: [], logTail: null }], generatedAt: new Date('2025-01-01T00:00:05Z'), workspaceTreeDir: tree });
  assert.match(html, /<div class="meta">[^<]*node-result\.json is not a node result \(shape: /, 'the problem is in the nodes table');
  assert.match(html, /\["result","[^"]*node-result\.json is not a node result \(shape: /, "and in the graph's tooltip of the node");
});
