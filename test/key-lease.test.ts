/**
 * Identical work in flight runs once (issue 14, part 2), on the real Temporal server.
 *
 * The protocol: `leaseClaimer` workflows (test/fixtures/key-lease/workflows.ts) stand for nodes
 * of different trees and claim one key through the real acquireKeyLease and lease workflow:
 * who computes, who waits, what completion, failure, cancellation and termination of the owner
 * tell the waiters, and what happens to a cancelled waiter. Every claimer holds the key until
 * the test says how its computation ended, so "in flight together" is a fact, not a timing.
 *
 * The trees: two analysis trees reach the same cache key (the same deterministic inline block on
 * the local executor: real Python, real publishing into the cache store). The harness's gate
 * holds the node's attempt inside the executor until the test releases it, so the second tree
 * provably reaches the key while the first computes it. Then: one computes and the other reuses
 * its output (a); the owner fails and the waiter fails with SharedComputationFailedError, and a
 * later tree computes afresh (b); the owner is cancelled and the waiter computes (c); the
 * owner's workflow is terminated and the waiter computes after the hold limit (d), while a live
 * owner renews its hold and keeps the key past it; the owner runs
 * out of memory and the waiter, whose limits may differ, is handed the key and computes (g); two workers with their own task queues and one workspace, as on two
 * hosts, compute a key once between them (f).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { spawnSync } from 'node:child_process';
import { TEMPORAL_ADDRESS, uid, waitFor, withWorker, type WorkerContext } from './helpers/harness';
import { skipUnlessCI } from './helpers/prereq';
import { resolveLocalPython } from '../activities';
import { FailureTypes } from '../common/failure-types';
import { renderStatusText, toContractStatus } from '../client/cli/status-view';
import type { TreeHandle } from '../client/sdk';
import type { LiveNodeStatus } from '../client/slot-wait';
import { keyLeaseWorkflowId } from '../workflows/key-lease-messages';
import { holdLimitSeconds } from '../workflows/key-lease';
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
    // The same node id in both (two trees with the same node): claims still tell them apart.
    const a = await claim(key, 'n1');
    await owns(a);
    const b = await claim(key, 'n1');
    await waitsFor(b, a.workflowId);
    assert.equal((await progress(b)).role, null, 'still waiting while the owner computes');
    const lease = await client.workflow.getHandle(keyLeaseWorkflowId(key)).describe();
    assert.equal(lease.status.name, 'RUNNING');
    assert.equal(lease.parentExecution?.workflowId, a.workflowId, 'the lease is a child of the first claimer');
    assert.equal(await lease.staticSummary(), `cache key ${key.slice(0, 12)} · computing in tree ${a.workflowId} node n1`, 'the Web UI summary');
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
    // Long enough for b's claim to reach the lease before it runs out on a loaded machine (a
    // claim is a start, a signal and a workflow task: seconds at worst, not ten).
    const holdS = 15;
    const a = await claim(key, 'n1', holdS);
    await owns(a);
    const b = await claim(key, 'n2');
    await waitsFor(b, a.workflowId);
    await a.terminate('test: the owner tree is gone');
    await owns(b);
    // By the hold-limit timer, counted from the owner's grant, not at once. The lease started with
    // a's claim and granted it at once, so its start time is at or before the grant (same host clock).
    const leaseStart = (await client.workflow.getHandle(keyLeaseWorkflowId(key)).describe()).startTime.getTime();
    assert.ok(Date.now() - leaseStart >= holdS * 1000, `handed over ${Date.now() - leaseStart} ms after the lease started (hold limit ${holdS} s)`);
    await b.signal(finishSignal, 'completed');
    assert.equal((await b.result()).role, 'compute');
    await waitFor(async () => (await leaseStatus(key)) === 'COMPLETED');
    const result = (await client.workflow.getHandle(keyLeaseWorkflowId(key)).result()) as { owners: number };
    assert.equal(result.owners, 2);
  });

  void test('a live owner renews its hold: its waiter keeps waiting past the first hold limit, then is told ready', async () => {
    const key = newKey();
    // Renewals every 4 s leave 4 s for each to reach the lease before the hold runs out, a margin
    // for a loaded machine (a renewal is a timer, a signal and a workflow task on each side).
    const holdS = 8;
    const a = await claim(key, 'n1', holdS);
    await owns(a);
    const b = await claim(key, 'n2');
    await waitsFor(b, a.workflowId);
    const lease = client.workflow.getHandle(keyLeaseWorkflowId(key));
    const renewals = async () => {
      const events = (await lease.fetchHistory()).events ?? [];
      return events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'renewKey').length;
    };
    // Three renewals: the lease is then 12 s or more past a's grant, beyond its first 8 s limit,
    // where an owner that did not renew would have been handed over.
    await waitFor(async () => (await renewals()) >= 3);
    assert.equal((await progress(b)).role, null, 'the waiter still waits');
    assert.deepEqual((await progress(b)).waits.map((w) => w.treeId), [a.workflowId], 'for the same owner: no hand-over');
    await a.signal(finishSignal, 'completed');
    const rb = await b.result();
    assert.equal(rb.role, 'ready');
    assert.deepEqual(rb.owner, { treeId: a.workflowId, nodeId: 'n1' });
    await a.result();
    await waitFor(async () => (await leaseStatus(key)) === 'COMPLETED');
    assert.equal(((await lease.result()) as { owners: number }).owners, 1, 'one owner: the key was never handed over');
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

/** A deterministic inline block, unique per test (so its key is new): builds a small AnnData, or raises. */
function sharedBlock(tag: string, fail = false) {
  const body = fail
    ? `    raise RuntimeError("planned failure ${tag}")`
    : '    import anndata, numpy\n    return anndata.AnnData(numpy.arange(12, dtype="float32").reshape(4, 3))';
  return { code: `# ${tag}\ndef run(adata=None, **parameters):\n${body}\n`, deterministic: true, parameters: {} };
}

/** Tree-level runs through the real workflow, node runner and cache (local executor). */
void describe('key leases between trees (local executor, real blocks)', () => {
  const python = resolveLocalPython();
  const pythonReady = spawnSync(python, ['-c', 'import anndata'], { encoding: 'utf8' }).status === 0;

  /** Counts the block runs per tree (the gate's wrapper is inside: a held run counts when it starts). */
  function countRuns(ctx: WorkerContext): Map<string, number> {
    const runs = new Map<string, number>();
    const run = ctx.rw.executor.run.bind(ctx.rw.executor);
    ctx.rw.executor.run = (job, ctl) => {
      runs.set(job.treeId, (runs.get(job.treeId) ?? 0) + 1);
      return run(job, ctl);
    };
    return runs;
  }

  const nodeOf = async (t: TreeHandle, id = 'shared', transitions = false): Promise<LiveNodeStatus> => (await t.status({ transitions })).nodes.find((n) => n.id === id)!;
  /** Waits until one of the trees' `shared` node waits for the other's; returns [owner, waiter]. */
  async function ownerAndWaiter(a: TreeHandle, b: TreeHandle): Promise<[TreeHandle, TreeHandle]> {
    let pair: [TreeHandle, TreeHandle] | undefined;
    try {
      await waitFor(async () => {
        const [na, nb] = [await nodeOf(a), await nodeOf(b)];
        if (nb.sharedWait?.treeId === a.workflow.workflowId) pair = [a, b];
        if (na.sharedWait?.treeId === b.workflow.workflowId) pair = [b, a];
        return pair !== undefined;
      });
    } catch (err) {
      // Say what the trees showed instead.
      throw new Error(`${(err as Error).message}: ${JSON.stringify([await nodeOf(a, 'shared', true), await nodeOf(b, 'shared', true)])}`);
    }
    return pair!;
  }
  const tree = (ctx: WorkerContext, name: string, tag: string, extra: Record<string, unknown> = {}, fail = false, continueAsNewAfterEvents?: number) =>
    ctx.client.startTree({ id: uid(name), nodes: [{ id: 'shared', block: sharedBlock(tag, fail), ...extra }] }, { continueAsNewAfterEvents });
  const leaseHandle = (ctx: WorkerContext, key: string) => ctx.client.client.workflow.getHandle(keyLeaseWorkflowId(key));
  const withLocal = <T>(body: (ctx: WorkerContext) => Promise<T>) => withWorker({ executor: 'local', python, maxConcurrentNodes: 4 }, body);

  void test('(a) two trees reach the same key together: one computes, the other waits and reuses its output', { timeout: 300_000 }, async (t) => {
    if (!pythonReady) return skipUnlessCI(t, `the local executor's venv has no anndata (${python}): run scripts/ensure-local-python.sh`);
    await withLocal(async (ctx) => {
      const runs = countRuns(ctx);
      ctx.gate.hold('shared');
      const tag = uid('a');
      // Both trees want to continue as new almost at once: a tree drains its in-flight nodes first,
      // and a waiting node is in flight, so the waiter stays in its first run until it is answered.
      const [a, b] = await Promise.all([tree(ctx, 'lease-a1', tag, {}, false, 12), tree(ctx, 'lease-a2', tag, {}, false, 12)]);
      await ctx.gate.started('shared');
      const [owner, waiter] = await ownerAndWaiter(a, b);
      const during = await waiter.workflow.describe();
      assert.ok(during.historyLength >= 12, `history ${during.historyLength} events: past the continue-as-new threshold`);
      assert.equal((await waiter.status()).runs, 0, 'still the first run while it waits');
      // While it waits: RUNNING, nothing runs for it, and the status says for whom it waits.
      const waiting = await nodeOf(waiter, 'shared', true);
      assert.equal(waiting.state, 'RUNNING');
      assert.equal(waiting.attempts, 0, 'a waiting node has no attempt');
      assert.equal(waiting.sharedWait?.nodeId, 'shared');
      const reason = `waiting for the same computation in tree ${owner.workflow.workflowId} node shared`;
      assert.ok(waiting.transitions?.some((x) => x.reason?.startsWith(reason)), JSON.stringify(waiting.transitions));
      assert.match(renderStatusText(await waiter.status()), new RegExp(`↳ ${reason}; for `));
      assert.equal(toContractStatus(await waiter.status()).nodes[0]?.sharedWait?.treeId, owner.workflow.workflowId, 'status --json');
      assert.equal(runs.get(waiter.workflow.workflowId), undefined, 'the waiter ran nothing');
      ctx.gate.release('shared');
      const [ra, rb] = await Promise.all([a.result(), b.result()]);
      assert.equal(ra.state, 'COMPLETED', JSON.stringify(ra.failures));
      assert.equal(rb.state, 'COMPLETED', JSON.stringify(rb.failures));
      assert.equal(runs.get(owner.workflow.workflowId), 1, 'the owner ran the block once');
      assert.equal(runs.get(waiter.workflow.workflowId), undefined, 'the waiter never ran it');
      const [o, w] = [await nodeOf(owner), await nodeOf(waiter)];
      assert.equal(o.cache?.hit, false);
      assert.equal(w.cache?.hit, true);
      assert.deepEqual(w.cache?.waitedFor, { treeId: owner.workflow.workflowId, nodeId: 'shared' });
      assert.equal(w.cache?.key, o.cache?.key);
      assert.equal(w.sha256, o.sha256, 'the same output');
      assert.equal(w.sharedWait, undefined, 'no longer waiting');
      assert.deepEqual(w.events?.map((e) => e.kind), ['shared-wait', 'cache-hit'], 'the wait and the reuse are provenance events');
      assert.ok(rb.runs + ra.runs >= 1, 'the trees continued as new once their node was answered');
    });
  });

  void test('(b) the owner fails: the waiter fails with SharedComputationFailedError naming it; a later tree computes afresh', { timeout: 300_000 }, async (t) => {
    if (!pythonReady) return skipUnlessCI(t, `the local executor's venv has no anndata (${python}): run scripts/ensure-local-python.sh`);
    await withLocal(async (ctx) => {
      const runs = countRuns(ctx);
      ctx.gate.hold('shared');
      const tag = uid('b');
      const [a, b] = await Promise.all([tree(ctx, 'lease-b1', tag, {}, true), tree(ctx, 'lease-b2', tag, {}, true)]);
      await ctx.gate.started('shared');
      const [owner, waiter] = await ownerAndWaiter(a, b);
      ctx.gate.release('shared');
      const [ro, rw] = [await owner.result(), await waiter.result()];
      assert.equal(ro.state, 'FAILED');
      assert.equal(rw.state, 'FAILED');
      const [o, w] = [await nodeOf(owner), await nodeOf(waiter)];
      assert.equal(o.errorType, FailureTypes.BlockCrashed);
      assert.equal(w.errorType, FailureTypes.SharedComputationFailed);
      assert.equal(toContractStatus(await waiter.status()).nodes[0]?.errorType, FailureTypes.SharedComputationFailed, 'status --json');
      assert.ok(w.error?.includes(`tree "${owner.workflow.workflowId}" node "shared"`), w.error ?? '');
      assert.match(w.error ?? '', /planned failure/);
      assert.deepEqual(w.cache?.waitedFor, { treeId: owner.workflow.workflowId, nodeId: 'shared' });
      assert.equal(runs.get(waiter.workflow.workflowId), undefined, 'the waiter ran nothing');
      // Failures are not cached: the next tree that reaches the key computes (and fails) itself.
      const c = await tree(ctx, 'lease-b3', tag, {}, true);
      assert.equal((await c.result()).state, 'FAILED');
      assert.equal((await nodeOf(c)).errorType, FailureTypes.BlockCrashed);
      assert.equal(runs.get(c.workflow.workflowId), 1);
    });
  });

  void test('(c) the owner is cancelled: the waiter computes itself; the owner\'s cancellation reaches nothing else', { timeout: 300_000 }, async (t) => {
    if (!pythonReady) return skipUnlessCI(t, `the local executor's venv has no anndata (${python}): run scripts/ensure-local-python.sh`);
    await withLocal(async (ctx) => {
      const runs = countRuns(ctx);
      ctx.gate.hold('shared');
      const tag = uid('c');
      const [a, b] = await Promise.all([tree(ctx, 'lease-c1', tag), tree(ctx, 'lease-c2', tag)]);
      await ctx.gate.started('shared');
      const [owner, waiter] = await ownerAndWaiter(a, b);
      await owner.cancelNode('shared', 'test: the owner is cancelled');
      assert.equal((await owner.result()).state, 'FAILED');
      assert.equal((await nodeOf(owner)).state, 'CANCELLED');
      // The waiter now owns the key: its own attempt starts (held by the gate too), then runs.
      await waitFor(async () => (runs.get(waiter.workflow.workflowId) ?? 0) === 1);
      ctx.gate.release('shared');
      const r = await waiter.result();
      assert.equal(r.state, 'COMPLETED', JSON.stringify(r.failures));
      const w = await nodeOf(waiter, 'shared', true);
      assert.equal(w.cache?.hit, false, 'computed here, not reused');
      assert.deepEqual(w.cache?.waitedFor, { treeId: owner.workflow.workflowId, nodeId: 'shared' });
      assert.ok(w.transitions?.some((x) => x.reason?.startsWith(`computing here: tree ${owner.workflow.workflowId} node shared gave the key up`)), JSON.stringify(w.transitions));
      assert.equal(runs.get(waiter.workflow.workflowId), 1);
    });
  });

  void test('(g) the owner runs out of memory: the waiter is handed the key and computes it (its limits are its own), not failed with the owner', { timeout: 300_000 }, async (t) => {
    if (!pythonReady) return skipUnlessCI(t, `the local executor's venv has no anndata (${python}): run scripts/ensure-local-python.sh`);
    const tag = uid('g');
    // The first run of this block anywhere runs out of memory; any later run succeeds. The same
    // code (the same key) for both trees: only the owner's run meets the MemoryError.
    const marker = path.join(tmpdir(), `ragomics-lease-${tag}`);
    const block = {
      code: `# ${tag}\nimport os\ndef run(adata=None, **parameters):\n    if not os.path.exists(${JSON.stringify(marker)}):\n        open(${JSON.stringify(marker)}, "w").close()\n        raise MemoryError("planned: the first run runs out of memory")\n    import anndata, numpy\n    return anndata.AnnData(numpy.arange(12, dtype="float32").reshape(4, 3))\n`,
      deterministic: true, parameters: {},
    };
    try {
      await withLocal(async (ctx) => {
        const runs = countRuns(ctx);
        ctx.gate.hold('shared');
        const start = (name: string) => ctx.client.startTree({ id: uid(name), nodes: [{ id: 'shared', block }] });
        const [a, b] = await Promise.all([start('lease-g1'), start('lease-g2')]);
        await ctx.gate.started('shared');
        const [owner, waiter] = await ownerAndWaiter(a, b);
        ctx.gate.release('shared');
        const ro = await owner.result();
        assert.equal(ro.state, 'FAILED');
        assert.equal((await nodeOf(owner)).errorType, FailureTypes.OutOfMemory, JSON.stringify(ro.failures));
        const rw = await waiter.result();
        assert.equal(rw.state, 'COMPLETED', JSON.stringify(rw.failures));
        const w = await nodeOf(waiter, 'shared', true);
        assert.equal(w.cache?.hit, false, 'computed here');
        assert.deepEqual(w.cache?.waitedFor, { treeId: owner.workflow.workflowId, nodeId: 'shared' });
        assert.ok(w.transitions?.some((x) => x.reason?.startsWith(`computing here: tree ${owner.workflow.workflowId} node shared gave the key up`)), JSON.stringify(w.transitions));
        assert.deepEqual([runs.get(owner.workflow.workflowId), runs.get(waiter.workflow.workflowId)], [1, 1], 'one run each, one after the other');
      });
    } finally {
      rmSync(marker, { force: true });
    }
  });

  void test('(d) the owner\'s workflow is terminated: after its hold limit the waiter computes', { timeout: 300_000 }, async (t) => {
    if (!pythonReady) return skipUnlessCI(t, `the local executor's venv has no anndata (${python}): run scripts/ensure-local-python.sh`);
    await withLocal(async (ctx) => {
      const runs = countRuns(ctx);
      ctx.gate.hold('shared');
      const tag = uid('d');
      // The timeout is not part of the key. The owner's is its hold limit's base: long enough for
      // the steps below to happen before its attempt times out on a loaded machine (a status
      // query, tree b's start, lookup and claim, the lease's answer, the terminate: seconds at
      // worst), short enough for the test to wait it out; the waiter's is generous.
      const OWNER_TIMEOUT_S = 15;
      const a = await tree(ctx, 'lease-d1', tag, { timeout: OWNER_TIMEOUT_S });
      await ctx.gate.started('shared');
      await waitFor(async () => (await nodeOf(a)).cache !== undefined);
      const b = await tree(ctx, 'lease-d2', tag, { timeout: 120 });
      await waitFor(async () => (await nodeOf(b)).sharedWait?.treeId === a.workflow.workflowId);
      await a.workflow.terminate('test: the owner tree is gone');
      ctx.gate.release('shared');
      const r = await b.result();
      assert.equal(r.state, 'COMPLETED', JSON.stringify(r.failures));
      const w = await nodeOf(b, 'shared', true);
      assert.equal(w.cache?.hit, false);
      assert.ok(w.transitions?.some((x) => x.reason?.startsWith('computing here:')), JSON.stringify(w.transitions));
      assert.equal(runs.get(b.workflow.workflowId), 1);
      // It waited out the owner's hold limit, counted from the grant (the lease's start).
      const leaseStart = (await leaseHandle(ctx, w.cache!.key).describe()).startTime.getTime();
      const limitMs = holdLimitSeconds(OWNER_TIMEOUT_S, 0) * 1000;
      assert.ok(Date.parse(w.startedAt!) - leaseStart >= limitMs, `the waiter computed ${Date.parse(w.startedAt!) - leaseStart} ms after the owner's grant (hold limit ${limitMs} ms)`);
    });
  });

  void test('(f) across workers: trees served by two workers (own task queues, one shared workspace) compute the key once', { timeout: 300_000 }, async (t) => {
    if (!pythonReady) return skipUnlessCI(t, `the local executor's venv has no anndata (${python}): run scripts/ensure-local-python.sh`);
    // Two workers as on two hosts: each polls only its own task queue, and they share the
    // workspace (the store), as the production stack's workers share their volume.
    const workspace = mkdtempSync(path.join(tmpdir(), 'ragomics-lease-ws-'));
    try {
      await withWorker({ executor: 'local', python, maxConcurrentNodes: 4, workspace, workerId: uid('host-1') }, (c1) =>
        withWorker({ executor: 'local', python, maxConcurrentNodes: 4, workspace, workerId: uid('host-2') }, async (c2) => {
          const [runs1, runs2] = [countRuns(c1), countRuns(c2)];
          c1.gate.hold('shared');
          c2.gate.hold('shared');
          const tag = uid('f');
          const [a, b] = await Promise.all([tree(c1, 'lease-f1', tag), tree(c2, 'lease-f2', tag)]);
          const [owner, waiter] = await ownerAndWaiter(a, b);
          const ownerCtx = owner === a ? c1 : c2;
          await ownerCtx.gate.started('shared');
          ownerCtx.gate.release('shared');
          const [ra, rb] = await Promise.all([a.result(), b.result()]);
          assert.equal(ra.state, 'COMPLETED', JSON.stringify(ra.failures));
          assert.equal(rb.state, 'COMPLETED', JSON.stringify(rb.failures));
          const all = [...runs1.entries(), ...runs2.entries()];
          assert.deepEqual(all, [[owner.workflow.workflowId, 1]], 'one block run in all, on the owner tree\'s worker');
          const [o, w] = [await nodeOf(owner), await nodeOf(waiter)];
          assert.equal(w.cache?.hit, true);
          assert.deepEqual(w.cache?.waitedFor, { treeId: owner.workflow.workflowId, nodeId: 'shared' });
          assert.equal(w.sha256, o.sha256, 'the same output');
        }));
    } finally {
      rmSync(workspace, { recursive: true, force: true });
    }
  });
});
