/**
 * The default nodes of a fork without a nodes file (client/fork.ts copyDescendants): the source
 * node's descendants, re-rooted at the fork, with their settings; and the cases it refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyDescendants } from '../../client/fork';
import { ForkSourceError } from '../../client/errors';
import type { NodeStatus } from '../../workflows/views';

const n = (id: string, parentId: string | null, extra: Partial<NodeStatus> = {}): NodeStatus => ({
  id, parentId, block: 'sleep', state: 'COMPLETED', attempts: 1, queuedAt: '', startedAt: null, endedAt: null, error: null,
  blockSpec: { name: 'sleep', parameters: { seconds: 1, fail: false, memoryMB: 0 } }, dependencies: parentId ? [parentId] : [], priority: 0, ...extra,
});

void test('descendants by parentId and inputs, children of the fork node become roots, outside dependencies dropped, settings kept', () => {
  const nodes = [
    n('qc', null), n('norm', 'qc'), n('other', 'qc'),
    n('hvg', 'norm', { priority: 5, timeout: 30, maxRetries: 2, resources: { memoryMB: 512 }, taskQueue: 'big', expectedDuration: 9 }),
    n('pca', 'hvg', { dependencies: ['hvg', 'other'] }),
    n('umap', 'pca', { sample: 's1' }),
    n('both', null, { inputs: ['pca', 'umap'], dependencies: ['pca', 'umap'] }),
    n('unrelated', 'other'),
  ];
  assert.deepEqual(copyDescendants(nodes, 'norm', 't'), [
    { id: 'hvg', parentId: null, dependencies: [], block: nodes[3]?.blockSpec, priority: 5, timeout: 30, maxRetries: 2, resources: { memoryMB: 512 }, expectedDuration: 9, taskQueue: 'big' },
    { id: 'pca', parentId: 'hvg', dependencies: ['hvg'], block: nodes[4]?.blockSpec, priority: 0 },
    { id: 'umap', parentId: 'pca', dependencies: ['pca'], block: nodes[5]?.blockSpec, priority: 0 },
    { id: 'both', parentId: null, dependencies: ['pca', 'umap'], block: nodes[6]?.blockSpec, inputs: ['pca', 'umap'], priority: 0 },
  ]);
});

void test('refused: a leaf (nothing to copy), a descendant reading a node outside the copy', () => {
  const nodes = [n('qc', null), n('a', 'qc'), n('b', 'qc'), n('g', null, { inputs: ['a', 'b'], dependencies: ['a', 'b'] })];
  assert.throws(() => copyDescendants(nodes, 'b', 't1'), (e: unknown) => e instanceof ForkSourceError && e.problem === 'cannot-copy'
    && e.message === 'NODES_FILE: node "g" reads "a", "b", which the copy of "b"\'s descendants does not hold; give the new tree\'s nodes in a nodes file');
  assert.throws(() => copyDescendants(nodes, 'g', 't1'), (e: unknown) => e instanceof ForkSourceError && e.problem === 'nothing-to-copy'
    && e.message === 'NODES_FILE: node "g" of tree "t1" has no descendants to copy; give the new tree\'s nodes in a nodes file');
});
