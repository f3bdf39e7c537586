/**
 * Unit tests of graph-level validation: every error shape, normalization, topological order,
 * purity, and agreement with the scheduler's view of the tree.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LOCAL_NODE_MAX_TIMEOUT_SECONDS, NodeSpecSchema, TreeSpecSchema, type NodeSpec, type NodeSpecInput } from '../../common/schemas';
import {
  EMPTY_TREE,
  blockParameterErrors,
  createExistingTree,
  validateAdditions,
  validateTreeSpec,
  type ExistingTree,
  type NormalizedNode,
  type ValidationLimits,
  type ValidationResult,
} from '../../common/tree-validation';
import { TreeScheduler } from '../../workflows/scheduler';
import { TreeState } from '../../workflows/tree-state';

const LIMITS: ValidationLimits = { maxNodes: 100, maxChildrenPerNode: 10, maxDepth: 50 };

/** A parsed node spec, as the workflow receives it. */
function spec(id: string, parentId: string | null = null, extra: Partial<NodeSpecInput> = {}): NodeSpec {
  return NodeSpecSchema.parse({ id, parentId, block: { name: 'sleep', parameters: {} }, ...extra });
}

function errorsOf(r: ValidationResult): string[] {
  assert.equal(r.ok, false, 'expected validation to fail');
  return r.ok ? [] : r.errors;
}

function nodesOf(r: ValidationResult): NormalizedNode[] {
  if (!r.ok) assert.fail(`expected validation to pass, got:\n${r.errors.join('\n')}`);
  return r.nodes;
}

/** root ← qc ← pca (depths 0, 1, 2). */
const TREE: ExistingTree = createExistingTree([
  { id: 'root', parentId: null, depth: 0 },
  { id: 'qc', parentId: 'root', depth: 1 },
  { id: 'pca', parentId: 'qc', depth: 2 },
]);

void describe('validateAdditions: accepted additions', () => {
  void test('normalizes parent, dependencies, depth and built-in parameters', () => {
    const r = validateAdditions(
      TREE,
      [
        spec('umap', 'pca', { block: { name: 'umap', parameters: { n_neighbors: 30 } }, dependencies: ['qc', 'qc'], priority: 2 }),
        spec('free', null, { block: { code: 'def run(adata=None, **p):\n    return adata', parameters: { x: 1 } } }),
      ],
      LIMITS,
    );
    const [umap, free] = nodesOf(r);
    assert.deepEqual(umap, {
      id: 'umap',
      parentId: 'pca',
      dependencies: ['pca', 'qc'],
      block: { name: 'umap', parameters: { n_neighbors: 30, n_pcs: null, min_dist: 0.5, random_state: 0 } },
      priority: 2,
      depth: 3,
      index: 0,
    });
    assert.equal(free?.parentId, null);
    assert.deepEqual(free?.dependencies, []);
    assert.equal(free?.depth, 0);
    assert.deepEqual(free?.block, { code: 'def run(adata=None, **p):\n    return adata', requirements: [], network: false, parameters: { x: 1 } });
  });

  void test('keeps the listed order when the parent is among the dependencies', () => {
    const [n] = nodesOf(validateAdditions(TREE, [spec('x', 'qc', { dependencies: ['pca', 'qc', 'root'] })], LIMITS));
    assert.deepEqual(n?.dependencies, ['pca', 'qc', 'root']);
    assert.equal(n?.depth, 3);
  });

  void test('new nodes may reference each other in any order; output is topological', () => {
    const r = validateAdditions(
      TREE,
      [spec('c', 'b'), spec('a', 'pca'), spec('d', 'a', { dependencies: ['c'] }), spec('b', 'a')],
      LIMITS,
    );
    const nodes = nodesOf(r);
    assert.deepEqual(nodes.map((n) => n.id), ['a', 'b', 'c', 'd']);
    assert.deepEqual(nodes.map((n) => n.index), [1, 3, 0, 2]);
    assert.deepEqual(nodes.map((n) => n.depth), [3, 4, 5, 6]);
  });

  void test('input order is kept when it already is topological', () => {
    const ids = ['a', 'b', 'z', 'c', 'y'];
    const r = validateAdditions(TREE, [spec('a', 'root'), spec('b', 'a'), spec('z'), spec('c', 'b', { dependencies: ['z'] }), spec('y', 'z')], LIMITS);
    assert.deepEqual(nodesOf(r).map((n) => n.id), ids);
  });

  void test('the limits are inclusive', () => {
    const limits = { maxNodes: 5, maxChildrenPerNode: 2, maxDepth: 3 };
    const r = validateAdditions(TREE, [spec('a', 'root'), spec('b', 'pca')], limits);
    assert.deepEqual(nodesOf(r).map((n) => n.depth), [1, 3]);
  });

  void test('the inputs are not changed', () => {
    const additions = [spec('b', 'a', { block: { name: 'pca', parameters: {} } }), spec('a', 'root', { dependencies: ['qc'] })];
    const copy = JSON.parse(JSON.stringify(additions)) as unknown;
    nodesOf(validateAdditions(TREE, additions, LIMITS));
    assert.deepEqual(additions, copy);
    errorsOf(validateAdditions(TREE, [...additions, spec('qc')], LIMITS));
    assert.deepEqual(additions, copy);
  });

  void test('the scheduler is an ExistingTree, and agrees on dependencies and depth', () => {
    const s = new TreeScheduler({ strategy: 'fifo', usePriority: true, maxParallel: 1 });
    const first = nodesOf(validateTreeSpec(TreeSpecSchema.parse({ nodes: [{ id: 'r', block: { name: 'sleep' } }, { id: 'c', parentId: 'r', block: { name: 'sleep' } }] })));
    for (const n of first) s.addNode({ ...n, blockKey: 'sleep' });
    const more = nodesOf(validateAdditions(s, [spec('g', 'c', { dependencies: ['r'] }), spec('h', 'g')], LIMITS));
    for (const n of more) s.addNode({ ...n, blockKey: 'sleep' });
    assert.deepEqual(s.list().find((n) => n.id === 'g')?.dependencies, ['c', 'r']);
    assert.equal(s.depthOf('h'), 3);
    assert.equal(s.childCount('r'), 1);
    const r = validateAdditions(s, [spec('c2', 'r'), spec('c3', 'r')], { ...LIMITS, maxChildrenPerNode: 2 });
    assert.deepEqual(errorsOf(r), ['nodes[1].parentId: node "r" would have 3 children, more than maxChildrenPerNode 2']);
  });
});

void describe('validateAdditions: error messages', () => {
  void test('unknown dependency', () => {
    const r = validateAdditions(EMPTY_TREE, [spec('a'), spec('b'), spec('c'), spec('d', 'a', { dependencies: ['pca'] })], LIMITS);
    assert.deepEqual(errorsOf(r), ['nodes[3].dependencies[0]: unknown node "pca"']);
  });

  void test('unknown parent (reported once, even when also listed as a dependency)', () => {
    const r = validateAdditions(TREE, [spec('a', 'nope', { dependencies: ['root', 'nope'] })], LIMITS);
    assert.deepEqual(errorsOf(r), ['nodes[0].parentId: unknown node "nope"']);
  });

  void test('duplicate id: already in the tree, and twice in the additions', () => {
    assert.deepEqual(errorsOf(validateAdditions(TREE, [spec('a', 'root'), spec('qc', 'root')], LIMITS)), ['nodes[1].id: duplicate id "qc" (already in the tree)']);
    assert.deepEqual(errorsOf(validateAdditions(TREE, [spec('a', 'root'), spec('b'), spec('a')], LIMITS)), ['nodes[2].id: duplicate id "a" (also nodes[0])']);
  });

  void test('self dependency and self parent', () => {
    assert.deepEqual(errorsOf(validateAdditions(TREE, [spec('w'), spec('v'), spec('x', 'root', { dependencies: ['qc', 'x'] })], LIMITS)), [
      'nodes[2].dependencies[1]: node "x" depends on itself',
    ]);
    assert.deepEqual(errorsOf(validateAdditions(TREE, [spec('x', 'x')], LIMITS)), ['nodes[0].parentId: node "x" is its own parent']);
  });

  void test('cycles among new nodes', () => {
    const r = validateAdditions(TREE, [spec('a', 'root'), spec('b', 'root'), spec('c'), spec('d'), spec('x', 'y'), spec('y', 'x')], LIMITS);
    assert.deepEqual(errorsOf(r), ['nodes[4]: cycle x -> y -> x']);

    const three = validateAdditions(TREE, [spec('p', 'r'), spec('q', 'p'), spec('r', 'q'), spec('after', 'p')], LIMITS);
    assert.deepEqual(errorsOf(three), ['nodes[0]: cycle p -> r -> q -> p']);

    // Entered from the middle: still reported once, starting at its first node in the additions.
    const mid = validateAdditions(TREE, [spec('t', 'm'), spec('m', 'n'), spec('n', 'm')], LIMITS);
    assert.deepEqual(errorsOf(mid), ['nodes[1]: cycle m -> n -> m']);

    // Two separate cycles, and a cycle through a non-parent dependency.
    const two = validateAdditions(TREE, [spec('a', 'b'), spec('b', 'a'), spec('c', 'root', { dependencies: ['d'] }), spec('d', 'c')], LIMITS);
    assert.deepEqual(errorsOf(two), ['nodes[0]: cycle a -> b -> a', 'nodes[2]: cycle c -> d -> c']);
  });

  void test('maxNodes', () => {
    const tree = createExistingTree(Array.from({ length: 18 }, (_, i) => ({ id: `e${i}`, parentId: null, depth: 0 })));
    const additions = ['a', 'b', 'c', 'd', 'e'].map((id) => spec(id));
    assert.deepEqual(errorsOf(validateAdditions(tree, additions, { ...LIMITS, maxNodes: 20 })), ['nodes: adding 5 nodes would exceed maxNodes 20 (the tree has 18)']);
    assert.deepEqual(errorsOf(validateAdditions(tree, [spec('a'), spec('b'), spec('c')], { ...LIMITS, maxNodes: 20 })), [
      'nodes: adding 3 nodes would exceed maxNodes 20 (the tree has 18)',
    ]);
    nodesOf(validateAdditions(tree, [spec('a'), spec('b')], { ...LIMITS, maxNodes: 20 }));
  });

  void test('maxChildrenPerNode: counts existing children, reported at the first one too many', () => {
    const tree = createExistingTree([
      { id: 'root', parentId: null, depth: 0 },
      { id: 'c1', parentId: 'root', depth: 1 },
      { id: 'c2', parentId: 'root', depth: 1 },
      { id: 'c3', parentId: 'root', depth: 1 },
    ]);
    assert.deepEqual(errorsOf(validateAdditions(tree, [spec('c4', 'root')], { ...LIMITS, maxChildrenPerNode: 3 })), [
      'nodes[0].parentId: node "root" would have 4 children, more than maxChildrenPerNode 3',
    ]);
    // Among new nodes, and for a new parent.
    const r = validateAdditions(
      tree,
      [spec('p'), spec('k1', 'p'), spec('k2', 'p'), spec('k3', 'p'), spec('k4', 'p')],
      { ...LIMITS, maxChildrenPerNode: 2 },
    );
    assert.deepEqual(errorsOf(r), ['nodes[3].parentId: node "p" would have 4 children, more than maxChildrenPerNode 2']);
    // Dependencies that are not the parent do not count as children.
    nodesOf(validateAdditions(tree, [spec('x', null, { dependencies: ['root'] })], { ...LIMITS, maxChildrenPerNode: 3 }));
  });

  void test('maxDepth: existing depth plus new chain; every node over the limit', () => {
    const tree = createExistingTree([{ id: 'deep', parentId: null, depth: 9 }]);
    const r = validateAdditions(tree, [spec('n0'), spec('n1'), spec('d10', 'deep'), spec('d11', 'd10'), spec('d12', 'd11')], { ...LIMITS, maxDepth: 10 });
    assert.deepEqual(errorsOf(r), ['nodes[3]: depth 11 exceeds maxDepth 10', 'nodes[4]: depth 12 exceeds maxDepth 10']);
  });

  void test('block parameter errors from the catalog schemas', () => {
    const r = validateAdditions(TREE, [spec('p2', 'qc', { block: { name: 'pca', parameters: { n_comps: 1, bogus: true } } })], LIMITS);
    assert.deepEqual(errorsOf(r), [
      'nodes[0].block.parameters.n_comps: Too small: expected number to be >=2',
      'nodes[0].block.parameters.bogus: unknown parameter of pca; it takes n_comps, use_highly_variable',
    ]);
    // A likely typo is named with the parameter meant.
    const typo = validateAdditions(TREE, [spec('p3', 'qc', { block: { name: 'pca', parameters: { n_compz: 3 } } })], LIMITS);
    assert.match(errorsOf(typo)[0] ?? '', /^nodes\[0\]\.block\.parameters\.n_compz: unknown parameter of pca \(did you mean n_comps\?\); it takes /);
  });

  void test('all problems are reported together, ordered by node, tree-wide first', () => {
    const tree = createExistingTree([
      { id: 'root', parentId: null, depth: 0 },
      { id: 'c1', parentId: 'root', depth: 1 },
    ]);
    const r = validateAdditions(
      tree,
      [
        spec('x', 'y'),
        spec('root'),
        spec('s', 'root', { dependencies: ['s', 'ghost'], block: { name: 'sleep', parameters: { seconds: -1 } } }),
        spec('y', 'x'),
        spec('c2', 'root'),
      ],
      { maxNodes: 6, maxChildrenPerNode: 2, maxDepth: 5 },
    );
    assert.deepEqual(errorsOf(r), [
      'nodes: adding 5 nodes would exceed maxNodes 6 (the tree has 2)',
      'nodes[0]: cycle x -> y -> x',
      'nodes[1].id: duplicate id "root" (already in the tree)',
      'nodes[2].dependencies[0]: node "s" depends on itself',
      'nodes[2].dependencies[1]: unknown node "ghost"',
      'nodes[2].block.parameters.seconds: Too small: expected number to be >=0',
      'nodes[4].parentId: node "root" would have 3 children, more than maxChildrenPerNode 2',
    ]);
  });

  void test('a custom path prefix', () => {
    const r = validateAdditions(TREE, [spec('qc')], LIMITS, { prefix: 'request.nodes' });
    assert.deepEqual(errorsOf(r), ['request.nodes[0].id: duplicate id "qc" (already in the tree)']);
    const big = validateAdditions(createExistingTree([{ id: 'r', parentId: null, depth: 0 }]), [spec('a')], { ...LIMITS, maxNodes: 1 }, { prefix: 'add' });
    assert.deepEqual(errorsOf(big), ['add: adding 1 node would exceed maxNodes 1 (the tree has 1)']);
  });

  void test('the error list is capped', () => {
    const additions = Array.from({ length: 30 }, (_, i) => spec(`n${i}`, 'ghost'));
    const r = validateAdditions(TREE, additions, LIMITS, { maxErrors: 5 });
    const errors = errorsOf(r);
    assert.equal(errors.length, 6);
    assert.equal(errors[0], 'nodes[0].parentId: unknown node "ghost"');
    assert.equal(errors[5], 'nodes: … and 25 more errors');
  });
});

void describe('validateTreeSpec', () => {
  void test('checks the initial nodes against an empty tree with the spec limits', () => {
    const ok = validateTreeSpec(
      TreeSpecSchema.parse({
        nodes: [
          { id: 'qc', parentId: 'root', block: { name: 'quality_control' } },
          { id: 'root', block: { name: 'sleep', parameters: { seconds: 1 } } },
        ],
      }),
    );
    const nodes = nodesOf(ok);
    assert.deepEqual(nodes.map((n) => n.id), ['root', 'qc']);
    assert.deepEqual(nodes[1]?.block, { name: 'quality_control', parameters: { min_genes: 200, max_genes: null, min_cells: 3, max_pct_mito: 20, mito_prefix: 'MT-' } });
    nodesOf(validateTreeSpec(TreeSpecSchema.parse({})));
  });

  void test('reports spec-limit violations with nodes[i] paths', () => {
    const spec = TreeSpecSchema.parse({
      maxNodes: 4,
      maxChildrenPerNode: 1,
      maxDepth: 1,
      nodes: [
        { id: 'r', block: { name: 'sleep' } },
        { id: 'a', parentId: 'r', block: { name: 'sleep' } },
        { id: 'b', parentId: 'r', block: { name: 'sleep' } },
        { id: 'c', parentId: 'a', block: { name: 'sleep' } },
        { id: 'd', parentId: 'missing', block: { name: 'sleep' } },
      ],
    });
    assert.deepEqual(errorsOf(validateTreeSpec(spec)), [
      'nodes: adding 5 nodes would exceed maxNodes 4 (the tree has 0)',
      'nodes[2].parentId: node "r" would have 2 children, more than maxChildrenPerNode 1',
      'nodes[3]: depth 2 exceeds maxDepth 1',
      'nodes[4].parentId: unknown node "missing"',
    ]);
  });

  void test('maxNodes above the cap (20,000) is refused with a message naming the limit and why; the cap itself is accepted', () => {
    const over = TreeSpecSchema.safeParse({ maxNodes: 20_001 });
    assert.equal(over.success, false);
    assert.deepEqual(over.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`), [
      "maxNodes: must be at most 20000 (one workflow carries its node table across continue-as-new within Temporal's 2 MB payload limit)",
    ]);
    assert.equal(TreeSpecSchema.parse({ maxNodes: 20_000 }).maxNodes, 20_000);
  });

  void test('a 20,000-node tree (the largest) of two 10,000-node chains (the deepest) given in reverse order validates without stack overflow', () => {
    const n = 20_000;
    const half = n / 2;
    const chain = (p: string) => Array.from({ length: half }, (_, i) => ({ id: `${p}${half - 1 - i}`, parentId: half - 1 - i === 0 ? null : `${p}${half - 2 - i}`, block: { name: 'sleep' as const } }));
    const nodes = [...chain('c'), ...chain('d')];
    const spec = TreeSpecSchema.parse({ maxNodes: n, maxDepth: half, nodes });
    const t0 = performance.now();
    const out = nodesOf(validateTreeSpec(spec));
    console.log(`  validation scale: ${n} nodes in two chains in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(out.length, n);
    assert.equal(out[0]?.id, 'c0');
    assert.equal(out.find((x) => x.id === `d${half - 1}`)?.depth, half - 1);
    // Close the first chain into one big cycle: c0's parent becomes its last node.
    const cyclic = TreeSpecSchema.parse({ maxNodes: n, maxDepth: half, nodes: nodes.map((x) => (x.id === 'c0' ? { ...x, parentId: `c${half - 1}` } : x)) });
    const errors = errorsOf(validateTreeSpec(cyclic));
    assert.equal(errors.length, 1);
    assert.match(errors[0] as string, new RegExp(`^nodes\\[0\\]: cycle c${half - 1} -> c${half - 2} -> .* -> c1 -> c0 -> c${half - 1}$`));
  });
});

test('a root whose built-in block needs an input, in a spec without inputDataPath: refused naming the node and the fix; a parent, a sample, the spec\'s input, sleep or inline code each make it fine', () => {
  const qc = { name: 'quality_control', parameters: {} };
  const errors = errorsOf(validateTreeSpec(TreeSpecSchema.parse({ nodes: [{ id: 'qc', parentId: null, block: qc }, { id: 'norm', parentId: 'qc', block: { name: 'normalize', parameters: {} } }] })));
  assert.deepEqual(errors, ['nodes[0].block: node "qc": block "quality_control" needs an input AnnData and the node has none: set the spec\'s inputDataPath, or give the node a parentId']);
  nodesOf(validateTreeSpec(TreeSpecSchema.parse({ inputDataPath: '/data/pbmc.h5ad', nodes: [{ id: 'qc', block: qc }] })));
  nodesOf(validateTreeSpec(TreeSpecSchema.parse({ nodes: [{ id: 'load', block: { name: 'sleep', parameters: {} } }] })));
  nodesOf(validateTreeSpec(TreeSpecSchema.parse({ nodes: [{ id: 'make', block: { code: 'def run(adata=None, **p):\n    return adata\n', parameters: {} } }] })));
  nodesOf(validateTreeSpec(TreeSpecSchema.parse({ samples: [{ sample: 'S1', path: '/data/s1.h5ad' }], nodes: [{ id: 'qc', sample: 'S1', block: qc }] })));
});

test('an addition that is a root with nothing to read: named by vet().rootless in a tree without inputDataPath, never in one with it; the request is left unchanged', () => {
  const norm = { name: 'normalize', parameters: {} };
  const request = { requestId: 'r1', nodes: [{ id: 'orphan', block: norm }, { id: 'child', parentId: 'root', block: norm }, { id: 'code', block: { code: 'def run(adata=None, **p):\n    return adata\n' } }] };
  const frozen = JSON.stringify(request);
  const bare = new TreeState(TreeSpecSchema.parse({ nodes: [{ id: 'root', block: { name: 'sleep', parameters: {} } }] }));
  assert.deepEqual(bare.vet(request).rootless, ['nodes[0].block: node "orphan": block "normalize" needs an input AnnData and the node has none: this tree has no inputDataPath: give the node a parentId, or one of the tree\'s samples (sample)']);
  const withInput = new TreeState(TreeSpecSchema.parse({ inputDataPath: '/data/pbmc.h5ad', nodes: [{ id: 'root', block: { name: 'sleep', parameters: {} } }] }));
  assert.deepEqual(withInput.vet(request).rootless, []);
  // A request that does not parse: its problems are check()'s errors, and only those.
  const unparsed = bare.vet({ nodes: 'no' });
  assert.ok(unparsed.errors.length > 0);
  assert.deepEqual([unparsed.rootless, unparsed.values], [[], []]);
  // A request id applied already: a retry with the same nodes is a duplicate (nothing is added
  // again, nothing to refuse); other nodes under it would be dropped without a word, so the
  // validator refuses them, and the tree's own id.
  assert.deepEqual(bare.start(0), { ok: true });
  const c2 = { id: 'c2', parentId: 'root', block: norm };
  assert.equal(bare.addNodes({ requestId: 'dup', nodes: [c2] }, { by: 'client' }, 0).ok, true);
  assert.deepEqual(bare.vet({ requestId: 'dup', nodes: [c2] }), { errors: [], rootless: [], values: [] });
  assert.deepEqual(bare.vet({ requestId: 'dup', nodes: [{ id: 'orphan', block: norm }] }), {
    errors: [], rootless: [],
    values: ['requestId: "dup" was applied before, adding "c2"; this request holds "orphan". A retry must send the same nodes: use a new request id for new ones'],
  });
  assert.deepEqual(bare.vet({ requestId: 'spec', nodes: [c2] }).values, ['requestId: "spec" names the tree\'s own nodes; choose another request id']);
  assert.equal(JSON.stringify(request), frozen);
});

test('a spec with shape errors: blockParameterErrors names the parameter errors of the nodes and templates that parse, so one pass reports both; placeholders and unparsable nodes are left to later', () => {
  const raw = {
    nodes: [
      { id: 'qc', block: { name: 'quality_control', parameters: { min_gene: 200 } } },
      { id: 'norm', parentId: 'qc', colour: 'blue', block: { name: 'normalize', parameters: { bogus: 1 } } },
      { id: 'pca', parentId: 'qc', block: { name: 'pca', parameters: { n_comps: 1 } } },
    ],
    forEachSample: [
      { id: 'qc_{sample}', block: { name: 'quality_control', parameters: { min_genes: -1 } } },
      { id: 'tag_{sample}', block: { name: 'quality_control', parameters: { mito_prefix: '{sample}' } } },
    ],
  };
  const frozen = JSON.stringify(raw);
  assert.deepEqual(blockParameterErrors(raw), [
    'forEachSample[0].block.parameters.min_genes: Too small: expected number to be >=0',
    'nodes[0].block.parameters.min_gene: unknown parameter of quality_control (did you mean min_genes?); it takes min_genes, max_genes, min_cells, max_pct_mito, mito_prefix',
    'nodes[2].block.parameters.n_comps: Too small: expected number to be >=2',
  ]);
  assert.equal(JSON.stringify(raw), frozen);
  assert.deepEqual(blockParameterErrors(null), []);
  assert.deepEqual(blockParameterErrors({ nodes: 'x' }), []);
});


test('umap min_dist above 1: the schema still takes it (running trees replay with it), the client and the update validator refuse it', () => {
  const umap = (d: number) => ({ id: 'u', parentId: 'root', block: { name: 'umap', parameters: { min_dist: d } } });
  const specOf = (d: number) => TreeSpecSchema.parse({ inputDataPath: '/data/x.h5ad', nodes: [{ id: 'root', block: { name: 'sleep', parameters: {} } }, umap(d)] });
  assert.deepEqual(errorsOf(validateTreeSpec(specOf(5))), ['nodes[1].block.parameters.min_dist: 5 is above 1, umap\'s spread: the embedding would be meaningless']);
  nodesOf(validateTreeSpec(specOf(1)));
  const tree = new TreeState(specOf(0.5));
  assert.deepEqual(tree.vet({ requestId: 'r', nodes: [umap(2)] }).values, ['nodes[0].block.parameters.min_dist: 2 is above 1, umap\'s spread: the embedding would be meaningless']);
  assert.deepEqual(tree.vet({ requestId: 'r', nodes: [umap(0.1)] }).values, []);
});

void test('localActivities: off by default; on, jobTimeout must be at most LOCAL_NODE_MAX_TIMEOUT_SECONDS', () => {
  assert.equal(TreeSpecSchema.parse({}).localActivities, false);
  const at = TreeSpecSchema.safeParse({ localActivities: true, jobTimeout: LOCAL_NODE_MAX_TIMEOUT_SECONDS });
  assert.ok(at.success);
  const over = TreeSpecSchema.safeParse({ localActivities: true });
  assert.ok(!over.success);
  assert.deepEqual(over.error.issues.map((i) => i.path.join('.')), ['jobTimeout']);
  assert.match(over.error.issues[0]!.message, /^must be at most 600 with localActivities .*got 3600: set jobTimeout$/);
  // Without localActivities the default stays what it was.
  assert.equal(TreeSpecSchema.parse({ jobTimeout: 3600 }).jobTimeout, 3600);
});
