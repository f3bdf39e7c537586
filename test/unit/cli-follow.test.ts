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
  // The result arrives at 50 ms; without following it the call would wait for its next 60 s poll.
  // The test took 58-59 ms in all (TAP duration, full suite, 2026-12-05): 5 s is > 80x that.
  const ms = Date.now() - t0;
  console.log(`# followTree returned ${ms} ms after its start (result at 50 ms, poll interval 60 s)`);
  assert.ok(ms < 5_000, `took ${ms} ms with a 60 s poll interval`);
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

test('followTree takes the final status from the result when it carries one, asking nothing more', async () => {
  const status = { treeId: 't', state: 'COMPLETED', nodes: [{ id: 'a', state: 'COMPLETED' }] };
  const { tree, statusCalls } = fakeTree(Promise.resolve({ state: 'COMPLETED', status }), () => 'RUNNING');
  const final = await followTree(tree, { intervalMs: 60_000 });
  assert.deepEqual(final, status);
  assert.deepEqual(statusCalls, []);
});

/** A tree whose summary (or status) calls stay unanswered until their signal cancels them, as a query of a closing workflow does. */
function hangingTree(result: Promise<unknown>, hang: 'summary' | 'status'): { tree: TreeHandle; signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  const answerOrHang = <T>(o: { signal?: AbortSignal }, answer: T, hangs: boolean): Promise<T> => {
    if (!hangs) return Promise.resolve(answer);
    assert.ok(o.signal, 'a call made while the tree runs carries a signal');
    signals.push(o.signal);
    return new Promise((_, reject) => o.signal!.addEventListener('abort', () => reject(new Error('cancelled'))));
  };
  const tree = {
    treeId: 't',
    result: () => result,
    summary: (o: { signal?: AbortSignal } = {}) => answerOrHang(o, { treeId: 't', state: 'RUNNING', version: 1 }, hang === 'summary'),
    status: (o: StatusOptions = {}) => answerOrHang(o, { treeId: 't', state: 'RUNNING', nodes: [] } as unknown as LiveTreeStatus, hang === 'status'),
  } as unknown as TreeHandle;
  return { tree, signals };
}

for (const hang of ['summary', 'status'] as const) {
  test(`followTree cancels a ${hang} call still unanswered when the tree closes, and returns`, { timeout: 60_000 }, async () => {
    let close: (v: unknown) => void = () => undefined;
    const result = new Promise((r) => (close = r));
    const { tree, signals } = hangingTree(result, hang);
    const renderer = { update: () => undefined, finish: () => undefined };
    const following = followTree(tree, { intervalMs: 60_000, renderer });
    // Closed only once the hanging call was made (no fixed wait).
    while (signals.length === 0) await new Promise((r) => setImmediate(r));
    close({ state: 'COMPLETED', status: { treeId: 't', state: 'COMPLETED', nodes: [] } });
    const final = await following;
    assert.equal(final.state, 'COMPLETED');
    assert.equal(signals[0]!.aborted, true);
  });
}
