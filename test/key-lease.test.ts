/**
 * Identical work in flight runs once (issue 14, part 2), on the real Temporal server.
 *
 * The protocol: `leaseClaimer` workflows (test/fixtures/key-lease/workflows.ts) stand for nodes
 * of different trees and claim one key through the real acquireKeyLease and lease workflow:
 * who computes, who waits, what completion, failure, cancellation and termination of the owner
 * tell the waiters, and what happens to a cancelled waiter. Every claimer holds the key until
 * the test says how its computation ended, so "in flight together" is a fact, not a timing.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { TEMPORAL_ADDRESS, uid, waitFor } from './helpers/harness';
import { keyLeaseWorkflowId } from '../workflows/key-lease-messages';
import { finishSignal, progressQuery, type ClaimerInput, type ClaimerResult, type leaseClaimer } from './fixtures/key-lease/workflows';

const newKey = () => randomBytes(32).toString('hex');

void describe('key lease protocol (claimer workflows)', () => {
  let client: Client;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = uid('lease-tq');

  before(async () => {
    nativeConnection = await NativeConnection.connect({ address: TEMPORAL_ADDRESS });
    worker = await Worker.create({ connection: nativeConnection, taskQueue, workflowsPath: require.resolve('./fixtures/key-lease/workflows') });
    running = worker.run();
    connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
    client = new Client({ connection });
  });

  after(async () => {
    worker.shutdown();
    await running;
    await connection.close();
    await nativeConnection.close();
  });

  function claim(key: string, nodeId: string, holdLimitSeconds = 600): Promise<WorkflowHandle<typeof leaseClaimer>> {
    const input: ClaimerInput = { key, nodeId, holdLimitSeconds };
    return client.workflow.start<typeof leaseClaimer>('leaseClaimer', { taskQueue, workflowId: uid(`claimer-${nodeId}`), args: [input] });
  }
  const progress = (h: WorkflowHandle) => h.query(progressQuery);
  /** Waits until the claimer owns the key (its claim was answered `compute`). */
  const owns = (h: WorkflowHandle) => waitFor(async () => (await progress(h)).role === 'compute');
  /** Waits until the claimer waits for `ownerWorkflowId`. */
  const waitsFor = (h: WorkflowHandle, ownerWorkflowId: string) => waitFor(async () => (await progress(h)).waits.some((w) => w.treeId === ownerWorkflowId));
  const leaseStatus = async (key: string) => (await client.workflow.getHandle(keyLeaseWorkflowId(key)).describe()).status.name;

  void test('the first claim computes, the second waits for it and is told ready; the lease then ends', async () => {
    const key = newKey();
    const a = await claim(key, 'n1');
    await owns(a);
    const b = await claim(key, 'n2');
    await waitsFor(b, a.workflowId);
    assert.equal((await progress(b)).role, null, 'still waiting while the owner computes');
    const lease = await client.workflow.getHandle(keyLeaseWorkflowId(key)).describe();
    assert.equal(lease.status.name, 'RUNNING');
    assert.equal(lease.parentExecution?.workflowId, a.workflowId, 'the lease is a child of the first claimer');
    await a.signal(finishSignal, 'completed');
    const rb: ClaimerResult = await b.result();
    assert.equal(rb.role, 'ready');
    assert.deepEqual(rb.owner, { treeId: a.workflowId, nodeId: 'n1' });
    assert.equal((await a.result()).role, 'compute');
    await waitFor(async () => (await leaseStatus(key)) === 'COMPLETED');
    const result = (await client.workflow.getHandle(keyLeaseWorkflowId(key)).result()) as { owners: number; served: number };
    assert.deepEqual({ owners: result.owners, served: result.served }, { owners: 1, served: 1 });
    // A claim after the lease ended starts a new one (same workflow id) and computes.
    const c = await claim(key, 'n3');
    await owns(c);
    await c.signal(finishSignal, 'completed');
    assert.equal((await c.result()).role, 'compute');
  });

  void test('the owner fails: every waiter fails naming it and its error; a later claim computes afresh', async () => {
    const key = newKey();
    const a = await claim(key, 'n1');
    await owns(a);
    const [b, c] = await Promise.all([claim(key, 'n2'), claim(key, 'n3')]);
    await waitsFor(b, a.workflowId);
    await waitsFor(c, a.workflowId);
    await a.signal(finishSignal, 'failed', 'BlockCrashedError: exit 1');
    for (const h of [b, c]) {
      const r = await h.result();
      assert.equal(r.role, 'failed');
      assert.deepEqual(r.owner, { treeId: a.workflowId, nodeId: 'n1' });
      assert.equal(r.error, 'BlockCrashedError: exit 1');
    }
    await a.result();
    await waitFor(async () => (await leaseStatus(key)) === 'COMPLETED');
    const d = await claim(key, 'n4');
    await owns(d);
    await d.signal(finishSignal, 'completed');
    await d.result();
  });

  void test('the owner is cancelled: the next waiter computes, the one after it now waits for that one', async () => {
    const key = newKey();
    const a = await claim(key, 'n1');
    await owns(a);
    const b = await claim(key, 'n2');
    await waitsFor(b, a.workflowId);
    const c = await claim(key, 'n3');
    await waitsFor(c, a.workflowId);
    await a.cancel();
    await assert.rejects(a.result(), WorkflowFailedError);
    await owns(b);
    await waitsFor(c, b.workflowId);
    await b.signal(finishSignal, 'completed');
    const rc = await c.result();
    assert.equal(rc.role, 'ready');
    assert.deepEqual(rc.owner, { treeId: b.workflowId, nodeId: 'n2' });
    assert.deepEqual(rc.waits.map((w) => w.treeId), [a.workflowId, b.workflowId]);
  });

  void test('the owner is terminated: after its hold limit the waiter computes', async () => {
    const key = newKey();
    const a = await claim(key, 'n1', 3);
    await owns(a);
    const ownedAt = Date.now();
    const b = await claim(key, 'n2');
    await waitsFor(b, a.workflowId);
    await a.terminate('test: the owner tree is gone');
    await owns(b);
    // By the hold-limit timer (3 s from the owner's grant), not at once.
    assert.ok(Date.now() - ownedAt >= 2500, `handed over after ${Date.now() - ownedAt} ms`);
    await b.signal(finishSignal, 'completed');
    assert.equal((await b.result()).role, 'compute');
    await waitFor(async () => (await leaseStatus(key)) === 'COMPLETED');
    const result = (await client.workflow.getHandle(keyLeaseWorkflowId(key)).result()) as { owners: number };
    assert.equal(result.owners, 2);
  });

  void test('a cancelled waiter: the owner goes on; a hand-over skips the closed waiter', async () => {
    const key = newKey();
    const a = await claim(key, 'n1');
    await owns(a);
    const b = await claim(key, 'n2');
    await waitsFor(b, a.workflowId);
    await b.cancel();
    await assert.rejects(b.result(), WorkflowFailedError);
    assert.equal(await leaseStatus(key), 'RUNNING', 'the waiter\'s cancellation does not touch the lease');
    assert.equal((await progress(a)).role, 'compute');
    const c = await claim(key, 'n3');
    await waitsFor(c, a.workflowId);
    await a.signal(finishSignal, 'cancelled');
    // b (closed) cannot take the key: c computes.
    await owns(c);
    await c.signal(finishSignal, 'completed');
    assert.equal((await c.result()).role, 'compute');
  });

  void test('a lease terminated by hand: its waiter claims again after its own hold limit and computes', async () => {
    const key = newKey();
    const a = await claim(key, 'n1');
    await owns(a);
    const b = await claim(key, 'n2', 3);
    await waitsFor(b, a.workflowId);
    const leaseRun = (await client.workflow.getHandle(keyLeaseWorkflowId(key)).describe()).runId;
    await client.workflow.getHandle(keyLeaseWorkflowId(key)).terminate('test: an operator removed the lease');
    await owns(b);
    const next = await client.workflow.getHandle(keyLeaseWorkflowId(key)).describe();
    assert.notEqual(next.runId, leaseRun, 'a new lease run');
    assert.equal(next.parentExecution?.workflowId, b.workflowId, 'started by the waiter');
    await b.signal(finishSignal, 'completed');
    await a.signal(finishSignal, 'completed');
    assert.equal((await b.result()).role, 'compute');
    assert.equal((await a.result()).role, 'compute', 'the first owner is not disturbed (its release reaches a lease that no longer knows it)');
  });
});
