/**
 * Unit tests of the cache key (activities/cache/key.ts): one key for one computation, whatever
 * the spelling; a new key for every ingredient that decides the output; the same key whatever the
 * tree, node, timing and resources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey, cacheKeyDocument, canonicalJson, CACHE_KEY_SCHEME, type CacheKeyIngredients } from '../../activities/cache/key';
import { mayCache } from '../../workflows/node-runner';
import { BlockDeterministic, BUILTIN_BLOCK_NAMES } from '../../common/block-catalog';
import { BlockSchema, RunNodeInputSchema, TreeSpecSchema } from '../../common/schemas';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function base(over: Partial<CacheKeyIngredients> = {}): CacheKeyIngredients {
  return {
    block: BlockSchema.parse({ name: 'normalize', parameters: {} }),
    runtime: 'docker:sha256:1111',
    contract: 'c0ffee',
    inputs: [{ key: null, sha256: SHA_A }],
    ...over,
  };
}

test('same ingredients give the same key: 64 hex digits, stable across calls', () => {
  const k = cacheKey(base());
  assert.match(k, /^[0-9a-f]{64}$/);
  assert.equal(cacheKey(base()), k);
  assert.equal(cacheKeyDocument(base()).scheme, CACHE_KEY_SCHEME);
});

test('defaults applied: {} and the explicit defaults are one key; key order of parameters does not matter', () => {
  const implicit = cacheKey(base({ block: BlockSchema.parse({ name: 'quality_control', parameters: {} }) }));
  const explicit = cacheKey(base({ block: BlockSchema.parse({ name: 'quality_control', parameters: { min_genes: 200, min_cells: 3, max_pct_mito: 20, mito_prefix: 'MT-', max_genes: null } }) }));
  const reordered = cacheKey(base({ block: BlockSchema.parse({ name: 'quality_control', parameters: { mito_prefix: 'MT-', max_genes: null, max_pct_mito: 20, min_cells: 3, min_genes: 200 } }) }));
  assert.equal(explicit, implicit);
  assert.equal(reordered, implicit);
  // A changed parameter is another key.
  assert.notEqual(cacheKey(base({ block: BlockSchema.parse({ name: 'quality_control', parameters: { min_genes: 201 } }) })), implicit);
});

test('every ingredient changes the key', () => {
  const k = cacheKey(base());
  const variants: Array<[string, Partial<CacheKeyIngredients>]> = [
    ['block name', { block: BlockSchema.parse({ name: 'pca', parameters: {} }) }],
    ['parameter', { block: BlockSchema.parse({ name: 'normalize', parameters: { target_sum: 1e6 } }) }],
    ['runtime (image Id)', { runtime: 'docker:sha256:2222' }],
    ['runner contract', { contract: 'decaf' }],
    ['input sha256', { inputs: [{ key: null, sha256: SHA_B }] }],
    ['no input', { inputs: [] }],
    ['two inputs', { inputs: [{ key: null, sha256: SHA_A }, { key: null, sha256: SHA_A }] }],
    ['input key', { inputs: [{ key: 's1', sha256: SHA_A }] }],
    ['sample', { sample: { sample: 's1', columns: { batch: 'b1' } } }],
  ];
  const seen = new Set([k]);
  for (const [what, over] of variants) {
    const v = cacheKey(base(over));
    assert.notEqual(v, k, what);
    assert.ok(!seen.has(v), `${what} collides with another variant`);
    seen.add(v);
  }
  // Sample columns count, and so does input order of a multi-input node.
  assert.notEqual(cacheKey(base({ sample: { sample: 's1', columns: { batch: 'b1' } } })), cacheKey(base({ sample: { sample: 's1', columns: { batch: 'b2' } } })));
  const two = [{ key: 'x', sha256: SHA_A }, { key: 'y', sha256: SHA_B }];
  assert.notEqual(cacheKey(base({ inputs: two })), cacheKey(base({ inputs: [...two].reverse() })));
});

test('inline blocks: code (or the patched code), requirements as a set, parameters and network decide; `deterministic` itself does not', () => {
  const inline = (extra: Record<string, unknown> = {}) => BlockSchema.parse({ code: 'def run(adata=None):\n    return adata\n', requirements: ['b==1', 'a==2'], ...extra });
  const k = cacheKey(base({ block: inline() }));
  assert.equal(cacheKey(base({ block: inline({ requirements: ['a==2', 'b==1'] }) })), k, 'requirement order');
  assert.equal(cacheKey(base({ block: inline({ deterministic: true }) })), k, 'the flag allows reuse; it is not part of what is computed');
  assert.notEqual(cacheKey(base({ block: inline({ code: 'def run(adata=None):\n    return None\n' }) })), k, 'code');
  assert.notEqual(cacheKey(base({ block: inline(), patchedCode: 'def run(adata=None):\n    return None\n' })), k, 'patched code');
  assert.equal(
    cacheKey(base({ block: inline({ code: 'def run(adata=None):\n    return None\n' }) })),
    cacheKey(base({ block: inline(), patchedCode: 'def run(adata=None):\n    return None\n' })),
    'patched code hashes as the code it replaces',
  );
  assert.notEqual(cacheKey(base({ block: inline({ requirements: ['a==2'] }) })), k, 'requirements');
  assert.notEqual(cacheKey(base({ block: inline({ parameters: { n: 1 } }) })), k, 'parameters');
  assert.notEqual(cacheKey(base({ block: inline({ network: true }) })), k, 'network');
  // The document holds the code's hash, never the code.
  assert.doesNotMatch(JSON.stringify(cacheKeyDocument(base({ block: inline() }))), /def run/);
});

test('tree and node ids, attempt, resources, timeout, priority and task queue are not ingredients', () => {
  // The key is computed from the activity input; everything else in it must not reach the document.
  const input = (over: Record<string, unknown>) => RunNodeInputSchema.parse({
    treeId: 't1', runKey: 'abcd1234', nodeId: 'qc', attempt: 1, block: { name: 'quality_control', parameters: {} }, inputPath: '/x.h5ad',
    timeoutSeconds: 60, ...over,
  });
  const keyOf = (i: ReturnType<typeof input>) => cacheKey({ block: i.block, patchedCode: i.patchedCode, runtime: 'r', contract: 'c', inputs: [{ key: null, sha256: SHA_A }], sample: i.sample, resources: i.resources });
  const k = keyOf(input({}));
  for (const over of [{ treeId: 't2' }, { runKey: 'ffff0000' }, { nodeId: 'other' }, { attempt: 3 }, { resources: { memoryMB: 8192, cpus: 4 } }, { timeoutSeconds: 7200 }, { inputPath: '/elsewhere/y.h5ad' }]) {
    assert.equal(keyOf(input(over)), k, JSON.stringify(over));
  }
});

test('resources are in the key only for inline code that declares resourcesAffectResult', () => {
  const inline = (extra: Record<string, unknown> = {}) => BlockSchema.parse({ code: 'def run(adata=None):\n    return adata\n', ...extra });
  const small = { memoryMB: 1024, cpus: 1 };
  const big = { memoryMB: 8192, cpus: 4 };
  assert.equal(cacheKey(base({ block: inline(), resources: small })), cacheKey(base({ block: inline(), resources: big })), 'undeclared: resources do not matter');
  assert.equal(cacheKey(base({ resources: small })), cacheKey(base({ resources: big })), 'built-in blocks: resources do not matter');
  const declared = inline({ resourcesAffectResult: true });
  assert.notEqual(cacheKey(base({ block: declared, resources: small })), cacheKey(base({ block: declared, resources: big })), 'declared: another memory/CPU is another key');
  assert.equal(cacheKey(base({ block: declared, resources: small })), cacheKey(base({ block: declared, resources: { ...small } })), 'the same resources, the same key');
  assert.notEqual(cacheKey(base({ block: declared })), cacheKey(base({ block: inline() })), 'the declaration puts resources (here: none) in the document');
  assert.equal(BlockSchema.safeParse({ code: 'x', resourcesAffectResult: 'yes' }).success, false, 'a wrong type is refused');
});

test('invalid built-in parameters throw (the caller then treats the node as not cacheable)', () => {
  assert.throws(() => cacheKey(base({ block: { name: 'normalize', parameters: { target_sum: -1 } } })), /target_sum/);
});

test('canonicalJson: sorted keys at every level, undefined dropped, non-JSON numbers refused', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  assert.throws(() => canonicalJson({ x: Number.NaN }), /cannot hash/);
  assert.throws(() => canonicalJson({ x: Infinity }), /cannot hash/);
  assert.throws(() => canonicalJson(10n), /cannot hash/);
});

test('which nodes may be cacheable: deterministic blocks unless the tree or node turns it off; sleep never', () => {
  const spec = TreeSpecSchema.parse({});
  assert.equal(spec.cache, true, 'on by default');
  const rec = (block: unknown, noCache?: true) => ({ block: BlockSchema.parse(block), ...(noCache ? { noCache } : {}) });
  assert.equal(mayCache(spec, rec({ name: 'normalize' })), true);
  assert.equal(mayCache(spec, rec({ name: 'sleep', parameters: { seconds: 1 } })), false);
  assert.equal(mayCache(spec, rec({ name: 'normalize' }, true)), false, 'node cache: false');
  assert.equal(mayCache({ cache: false }, rec({ name: 'normalize' })), false, 'tree cache: false');
  assert.equal(mayCache(spec, rec({ code: 'def run(adata=None): return adata' })), false, 'inline without deterministic');
  assert.equal(mayCache(spec, rec({ code: 'def run(adata=None): return adata', deterministic: false })), false);
  assert.equal(mayCache(spec, rec({ code: 'def run(adata=None): return adata', deterministic: true })), true);
  assert.equal(BlockDeterministic.sleep, false);
  for (const name of BUILTIN_BLOCK_NAMES) if (name !== 'sleep') assert.equal(BlockDeterministic[name], true, name);
});

test('spec switches parse: TreeSpec cache, NodeSpec cache, inline deterministic; wrong types are one-line errors', () => {
  const spec = TreeSpecSchema.parse({ cache: false, nodes: [{ id: 'a', block: { name: 'pca' }, cache: false }, { id: 'b', block: { code: 'x', deterministic: true } }] });
  assert.equal(spec.cache, false);
  assert.equal(spec.nodes[0]!.cache, false);
  assert.equal((spec.nodes[1]!.block as { deterministic?: boolean }).deterministic, true);
  const bad = TreeSpecSchema.safeParse({ cache: 'yes', nodes: [{ id: 'a', block: { name: 'pca' }, cache: 1 }, { id: 'b', block: { code: 'x', deterministic: 'true' } }] });
  assert.equal(bad.success, false);
  const paths = bad.error!.issues.map((i) => i.path.join('.'));
  assert.deepEqual(paths.sort(), ['cache', 'nodes.0.cache', 'nodes.1.block.deterministic'].sort());
});
