/** The hand-over of a cache lookup's resolved image to its node's run (activities/executors/docker-resolved.ts): taken once, by that attempt only, until it expires. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResolvedImages, type ResolvedFor } from '../../activities/executors/docker-resolved';

const node: ResolvedFor = { treeId: 't', runKey: 'aaaa1111', nodeId: 'n', attempt: 1, requirements: [] };
const A = { ref: 'sha256:a', digest: 'sha256:a' };
const B = { ref: 'sha256:b', digest: 'sha256:b' };

void test('ResolvedImages: the lookup\'s image goes to its attempt\'s run once; a retry resolves afresh', () => {
  const r = new ResolvedImages();
  r.put(node, A);
  assert.deepEqual(r.take(node), A);
  assert.equal(r.take(node), null, 'taken once');
  r.put(node, A);
  r.put(node, B);
  assert.deepEqual(r.take(node), B, 'a later lookup of the same attempt replaces it');
  assert.equal(r.size, 0);
});

void test('ResolvedImages: another attempt, execution, node, tree or requirement set gets nothing', () => {
  const r = new ResolvedImages();
  r.put({ ...node, requirements: ['b', 'a', 'a'] }, A);
  for (const other of [
    { ...node, attempt: 2 }, { ...node, runKey: 'bbbb2222' }, { ...node, runKey: undefined }, { ...node, nodeId: 'm' }, { ...node, treeId: 'u' },
    { ...node, requirements: [] }, { ...node, requirements: ['a'] },
  ]) {
    assert.equal(r.take(other), null, JSON.stringify(other));
  }
  assert.deepEqual(r.take({ ...node, requirements: ['a', 'b'] }), A, 'the same set in another order');
});

void test('ResolvedImages: an entry expires after ttlMs; at most max entries, the oldest dropped first', () => {
  let now = 0;
  const r = new ResolvedImages({ ttlMs: 1000, max: 3, now: () => now });
  r.put(node, A);
  now = 1001;
  assert.equal(r.take(node), null, 'expired');
  for (let i = 1; i <= 5; i++) r.put({ ...node, attempt: i }, A);
  assert.equal(r.size, 3);
  assert.equal(r.take({ ...node, attempt: 1 }), null, 'the oldest went first');
  assert.equal(r.take({ ...node, attempt: 2 }), null);
  assert.deepEqual(r.take({ ...node, attempt: 5 }), A);
  // Expired entries are dropped when the next one comes (lookups whose node was a cache hit are never taken).
  now = 5000;
  r.put({ ...node, attempt: 9 }, B);
  assert.equal(r.size, 1);
});
