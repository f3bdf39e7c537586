/**
 * Unit tests of the `lookupCache` activity body (activities/cache/lookup.ts) with a stand-in
 * executor and activity context: which nodes get a key, the hit / miss / bytes-saved counters,
 * publishing a computed result, and an executor that cannot name its runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Context } from '@temporalio/activity';
import type { MetricMeter } from '@temporalio/common';
import { lookupNodeCache, publishComputed, type CacheDeps } from '../../activities/cache/lookup';
import { publishAttempt } from '../../activities/publish';
import type { BlockExecutor } from '../../activities/executors/types';
import { NodeResultSchema, RunNodeInputSchema, type RunNodeInput } from '../../common/schemas';
import { tempWorkspace } from '../helpers/workspace-dir';

/** A meter that sums what each counter was given. */
function recordingMeter(): { meter: MetricMeter; sums: Map<string, number> } {
  const sums = new Map<string, number>();
  const counter = (name: string) => ({ name, unit: '', description: '', kind: 'counter', valueType: 'int', add: (v: number) => sums.set(name, (sums.get(name) ?? 0) + v), withTags: () => counter(name) });
  const meter = { createCounter: counter, withTags: () => meter } as unknown as MetricMeter;
  return { meter, sums };
}

function fakeContext(meter: MetricMeter, warnings: string[]): Context {
  return {
    info: { attempt: 1 },
    heartbeat: () => undefined,
    metricMeter: meter,
    log: { warn: (m: string) => warnings.push(m), info: () => undefined, debug: () => undefined, error: () => undefined, trace: () => undefined, log: () => undefined },
  } as unknown as Context;
}

function setup(t: { after(fn: () => void): void }, executor: Partial<BlockExecutor> = {}) {
  const root = tempWorkspace(t, 'ragomics-lookup-');
  const input = path.join(root, 'input.h5ad');
  writeFileSync(input, 'input bytes');
  const deps: CacheDeps = {
    executor: { kind: 'docker', run: () => Promise.reject(new Error('not here')), runtimeIdentity: () => Promise.resolve('docker:sha256:test'), ...executor } as BlockExecutor,
    workspaceRoot: root, workerId: 'w1', heartbeatIntervalMs: 1000,
  };
  const node = (treeId: string, nodeId: string, block: unknown = { name: 'normalize', parameters: {} }): RunNodeInput =>
    RunNodeInputSchema.parse({ treeId, runKey: 'abcd1234', nodeId, attempt: 1, block, inputPath: input, timeoutSeconds: 60 });
  return { root, deps, node };
}

/** Publishes a computed attempt of `input`'s node as runNode would, then hands it to the cache. */
async function compute(root: string, ctx: Context, input: RunNodeInput): Promise<void> {
  const out = path.join(root, 'scratch', input.treeId, input.nodeId, 'output');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, '_node_anndata.h5ad'), 'normalised bytes');
  writeFileSync(path.join(out, 'result.json'), JSON.stringify({ summary: 'normalised' }));
  const treeKey = `${input.treeId}.${input.runKey}`;
  const result = await publishAttempt({
    root, treeId: treeKey, nodeId: input.nodeId, attempt: 1, outputDir: out,
    facts: { imageDigest: null, executor: 'docker', worker: 'w1', startedAt: new Date().toISOString(), endedAt: new Date().toISOString(), activityAttempt: 1, peakMemoryMB: null, cacheKey: input.cacheKey ?? null },
  });
  const returned = await publishComputed({ workspaceRoot: root }, ctx, input, treeKey, result);
  assert.deepEqual(returned, result, 'stored (or no key): the result as it was, no cacheStored');
}

test('miss, publish, hit: counters for misses, hits, bytes saved and published entries', async (t) => {
  const { root, deps, node } = setup(t);
  const { meter, sums } = recordingMeter();
  const warnings: string[] = [];
  const ctx = fakeContext(meter, warnings);
  const first = await lookupNodeCache(deps, ctx, node('t1', 'norm'));
  assert.match(first.key ?? '', /^[0-9a-f]{64}$/);
  assert.equal(first.hit, null);
  assert.equal(sums.get('ragomics_cache_misses'), 1);
  await compute(root, ctx, { ...node('t1', 'norm'), cacheKey: first.key! });
  assert.equal(sums.get('ragomics_cache_published'), 1);
  const second = await lookupNodeCache(deps, ctx, node('t2', 'other-id'));
  assert.equal(second.key, first.key, 'another tree and node id: the same key');
  assert.equal(second.hit?.cached, true);
  assert.equal(second.hit?.cachedFrom?.treeId, 't1.abcd1234');
  assert.equal(sums.get('ragomics_cache_hits'), 1);
  assert.ok((sums.get('ragomics_cache_bytes_saved') ?? 0) >= 'normalised bytes'.length);
  assert.deepEqual(warnings, []);
});

test('a computed result that cannot be stored under its key says so (cacheStored: false), and the node\'s result stands', async (t) => {
  const { root, deps, node } = setup(t);
  const warnings: string[] = [];
  const ctx = fakeContext(recordingMeter().meter, warnings);
  const { key } = await lookupNodeCache(deps, ctx, node('t1', 'norm'));
  const input = { ...node('t1', 'norm'), cacheKey: key! };
  const gone = path.join(root, 'scratch', 'gone', 'output');
  const result = NodeResultSchema.parse({ outputDir: gone, outputPath: path.join(gone, '_node_anndata.h5ad'), outputSha256: 'f'.repeat(64), executor: 'docker', worker: 'w1', startedAt: 'x', endedAt: 'y' });
  const returned = await publishComputed({ workspaceRoot: root }, ctx, input, 't1.abcd1234', result);
  assert.deepEqual(returned, { ...result, cacheStored: false });
  assert.match(warnings.join('\n'), /result of node norm not cached/);
  assert.equal((await lookupNodeCache(deps, ctx, node('t2', 'norm'))).hit, null, 'nothing was stored');
});

test('no key: sleep, inline code without deterministic, an executor without a runtime identity, a missing input, an unbuildable runtime', async (t) => {
  const { deps, node, root } = setup(t);
  const ctx = fakeContext(recordingMeter().meter, []);
  assert.deepEqual(await lookupNodeCache(deps, ctx, node('t', 's', { name: 'sleep', parameters: { seconds: 1 } })), { key: null, hit: null });
  assert.deepEqual(await lookupNodeCache(deps, ctx, node('t', 'i', { code: 'def run(adata=None): return adata' })), { key: null, hit: null });
  const inline = await lookupNodeCache(deps, ctx, node('t', 'd', { code: 'def run(adata=None): return adata', deterministic: true }));
  assert.match(inline.key ?? '', /^[0-9a-f]{64}$/);

  const { deps: bare } = setup(t, { runtimeIdentity: undefined });
  assert.equal((await lookupNodeCache(bare, ctx, node('t', 'n'))).key, null);

  const missing = RunNodeInputSchema.parse({ ...node('t', 'n'), inputPath: path.join(root, 'gone.h5ad') });
  const warnings: string[] = [];
  assert.equal((await lookupNodeCache(deps, fakeContext(recordingMeter().meter, warnings), missing)).key, null);
  assert.match(warnings.join('\n'), /not cacheable this time/);

  const { deps: broken } = setup(t, { runtimeIdentity: () => Promise.reject(new Error('blocks image "x" is not present')) });
  assert.equal((await lookupNodeCache(broken, ctx, node('t', 'n'))).key, null);
  // And an input runNode would refuse is runNode's to report.
  assert.deepEqual(await lookupNodeCache(deps, ctx, { nodeId: 'no tree' }), { key: null, hit: null });
});

test('another runtime is another key: an image rebuilt makes old entries stop matching', async (t) => {
  const { deps, node } = setup(t);
  const ctx = fakeContext(recordingMeter().meter, []);
  const k1 = (await lookupNodeCache(deps, ctx, node('t', 'n'))).key;
  const k2 = (await lookupNodeCache({ ...deps, executor: { ...deps.executor, runtimeIdentity: () => Promise.resolve('docker:sha256:rebuilt') } }, ctx, node('t', 'n'))).key;
  assert.ok(k1 && k2);
  assert.notEqual(k1, k2);
});
