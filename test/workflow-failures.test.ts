/**
 * Failure semantics on the real server: failed, timed-out and cancelled nodes cancel their
 * dependents (the reason names the node) while other branches go on; retries use Temporal's
 * retry policy and every attempt shows in the timeline; the tree result lists every failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { sleepNode, uid, waitFor, withWorker } from './helpers/harness';
import { TreeStateKey } from '../common/search-attributes';

test('a failing node cancels its dependents; the other branch completes; the failure is reported', async () => {
  await withWorker({}, async ({ client }) => {
    const tree = await client.startTree({
      id: uid('fail'),
      maxNodes: 10,
      nodes: [
        sleepNode('root', 0.1),
        sleepNode('bad', 0.1, { parentId: 'root', fail: true }),
        sleepNode('bad-child', 0.1, { parentId: 'bad' }),
        sleepNode('bad-grandchild', 0.1, { parentId: 'bad-child' }),
        sleepNode('good', 0.3, { parentId: 'root' }),
        sleepNode('good-child', 0.1, { parentId: 'good' }),
      ],
    });
    const result = await tree.result();
    assert.equal(result.state, 'FAILED');
    assert.equal(result.allSucceeded, false);
    const status = await tree.status({ nodeWaits: false });
    const states = Object.fromEntries(status.nodes.map((n) => [n.id, n.state]));
    assert.deepEqual(states, { root: 'COMPLETED', bad: 'FAILED', 'bad-child': 'CANCELLED', 'bad-grandchild': 'CANCELLED', good: 'COMPLETED', 'good-child': 'COMPLETED' });
    // The result carries the same final status as a query of the closed workflow.
    assert.deepEqual(result.status, status);
    const failures = Object.fromEntries(result.failures.map((f) => [f.nodeId, f]));
    assert.match(failures.bad!.error, /fail=true/);
    assert.match(failures['bad-child']!.error, /dependency "bad" FAILED/);
    assert.match(failures['bad-grandchild']!.error, /"bad-child" CANCELLED.*root cause: "bad" FAILED/);
  });
});

test('retries follow maxRetries with every attempt in the timeline; a node past its timeout ends TIMEOUT', async () => {
  await withWorker({}, async ({ client }) => {
    const tree = await client.startTree({
      id: uid('retry'),
      retryDelay: 0.1,
      nodes: [
        sleepNode('flaky', 0.05, { fail: true, maxRetries: 2 }),
        sleepNode('slow', 5, { timeout: 0.5 }),
        sleepNode('after-slow', 0.1, { parentId: 'slow' }),
      ],
    });
    const result = await tree.result();
    const status = await tree.status();
    const flaky = status.nodes.find((n) => n.id === 'flaky')!;
    assert.equal(flaky.state, 'FAILED');
    assert.equal(flaky.attempts, 3, 'one attempt plus two retries');
    const attempts = (await tree.timeline()).filter((e) => e.node === 'flaky');
    assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3]);
    assert.ok(attempts.every((a) => a.state === 'FAILED'));
    assert.ok(attempts.every((a) => a.started && a.ended && a.worker), 'every failed attempt has its real start, end and worker');
    assert.ok(attempts.every((a) => a.exitCode === 70), 'and the block exit code');
    assert.equal(status.nodes.find((n) => n.id === 'slow')!.state, 'TIMEOUT');
    assert.equal(status.nodes.find((n) => n.id === 'after-slow')!.state, 'CANCELLED');
    assert.match(result.failures.find((f) => f.nodeId === 'after-slow')!.error, /dependency "slow" TIMEOUT/);
    const slowEnd = Date.parse(status.nodes.find((n) => n.id === 'slow')!.endedAt!);
    const slowStart = Date.parse(status.nodes.find((n) => n.id === 'slow')!.startedAt!);
    console.log(`# timeout: the 5 s node with a 0.5 s timeout ran ${slowEnd - slowStart} ms`);
    // The promise: a node past its timeout is stopped then, not when its work would have ended
    // (5 s). Measured on the 2-core box (load average 3-40): 500-506 ms; with two `yes` CPU hogs
    // beside the run 500-583 ms. 3 s is > 5x the worst.
    assert.ok(slowEnd - slowStart < 3000, `killed near its 0.5 s timeout (ran ${slowEnd - slowStart} ms)`);
  });
});

test('cancel one running node: it and its dependents are CANCELLED, the rest completes', async () => {
  await withWorker({}, async ({ client }) => {
    // Kept open until closed, so the cancel and the checks below always find the tree running.
    const tree = await client.startTree({
      id: uid('cancel-node'),
      expansion: { idleTimeout: 600 },
      nodes: [sleepNode('long', 600), sleepNode('long-child', 0.1, { parentId: 'long' }), sleepNode('other', 0.2)],
    });
    await waitFor(async () => (await tree.status()).nodes.find((n) => n.id === 'other')?.state === 'COMPLETED');
    const t0 = Date.now();
    const cancelled = await tree.cancelNode('long', 'not needed');
    assert.deepEqual(cancelled, ['long']);
    await assert.rejects(tree.cancelNode('other'), /already ended COMPLETED/);
    await assert.rejects(tree.cancelNode('nope'), /unknown node "nope"/);
    await waitFor(async () => (await tree.status()).nodes.find((n) => n.id === 'long')?.state === 'CANCELLED');
    const stopMs = Date.now() - t0;
    console.log(`# cancel node: running node CANCELLED ${stopMs} ms after the cancel`);
    // A promise of cancelNode: the running node stops within seconds. Measured on the 2-core box
    // (load average 3-40 from other suites): 721-872 ms; with two `yes` CPU hogs beside the run
    // 786-877 ms. 5 s is > 5x the worst.
    assert.ok(stopMs < 5000, `the running node was stopped within 5 s (${stopMs} ms)`);
    await tree.close();
    const result = await tree.result();
    const status = await tree.status();
    const states = Object.fromEntries(status.nodes.map((n) => [n.id, n.state]));
    assert.deepEqual(states, { long: 'CANCELLED', 'long-child': 'CANCELLED', other: 'COMPLETED' });
    assert.equal(status.nodes.find((n) => n.id === 'long')!.error, 'not needed');
    assert.match(status.nodes.find((n) => n.id === 'long-child')!.error!, /dependency "long" CANCELLED/);
    assert.equal(result.state, 'FAILED');
    await assert.rejects(tree.cancelNode('other'), /finished/);
  });
});

test('cancel the tree: running nodes stop, waiting ones are cancelled, the tree ends CANCELLED', async () => {
  await withWorker({}, async ({ client }) => {
    const tree = await client.startTree({ id: uid('cancel-tree'), nodes: [sleepNode('a', 30), sleepNode('b', 30), sleepNode('c', 1, { parentId: 'a' })] });
    await waitFor(async () => (await tree.status()).runningJobs === 2);
    const t0 = Date.now();
    await tree.cancel('user stop');
    const result = await tree.result();
    const endMs = Date.now() - t0;
    console.log(`# cancel tree: ended ${endMs} ms after the cancel`);
    // A promise of cancel: the tree ends within seconds, not when its 30 s nodes would have.
    // Measured on the 2-core box (load average 3-40): 1060-1104 ms; with two `yes` CPU hogs
    // beside the run 1090-1113 ms. 10 s is > 5x the worst.
    assert.ok(endMs < 10_000, `the tree ended promptly (${endMs} ms)`);
    assert.equal(result.state, 'CANCELLED');
    assert.deepEqual((await tree.status()).nodes.map((n) => n.state), ['CANCELLED', 'CANCELLED', 'CANCELLED']);
  });
});

test('the workflow itself cancelled through Temporal (not cancelTree) while a node runs: it ends as cancelTree does, then closes cancelled', async () => {
  await withWorker({}, async ({ client }) => {
    // The main loop waits for events on a promise that only the workflow scope's cancellation
    // can reject (workflows/analysis-tree.ts, LEAN_WAKE_PATCH): a wait that missed it would hang.
    const tree = await client.startTree({ id: uid('cancel-wf'), nodes: [sleepNode('a', 600), sleepNode('b', 1, { parentId: 'a' }), sleepNode('c', 600)], maxParallelJobs: 1 });
    await waitFor(async () => (await tree.status()).runningJobs === 1);
    const handle = client.client.workflow.getHandle(tree.treeId);
    await handle.cancel();
    const err = await tree.result().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError, `the run failed (${String(err)})`);
    assert.ok(err.cause instanceof CancelledFailure, `as cancelled (${String(err.cause)})`);
    const described = await handle.describe();
    assert.equal(described.status.name, 'CANCELLED');
    // Before it closed, every node ended: the running one once its attempt had stopped (it closed
    // at once before, with "a" still RUNNING in its last state), the others without running.
    const status = await tree.status({ transitions: true });
    assert.equal(status.state, 'CANCELLED');
    assert.deepEqual(Object.fromEntries(status.nodes.map((n) => [n.id, n.state])), { a: 'CANCELLED', b: 'CANCELLED', c: 'CANCELLED' });
    const a = status.nodes.find((n) => n.id === 'a')!;
    assert.equal(a.attempts, 1);
    assert.ok(a.endedAt !== null, 'the attempt of "a" ended');
    assert.equal(a.error, 'tree cancelled (workflow cancel request)');
    assert.equal(described.typedSearchAttributes.get(TreeStateKey), 'CANCELLED', 'the Web UI\'s state column');
  });
});

test('a node cancelled while it waits to re-run on an unavailable executor ends then, not when the back-off ends', async () => {
  // A local executor whose interpreter does not exist: every run is ExecutorUnavailable, and the
  // node waits 5, 10, 20 s... before its next run (node-runner.ts, LOST_BACKOFF_PATCH).
  await withWorker({ executor: 'local', python: '/nonexistent/ragomics-no-python' }, async ({ client }) => {
    const tree = await client.startTree({ id: uid('backoff-cancel'), nodes: [sleepNode('a', 1)] });
    const runs = async () => (await tree.timeline()).filter((e) => e.node === 'a');
    // Three runs ended (each failed to start Python) and no fourth started: the node is in its 20 s back-off.
    await waitFor(async () => { const t = await runs(); return t.length === 3 && t.every((e) => e.state !== 'RUNNING'); }, 120_000);
    const t0 = Date.now();
    await tree.cancelNode('a', 'test: stop waiting');
    await waitFor(async () => (await tree.status()).nodes[0]!.state === 'CANCELLED', 60_000);
    const ms = Date.now() - t0;
    console.log(`# back-off cancel: the node ended ${ms} ms after cancelNode`);
    // Before, the node stayed RUNNING until its 20 s back-off ended (19 s or more after the
    // cancel, which follows the third loss within a poll); now it ends at the next workflow
    // task. 10 s is half the back-off: it tells the two apart without timing the fix itself.
    // Measured 2026-12-05 (2 cores, full suite, ci-cold and ci-final2): 304 and 371 ms; 10 s is > 25x that.
    assert.ok(ms < 10_000, `the node ended ${ms} ms after the cancel, inside its 20 s back-off`);
    assert.equal((await runs()).length, 3, 'no fourth run');
    assert.equal((await tree.result()).state, 'FAILED');
    assert.equal((await tree.status()).nodes[0]!.error, 'test: stop waiting');
  });
});

test('pause stops dispatching, resume goes on; maxParallelJobs changes while running', async () => {
  await withWorker({}, async ({ client }) => {
    // Every node runs until the test ends it, so no step depends on how long a node takes.
    const tree = await client.startTree({ id: uid('pause'), maxParallelJobs: 1, nodes: ['a', 'b', 'c', 'd'].map((id) => sleepNode(id, 600)) });
    await waitFor(async () => (await tree.status()).runningJobs === 1);
    await tree.pause();
    await waitFor(async () => (await tree.status()).paused);
    // The running node ends while paused: the workflow task that records its end is the one that
    // would start the next node, so the status right after shows whether one was started.
    const first = (await tree.status()).nodes.find((n) => n.state === 'RUNNING')!.id;
    await tree.cancelNode(first, 'make room');
    await waitFor(async () => (await tree.status()).nodes.find((n) => n.id === first)?.state === 'CANCELLED');
    let s = await tree.status();
    assert.equal(s.paused, true);
    assert.equal(s.counts.RUNNING, 0, 'nothing started while paused');
    assert.equal(s.counts.READY, 3);
    assert.deepEqual(await tree.setMaxParallelJobs(3), { previous: 1, current: 3 });
    await assert.rejects(tree.setMaxParallelJobs(0), /maxParallelJobs: must be an integer from 1 to 1000/);
    assert.equal((await tree.status()).counts.RUNNING, 0, 'a new limit starts nothing while paused');
    await tree.resume();
    // b, c and d run side by side after the change (they run until cancelled below).
    await waitFor(async () => (await tree.status()).runningJobs === 3);
    s = await tree.status();
    assert.deepEqual(s.nodes.filter((n) => n.state === 'RUNNING').map((n) => n.id).sort(), ['a', 'b', 'c', 'd'].filter((id) => id !== first));
    await tree.cancel('test done');
    assert.equal((await tree.result()).state, 'CANCELLED');
  });
});


test('out of memory re-runs the node with more memory (memoryGrowthFactor), up to maxMemoryMB', async () => {
  await withWorker({}, async ({ client }) => {
    const tree = await client.startTree({
      id: uid('oom'),
      nodes: [
        { id: 'hungry', maxRetries: 2, resources: { memoryMB: 128, memoryGrowthFactor: 2, maxMemoryMB: 512 }, block: { name: 'sleep', parameters: { memoryMB: 300 } } },
        { id: 'capped', maxRetries: 3, resources: { memoryMB: 128, memoryGrowthFactor: 2, maxMemoryMB: 256 }, block: { name: 'sleep', parameters: { memoryMB: 300 } } },
      ],
    });
    const result = await tree.result();
    const t = await tree.timeline();
    const hungry = t.filter((e) => e.node === 'hungry');
    assert.deepEqual(hungry.map((e) => e.state), ['FAILED', 'FAILED', 'COMPLETED'], '128 MB and 256 MB ran out, 512 MB was enough');
    assert.equal((await tree.status()).nodes.find((n) => n.id === 'hungry')!.state, 'COMPLETED');
    const capped = result.failures.find((f) => f.nodeId === 'capped')!;
    assert.equal(capped.state, 'FAILED');
    assert.match(capped.error, /limit is 256 MB/);
  });
});
