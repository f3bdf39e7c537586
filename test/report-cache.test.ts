/**
 * Cache statistics in the report and in `ragomics status` (no server): a status whose nodes carry
 * the cache feature's `cache` field (hits from another tree, a hit that waited for another tree,
 * a miss, a node that is not cacheable) over a workspace laid out as the store and publishing
 * lay it out. Hits and misses come from the status; bytes saved from `entry.json` (else the hit's
 * published files); compute seconds saved from the source attempt's `node-result.json`. A hit
 * whose facts are not visible counts as unmeasured. Also: a forked tree's origin in both views.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cacheStats, formatBytes, formatCacheStats, workspaceRootOf, workspaceSavings } from '../client/cache-stats';
import { reportHtml } from '../client/report/html';
import type { ReportNode } from '../client/report/collect';
import { renderStatusText, toContractStatus } from '../client/cli/status-view';
import type { LiveNodeStatus, LiveTreeStatus } from '../client/slot-wait';

const ws = mkdtempSync(path.join(tmpdir(), 'ragomics-report-cache-'));
after(() => rmSync(ws, { recursive: true, force: true }));

const KEY_PCA = 'a'.repeat(64), KEY_HVG = 'b'.repeat(64), KEY_LEIDEN = 'c'.repeat(64), KEY_UMAP = 'd'.repeat(64);
const SOURCE = 'src-tree.0a1b2c3d';

/** A published attempt folder with the given files; returns its `_node_anndata.h5ad` path. */
function published(tree: string, node: string, attempt: number, files: Record<string, string | object>): string {
  const dir = path.join(ws, 'trees', tree, 'nodes', node, 'published', `attempt-${attempt}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return path.join(dir, '_node_anndata.h5ad');
}

// The source attempts, as the first tree published them: pca ran 12.5 s, hvg 3 s.
published(SOURCE, 'pca', 1, { '_node_anndata.h5ad': 'x'.repeat(100), 'node-result.json': { startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:12.500Z' } });
published(SOURCE, 'hvg', 2, { '_node_anndata.h5ad': 'y'.repeat(100), 'node-result.json': { startedAt: '2026-01-01T00:01:00.000Z', endedAt: '2026-01-01T00:01:03.000Z' } });
// The store's entry of pca says how many bytes it holds; hvg's entry has no entry.json visible.
mkdirSync(path.join(ws, 'cache', 'entries', KEY_PCA), { recursive: true });
writeFileSync(path.join(ws, 'cache', 'entries', KEY_PCA, 'entry.json'), JSON.stringify({ key: KEY_PCA, createdAt: '2026-01-01T00:00:13.000Z', bytes: 1_572_864 }));

// The hitting tree's published folders (hard links in real life; plain files are enough here).
const pcaOut = published('t2.99887766', 'pca', 1, { '_node_anndata.h5ad': 'x'.repeat(100), 'node-result.json': { cached: true } });
// hvg: 300 + 50 bytes of output files; its own node-result.json is not counted; `cachedFrom` names the source.
const hvgOut = published('t2.99887766', 'hvg', 1, {
  '_node_anndata.h5ad': 'y'.repeat(300), 'figures/hvg.png': 'z'.repeat(50),
  'node-result.json': { cached: true, cachedFrom: { treeId: SOURCE, nodeId: 'hvg', attempt: 2 } },
});
const umapOut = published('t2.99887766', 'umap', 1, { '_node_anndata.h5ad': 'u' });

const node = (id: string, parentId: string | null, extra: Partial<LiveNodeStatus> & { cache?: unknown } = {}): LiveNodeStatus => ({
  id, parentId, block: id, state: 'COMPLETED', attempts: 1, queuedAt: '2026-01-01T00:02:00.000Z', startedAt: '2026-01-01T00:02:01.000Z', endedAt: '2026-01-01T00:02:01.100Z', error: null, ...extra,
});

const statusNodes: LiveNodeStatus[] = [
  node('pca', null, { outputPath: pcaOut, cache: { key: KEY_PCA, hit: true, from: { treeId: SOURCE, nodeId: 'pca', attempt: 1 } } } as Partial<LiveNodeStatus>),
  node('hvg', 'pca', { outputPath: hvgOut, cache: { key: KEY_HVG, hit: true, waitedFor: { treeId: 't3', nodeId: 'hvg' } } } as Partial<LiveNodeStatus>),
  node('umap', 'hvg', { outputPath: umapOut, cache: { key: KEY_UMAP, hit: true, from: { treeId: 'gone.00000000', nodeId: 'umap', attempt: 1 } } } as Partial<LiveNodeStatus>),
  node('leiden', 'hvg', { cache: { key: KEY_LEIDEN, hit: false } } as Partial<LiveNodeStatus>),
  node('sleepy', 'pca'),
];
const ORIGIN = { treeId: 'parent-tree', nodeId: 'qc', outputPath: '/ws/trees/parent-tree.1/nodes/qc/published/attempt-1/_node_anndata.h5ad', outputSha256: 'e'.repeat(64) };

function status(nodes: LiveNodeStatus[], extra: Partial<LiveTreeStatus> = {}): LiveTreeStatus {
  return {
    treeId: 't2', state: 'COMPLETED', userRequest: '', paused: false, maxParallelJobs: 3, runningJobs: 0, queueSize: 0, totalProcessed: nodes.length,
    counts: { PENDING: 0, WAITING: 0, READY: 0, RUNNING: 0, COMPLETED: nodes.length, FAILED: 0, CANCELLED: 0, TIMEOUT: 0 }, totalNodes: nodes.length, offset: 0, nodes, rejected: [],
    metrics: { totalProcessed: nodes.length, avgWaitTime: 0, avgExecutionTime: 0.1, successRate: 1, makespan: 1, criticalPathLength: 1, parallelEfficiency: 0.3, totalAttempts: nodes.length, retries: 0 },
    runs: 1, ...extra,
  };
}

void test('cacheStats: hits and misses from the status; bytes from entry.json or the published files; seconds from the source attempt', () => {
  assert.equal(workspaceRootOf(pcaOut), ws);
  assert.equal(workspaceRootOf('/elsewhere/x.h5ad'), null);
  const s = cacheStats(statusNodes, workspaceSavings());
  assert.deepEqual(s, {
    cacheable: 4, hits: 3, misses: 1, sharedWaits: 1,
    bytesSaved: 1_572_864 + 350 + 1, // pca's entry.json; hvg's output + figure; umap's 1-byte output
    computeSecondsSaved: 15.5, // 12.5 (pca) + 3 (hvg); umap's source is gone
    unmeasured: 1,
  });
  // Without the workspace: counts only, every hit unmeasured.
  assert.deepEqual(cacheStats(statusNodes), { cacheable: 4, hits: 3, misses: 1, sharedWaits: 1, bytesSaved: 0, computeSecondsSaved: 0, unmeasured: 3 });
  // An explicit root that holds nothing: nothing measured.
  assert.equal(cacheStats(statusNodes, workspaceSavings(path.join(ws, 'nope'))).computeSecondsSaved, 0);
  // A malformed cache field is ignored, not counted.
  assert.equal(cacheStats([node('x', null, { cache: { hit: 'yes' } } as unknown as Partial<LiveNodeStatus>)]).cacheable, 0);
  assert.equal(formatCacheStats(s), '3 hits, 1 miss (1 after waiting for another tree); saved 1.5 MB and 15.5s of compute (1 hit not measured: workspace not visible from here)');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KB');
});

void test('report: cache cards, a note per cacheable node, the fork origin; none of it for a tree without them', () => {
  const st = status(statusNodes, { origin: ORIGIN });
  const nodes: ReportNode[] = st.nodes.map((s) => ({ status: s, block: { name: 'sleep', parameters: {} }, dependencies: s.parentId ? [s.parentId] : [], result: null, figures: [], logTail: null }));
  const html = reportHtml({ status: st, timeline: [], nodes, generatedAt: new Date('2026-01-01T00:03:00Z'), workspaceTreeDir: path.join(ws, 'trees', 't2.99887766'), cache: cacheStats(st.nodes, workspaceSavings(ws)) });
  const cards = /<div class="cards" id="cache-stats">([\s\S]*?)<\/div><div class="meta">1 hit\(s\) not measured/.exec(html)?.[1];
  assert.ok(cards, 'cache cards with the unmeasured note');
  const card = (label: string) => new RegExp(`<b>([^<]*)</b><span>${label}</span>`).exec(cards)?.[1];
  assert.deepEqual([card('cache hits'), card('cache misses'), card('shared waits'), card('bytes saved'), card('compute saved')], ['3', '1', '1', '1.5 MB', '15.50 s']);
  assert.equal(html.match(/class="meta cache-hit"/g)?.length, 3);
  assert.equal(html.match(/class="meta cache-miss"/g)?.length, 1);
  assert.ok(html.includes(`cached from ${SOURCE}/pca attempt 1</div>`));
  assert.ok(html.includes('cached after waiting for t3/hvg</div>'));
  assert.match(html, /<div class="meta" id="origin">Forked from tree <b>parent-tree<\/b>, node <b>qc<\/b>/);

  const plain = status([node('a', null), node('b', 'a')]);
  const none = reportHtml({ status: plain, timeline: [], nodes: plain.nodes.map((s) => ({ status: s, block: null, dependencies: [], result: null, figures: [], logTail: null })), generatedAt: new Date(), workspaceTreeDir: ws });
  assert.ok(!none.includes('id="cache-stats"') && !none.includes('cache-hit') && !none.includes('id="origin"'));
});

void test('ragomics status (human): the cache line, "cached from" under each hit, the origin; --json carries origin', () => {
  const st = status(statusNodes, { origin: ORIGIN });
  const text = renderStatusText(st, Date.parse('2026-01-01T00:03:00Z'), cacheStats(st.nodes, workspaceSavings()));
  assert.ok(text.includes('\n  cache: 3 hits, 1 miss (1 after waiting for another tree); saved 1.5 MB and 15.5s of compute (1 hit not measured'), text);
  assert.ok(text.includes(`\n    ↳ cached from ${SOURCE}/pca attempt 1\n`), text);
  assert.ok(text.includes('\n    ↳ cached (after waiting for t3/hvg)\n'), text);
  assert.ok(text.includes(`\n  forked from tree parent-tree, node qc: ${ORIGIN.outputPath} (sha256 eeeeeeeeeeee…)\n`), text);
  assert.deepEqual(toContractStatus(st).origin, ORIGIN);
  const plain = status([node('a', null)]);
  const plainText = renderStatusText(plain, Date.now(), cacheStats(plain.nodes));
  assert.ok(!plainText.includes('cache:') && !plainText.includes('forked from'));
  assert.equal('origin' in toContractStatus(plain), false);
});

void test('cacheStats: a workspace fact of the wrong form leaves the hit unmeasured, never read as a number', () => {
  const key = 'e'.repeat(64);
  mkdirSync(path.join(ws, 'cache', 'entries', key), { recursive: true });
  writeFileSync(path.join(ws, 'cache', 'entries', key, 'entry.json'), JSON.stringify({ key, bytes: '1.5 MB' }));
  const out = published('t4.11223344', 'qc', 1, { '_node_anndata.h5ad': 'q'.repeat(7), 'node-result.json': { cached: true } });
  published('src2.55667788', 'qc', 1, { 'node-result.json': { startedAt: '2026-01-01T00:00:00.000Z', endedAt: 12 } });
  const hit = node('qc', null, { outputPath: out, cache: { key, hit: true, from: { treeId: 'src2.55667788', nodeId: 'qc', attempt: 1 } } } as Partial<LiveNodeStatus>);
  // bytes: the entry's are not a number, so the hit's own files are counted (7 bytes); seconds: not readable.
  assert.deepEqual(cacheStats([hit], workspaceSavings()), { cacheable: 1, hits: 1, misses: 0, sharedWaits: 0, bytesSaved: 7, computeSecondsSaved: 0, unmeasured: 1 });
  // A cache field whose source is of another form is no cache field (the workflow writes one form).
  assert.equal(cacheStats([node('y', null, { cache: { key, hit: true, from: { treeId: 'x', nodeId: 'y', attempt: 0 } } } as Partial<LiveNodeStatus>)]).cacheable, 0);
});
