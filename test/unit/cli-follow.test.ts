/** `run`/`watch`'s follow loop ends when the tree's result arrives, not a poll interval later. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { followTree } from '../../client/cli/follow';
import type { LiveTreeStatus, StatusOptions, TreeHandle } from '../../client/sdk';

function fakeTree(result: Promise<unknown>, summaryState: () => string): { tree: TreeHandle; statusCalls: StatusOptions[] } {
  const statusCalls: StatusOptions[] = [];
  const tree = {
    treeId: 't',
    result: () => result,
    summary: () => Promise.resolve({ treeId: 't', state: summaryState(), version: 1 }),
    status: (o: StatusOptions = {}) => {
      statusCalls.push(o);
      return Promise.resolve({ treeId: 't', state: summaryState(), nodes: [] } as unknown as LiveTreeStatus);
    },
  } as unknown as TreeHandle;
  return { tree, statusCalls };
}

test('followTree returns as soon as the result arrives, mid-interval', async () => {
  let closed = false;
  const result = new Promise((r) => setTimeout(() => {
    closed = true;
    r({ state: 'COMPLETED' });
  }, 50));
  const { tree, statusCalls } = fakeTree(result, () => (closed ? 'COMPLETED' : 'RUNNING'));
  const t0 = Date.now();
  const final = await followTree(tree, { intervalMs: 60_000 });
  assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms with a 60 s poll interval`);
  assert.equal(final.state, 'COMPLETED');
  // The final status of a closed tree skips the server's pending-work view.
  assert.deepEqual(statusCalls.at(-1), { nodeWaits: false });
});

test('followTree surfaces a failed workflow as the result\'s error', async () => {
  const result = new Promise((_, reject) => setTimeout(() => reject(new Error('workflow failed')), 20));
  const { tree } = fakeTree(result, () => 'RUNNING');
  await assert.rejects(followTree(tree, { intervalMs: 60_000 }), /workflow failed/);
});

test('followTree waits for the result when the summary already says the tree ended', async () => {
  let resolved = false;
  const result = new Promise((r) => setTimeout(() => {
    resolved = true;
    r({});
  }, 30));
  const { tree } = fakeTree(result, () => 'FAILED');
  await followTree(tree, { intervalMs: 10 });
  assert.ok(resolved);
});
