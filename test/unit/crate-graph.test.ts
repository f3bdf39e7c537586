/**
 * The run crate's metadata from synthetic facts (no server, no workspace): provenance and cache
 * fields appear when the status carries them and are absent otherwise; large outputs are
 * referenced by file:// URI, small ones embedded; parameters become FormalParameter +
 * PropertyValue; a running tree is an unfinished run; a node that never ran has a step only.
 * The integration test (test/crate.test.ts) validates real crates with rocrate-validator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCrate, cacheText, provenanceText, type Entity } from '../../client/crate/graph';
import type { CrateFacts, CrateNodeStatus, NodeFacts } from '../../client/crate/facts';
import type { TimelineEntry, TreeStatus } from '../../workflows/views';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:00:05.000Z';

function nodeStatus(id: string, parentId: string | null, state: CrateNodeStatus['state'], extra: Partial<CrateNodeStatus> = {}): CrateNodeStatus {
  return {
    id, parentId, block: id, state, attempts: state === 'PENDING' ? 0 : 1, queuedAt: T0, startedAt: state === 'PENDING' ? null : T0, endedAt: state === 'COMPLETED' || state === 'FAILED' ? T1 : null,
    error: state === 'FAILED' ? 'boom' : null, outputPath: state === 'COMPLETED' ? `/ws/trees/t.k/nodes/${id}/published/attempt-1/_node_anndata.h5ad` : null,
    sha256: state === 'COMPLETED' ? 'a'.repeat(64) : null, dependencies: parentId ? [parentId] : [], ...extra,
  };
}

function attempt(node: string, state: TimelineEntry['state']): TimelineEntry {
  return { node, parentId: null, block: node, attempt: 1, state, queued: T0, ready: T0, started: T0, ended: state === 'RUNNING' ? null : T1, duration: null, worker: 'w1', exitCode: null, peakMemoryMB: 100, error: state === 'FAILED' ? 'boom' : null };
}

function node(s: CrateNodeStatus, block: NodeFacts['block'], attempts: TimelineEntry[], extra: Partial<NodeFacts> = {}): NodeFacts {
  const dir = s.outputPath ? s.outputPath.replace(/\/_node_anndata\.h5ad$/, '') : null;
  return {
    status: s, block, attempts,
    code: block && 'code' in block ? { kind: 'inline', code: block.code, requirements: [] } : block ? { kind: 'builtin', name: block.name, source: `# ${block.name}\n` } : null,
    published: dir ? { attempt: 1, activityAttempt: 1, imageDigest: 'ragomics/blocks@sha256:' + 'b'.repeat(64), executor: 'docker', worker: 'w1', summary: 'ok', cached: false, cachedFrom: null, cacheKey: null } : null,
    outputs: dir ? [
      { rel: '_node_anndata.h5ad', abs: s.outputPath!, size: 5_000_000, sha256: 'a'.repeat(64) },
      { rel: 'node-result.json', abs: `${dir}/node-result.json`, size: 300, sha256: 'c'.repeat(64) },
    ] : [],
    ...extra,
  };
}

function facts(nodes: NodeFacts[], running = false): CrateFacts {
  const status = {
    treeId: 't', state: running ? 'RUNNING' : 'COMPLETED', userRequest: 'cluster', paused: false, maxParallelJobs: 2, runningJobs: 0, queueSize: 0, totalProcessed: 0,
    counts: { PENDING: 0, WAITING: 0, READY: 0, RUNNING: 0, COMPLETED: nodes.length, FAILED: 0, CANCELLED: 0, TIMEOUT: 0 }, totalNodes: nodes.length, offset: 0,
    nodes: nodes.map((n) => n.status), rejected: [], metrics: {} as TreeStatus['metrics'], runs: 1,
  } as TreeStatus & { nodes: CrateNodeStatus[] };
  return {
    treeId: 't', spec: { inputDataPath: '/data/in.h5ad', nodes: [] }, status, startTime: T0, closeTime: running ? null : T1, treeDir: '/ws/trees/t.k',
    inputs: new Map([['/data/in.h5ad', { abs: '/data/in.h5ad', size: 10, sha256: 'd'.repeat(64) }]]), nodes, engineVersion: '0.1.0', exportedAt: new Date(T1),
  };
}

const graphOf = (c: ReturnType<typeof buildCrate>) => new Map(c.metadata['@graph'].map((e) => [e['@id'], e]));
const ids = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).map((x) => (x as { '@id': string })['@id']);

void test('provenance and cache hits appear in steps and actions when the status has them, and nothing is made up when it has not', () => {
  const qc = node(nodeStatus('qc', null, 'COMPLETED'), { name: 'quality_control', parameters: { min_genes: 10 } }, [attempt('qc', 'COMPLETED')]);
  const leiden = node(nodeStatus('leiden', 'qc', 'COMPLETED', {
    provenance: { by: 'policy', at: T0, url: 'http://agent/next', reason: 'qc kept 90% of cells', from: 'qc' },
    events: [{ kind: 'cache-hit', at: T1, detail: 'reused tree u node leiden' }],
    cache: { key: 'e'.repeat(64), hit: true, from: { treeId: 'u.k', nodeId: 'leiden', attempt: 1 } },
  }), { name: 'leiden', parameters: { resolution: 1 } }, [attempt('leiden', 'COMPLETED')]);
  const g = graphOf(buildCrate(facts([qc, leiden]), { embedMaxBytes: 1024, license: 'https://spdx.org/licenses/CC0-1.0' }));
  const step = g.get('#step-leiden')!;
  assert.match(String(step.description), /added by policy http:\/\/agent\/next after qc · 2026-01-01T00:00:00\.000Z · reason: qc kept 90% of cells/);
  assert.equal(step.dateCreated, '2026-01-01T00:00:00.000+00:00');
  assert.match(String(g.get('#control-leiden')!.description), /Events: cache-hit at .*: reused tree u node leiden/);
  assert.match(String(g.get('#run-leiden-1')!.description), /reused a cached result \(tree u\.k, node leiden, attempt 1\), cache key e{64}: nothing ran/);
  // Without provenance fields (a status from before issue 14): no provenance text at all.
  assert.doesNotMatch(String(g.get('#step-qc')!.description), /Provenance/);
  assert.equal(g.get('#step-qc')!.dateCreated, undefined);
  assert.equal(cacheText(qc), null);
  assert.equal(provenanceText(undefined), null);
  // The licence URL is a contextual entity.
  assert.deepEqual(ids(g.get('./')!.license), ['https://spdx.org/licenses/CC0-1.0']);
});

void test('outputs: large ones referenced by file:// with size and sha256, small ones embedded; inputs always referenced', () => {
  const qc = node(nodeStatus('qc', null, 'COMPLETED'), { name: 'quality_control', parameters: {} }, [attempt('qc', 'COMPLETED')]);
  const c = buildCrate(facts([qc]), { embedMaxBytes: 1024, license: 'x' });
  const g = graphOf(c);
  const big = g.get('file:///ws/trees/t.k/nodes/qc/published/attempt-1/_node_anndata.h5ad')!;
  assert.deepEqual([big['@type'], big.contentSize, big.sha256], ['File', '5000000', 'a'.repeat(64)]);
  const small = g.get('outputs/qc/node-result.json')!;
  assert.equal(small.sha256, 'c'.repeat(64));
  assert.deepEqual(c.files.filter((f) => 'source' in f).map((f) => f.path), ['outputs/qc/node-result.json']);
  assert.deepEqual([c.embedded, c.referenced], [1, 1]);
  assert.deepEqual(ids(g.get('#run-qc-1')!.object), ['file:///data/in.h5ad']);
  assert.deepEqual(ids(g.get('#run-qc-1')!.result).sort(), ['file:///ws/trees/t.k/nodes/qc/published/attempt-1/_node_anndata.h5ad', 'outputs/qc/node-result.json'].sort());
  assert.equal(g.get('#run-qc-1')!.containerImage && ids(g.get('#run-qc-1')!.containerImage)[0], `#image-sha256:${'b'.repeat(64)}`);
  assert.equal(g.get('#run-qc-1')!.startTime, '2026-01-01T00:00:00.000+00:00');
  // A file name that is not a plain URI path is encoded in the id, kept as is in the crate.
  const odd = node(nodeStatus('qc', null, 'COMPLETED'), { name: 'quality_control', parameters: {} }, [attempt('qc', 'COMPLETED')]);
  odd.outputs.push({ rel: 'figures/violin #1.png', abs: '/ws/trees/t.k/nodes/qc/published/attempt-1/figures/violin #1.png', size: 10, sha256: 'f'.repeat(64) });
  const oddCrate = buildCrate(facts([odd]), { embedMaxBytes: 1024, license: 'x' });
  assert.ok(graphOf(oddCrate).get('outputs/qc/figures/violin%20%231.png'));
  assert.ok(oddCrate.files.some((f) => f.path === 'outputs/qc/figures/violin #1.png'));
  // Everything embedded when the limit allows it.
  assert.equal(buildCrate(facts([qc]), { embedMaxBytes: 10_000_000, license: 'x' }).referenced, 0);
});

void test('parameters, inline code, a running tree, a failed node and a node that never ran', () => {
  const root = node(nodeStatus('root', null, 'COMPLETED'), { code: 'def run(adata=None, **p):\n    return adata\n', requirements: [], network: false, parameters: { k: 1, name: 'a', opts: { x: [1] } } }, [attempt('root', 'COMPLETED')]);
  const twin = node(nodeStatus('twin', null, 'COMPLETED'), { code: 'def run(adata=None, **p):\n    return adata\n', requirements: [], network: false, parameters: { k: 1.5 } }, [attempt('twin', 'COMPLETED')]);
  const bad = node(nodeStatus('bad', 'root', 'FAILED'), { name: 'pca', parameters: {} }, [attempt('bad', 'FAILED')]);
  const slow = node(nodeStatus('slow', 'root', 'RUNNING'), { name: 'umap', parameters: {} }, [attempt('slow', 'RUNNING')]);
  const later = node(nodeStatus('later', 'slow', 'PENDING'), { name: 'leiden', parameters: {} }, []);
  const c = buildCrate(facts([root, twin, bad, slow, later], true), { embedMaxBytes: 1024, license: 'x' });
  const g = graphOf(c);
  assert.equal(c.incomplete, true);
  const inline = [...g.keys()].filter((k) => /^blocks\/inline-[0-9a-f]{12}\.py$/.test(k));
  assert.equal(inline.length, 1, 'one tool for one code');
  assert.equal(g.get(`${inline[0]}#param-k`)!.additionalType, 'Float', 'Integer and Float values make a Float parameter');
  assert.equal(g.get('#param-root-opts')!.value, '{"x":[1]}');
  assert.equal(g.get(`${inline[0]}#param-opts`)!.additionalType, 'PropertyValue');
  assert.deepEqual([g.get('#run-bad-1')!.actionStatus, g.get('#run-bad-1')!.error], ['http://schema.org/FailedActionStatus', 'boom']);
  assert.equal(g.get('#run-slow-1')!.actionStatus, 'http://schema.org/ActiveActionStatus');
  assert.equal(g.get('#run-slow-1')!.endTime, undefined);
  assert.equal(g.get('#tree-run')!.actionStatus, 'http://schema.org/ActiveActionStatus');
  assert.equal(g.get('#tree-run')!.endTime, undefined);
  assert.ok(g.get('#step-later'));
  assert.equal(g.get('#control-later'), undefined);
  const wf = g.get('spec.json') as Entity;
  assert.ok(!ids(wf.hasPart).includes('blocks/leiden.py'), 'a block that never ran is not an orchestrated tool');
  assert.ok(ids(wf.hasPart).includes('blocks/umap.py'));
  // A cache hit that needed no attempt still gets an execution.
  const hit = node(nodeStatus('hit', null, 'COMPLETED', { attempts: 0 }), { name: 'pca', parameters: {} }, []);
  hit.published!.cached = true;
  assert.ok(graphOf(buildCrate(facts([hit]), { embedMaxBytes: 0, license: 'x' })).get('#run-hit-cached'));
});
