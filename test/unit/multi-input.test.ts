/**
 * Multi-input nodes without Docker or Temporal: the catalog's input counts and the client-side
 * check, RunNodeInput's `inputs` / `sample`, and the container's one read-only mount per input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BlockInputs, BUILTIN_BLOCK_NAMES } from '../../common/block-catalog';
import { blockInputCount, checkBlockInputs } from '../../common/block-inputs';
import { RunNodeInputSchema } from '../../common/schemas';
import { containerSpec } from '../../activities/executors/docker-spec';
import type { ExecJob } from '../../activities/executors/types';
import { repoRoot } from '../../activities/executors/repo-root';

void test('every built-in block declares its input count: concatenate takes many, sleep either, the others one', () => {
  assert.deepEqual(Object.keys(BlockInputs).sort(), [...BUILTIN_BLOCK_NAMES].sort());
  for (const name of BUILTIN_BLOCK_NAMES) assert.equal(BlockInputs[name], name === 'sleep' ? 'any' : name === 'concatenate' ? 'many' : 'one', name);
});

void test('blocks/catalog.json carries the same input counts for the runner', async () => {
  const catalog = JSON.parse(await readFile(path.join(repoRoot(), 'blocks', 'catalog.json'), 'utf8')) as { inputs: Record<string, string> };
  assert.deepEqual(catalog.inputs, { ...BlockInputs });
});

void test('checkBlockInputs: a one-input block on a multi-input node is named in one line', () => {
  const msg = checkBlockInputs('merge', { name: 'pca' }, { multiInput: true, count: 24 });
  assert.ok(msg);
  assert.match(msg, /^node "merge": block "pca" takes one input \(parentId\), but the node has 24 inputs \(inputs\)/);
  assert.ok(!msg.includes('\n'));
  assert.equal(checkBlockInputs('merge', { name: 'pca' }, { multiInput: false, count: 1 }), null);
  assert.equal(checkBlockInputs('root', { name: 'pca' }, { multiInput: false, count: 0 }), null);
});

void test('checkBlockInputs: sleep takes either, inline code and unknown names are left to the runner', () => {
  for (const multiInput of [true, false]) {
    assert.equal(checkBlockInputs('n', { name: 'sleep' }, { multiInput, count: multiInput ? 3 : 1 }), null);
    assert.equal(checkBlockInputs('n', { code: 'def run(adata=None): pass' }, { multiInput, count: 3 }), null);
    assert.equal(checkBlockInputs('n', { name: 'no_such_block' }, { multiInput, count: 3 }), null);
  }
  assert.equal(blockInputCount({ name: 'toString' }), null, 'not fooled by Object.prototype');
  assert.equal(blockInputCount({ code: 'x' }), null);
  assert.equal(blockInputCount({ name: 'leiden' }), 'one');
});

void test('checkBlockInputs: a many-input block on a single-input node is named in one line', () => {
  // No built-in block takes many yet (the cohort blocks add concatenate), so borrow the rule through a stand-in entry.
  const table = BlockInputs as Record<string, string>;
  table.__test_many = 'many';
  try {
    assert.match(checkBlockInputs('c', { name: '__test_many' }, { multiInput: false, count: 1 }) ?? '', /^node "c": block "__test_many" takes several inputs .* but the node has 1 input$/);
    assert.equal(checkBlockInputs('c', { name: '__test_many' }, { multiInput: true, count: 1 }), null, 'a gather of one sample is multi-input');
  } finally {
    delete table.__test_many;
  }
});

const base = { treeId: 't', nodeId: 'g', attempt: 1, block: { name: 'sleep', parameters: {} }, timeoutSeconds: 60 };

void test('RunNodeInput: inputs in order with optional samples; inputPath must then be null', () => {
  const sample = { sample: 's1', columns: { condition: 'ctrl' } };
  const parsed = RunNodeInputSchema.parse({ ...base, inputPath: null, inputs: [{ key: 's1', path: '/a.h5ad', sample }, { key: 'n.2_x-y', path: '/b.h5ad' }], sample });
  assert.deepEqual(parsed.inputs?.map((i) => i.key), ['s1', 'n.2_x-y']);
  assert.deepEqual(parsed.inputs?.[0]?.sample, sample);
  assert.equal(RunNodeInputSchema.parse({ ...base, inputPath: '/x.h5ad' }).inputs, undefined, 'single-input nodes are unchanged');
  const both = RunNodeInputSchema.safeParse({ ...base, inputPath: '/x.h5ad', inputs: [{ key: 'a', path: '/a.h5ad' }] });
  assert.equal(both.success, false);
  assert.deepEqual(both.error?.issues[0]?.path, ['inputPath']);
});

void test('RunNodeInput: bad or repeated keys and non-string columns are rejected at their field', () => {
  const cases: [unknown, (string | number)[]][] = [
    [[{ key: 'a/b', path: '/a.h5ad' }], ['inputs', 0, 'key']],
    [[{ key: '..', path: '/a.h5ad' }], ['inputs', 0, 'key']],
    [[{ key: 'a', path: '/a.h5ad' }, { key: 'a', path: '/b.h5ad' }], ['inputs', 1, 'key']],
    [[{ key: 'a', path: '/a.h5ad', sample: { sample: 'a', columns: { n: 3 } } }], ['inputs', 0, 'sample', 'columns', 'n']],
  ];
  for (const [inputs, where] of cases) {
    const r = RunNodeInputSchema.safeParse({ ...base, inputPath: null, inputs });
    assert.equal(r.success, false, JSON.stringify(inputs));
    assert.deepEqual(r.error?.issues[0]?.path, where);
  }
});

void test('containerSpec: one read-only bind mount per input at /workspace/inputs/<key>.h5ad, nothing else for them', () => {
  const job: ExecJob = {
    treeId: 't', nodeId: 'g', attempt: 1, activityAttempt: 1, block: { name: 'sleep', parameters: {} }, inputPath: null,
    inputs: [{ key: 's2', path: '/pub/s2/_node_anndata.h5ad' }, { key: 's1', path: '/pub/s1/_node_anndata.h5ad' }],
    paths: { dir: '/ws/a', jobFile: '/ws/a/job.json', outputDir: '/ws/a/output', stdoutLog: '/ws/a/stdout.log', stderrLog: '/ws/a/stderr.log' },
    memoryMB: 256, cpus: 1, workerId: 'w',
  };
  const mounts = containerSpec(job, 'img').HostConfig?.Mounts ?? [];
  assert.deepEqual(mounts.filter((m) => m.Target.startsWith('/workspace/input')), [
    { Type: 'bind', Source: '/pub/s2/_node_anndata.h5ad', Target: '/workspace/inputs/s2.h5ad', ReadOnly: true },
    { Type: 'bind', Source: '/pub/s1/_node_anndata.h5ad', Target: '/workspace/inputs/s1.h5ad', ReadOnly: true },
  ]);
});
