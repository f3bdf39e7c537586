/**
 * Case 1 — a worker process is SIGKILLed while two nodes run in Docker.
 *
 * A replacement worker (another process, another id) finishes the tree. Asserted from the
 * workspace ledger and the Docker API: nodes that completed before the kill never ran again;
 * the two interrupted nodes ran again, and each has exactly one published output whose sha256
 * equals the recorded one; the dead worker's containers are removed by the new worker's orphan
 * cleanup at start; no container of the tree is left at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import { uid } from './helpers/harness';
import { attemptsOf, readLedger, reExecutions, runCase, verifyOutputs } from './helpers/ledger';
import { WORKER_READY_MS, sleep, spawnWorker, tempDir, waitUntil } from './helpers/processes';
import { TEMPORAL_ADDRESS, caseTimeout, cleanupCase, containersWith, expectNoContainerLeft, NO_CONTAINER_MS, nodeOf, resultWithin, secs, sleepNode, systemDocker, waitForStatus, logPooled, logWarmNodes } from './fixtures/reliability/common';

const HEARTBEAT_TIMEOUT_S = 5;
const LONG_NODE_S = 12;
const ORPHAN_SWEEP_S = 3;

const FILE = 'test/reliability-1-worker-kill.test.ts';

/** Every bounded wait of case 1, in order; its test timeout is their sum plus cleanup slack. */
const W1 = {
  readyA: WORKER_READY_MS, running: 120_000, containers: 60_000, settle: 1500, killedExit: 10_000,
  noticed: 60_000, readyB: WORKER_READY_MS, result: 180_000, noContainer: NO_CONTAINER_MS, stopB: 60_000,
};
/** Every bounded wait of case 1b, in order. */
const W1B = {
  readyA: WORKER_READY_MS, containers: 120_000, settle: 1500, killedExit: 10_000, readyB: WORKER_READY_MS,
  swept: 60_000, result: 180_000, noContainer: NO_CONTAINER_MS, stopB: 60_000,
};

void test('case 1: worker SIGKILLed while two nodes run; a new worker finishes the tree', { timeout: caseTimeout(W1) }, runCase({ id: '1', title: 'worker SIGKILLed while two Docker nodes run', test: FILE }, async (rec) => {
  const base = tempDir('rel-kill');
  const ws = path.join(base, 'ws');
  const taskQueue = uid('rel-kill');
  const treeId = uid('rel-kill');
  const docker = systemDocker();
  const deadId = `${treeId}-A`;
  const newId = `${treeId}-B`;
  let client: RagomicsClient | undefined;
  let tree: TreeHandle | undefined;
  try {
    const a = spawnWorker({ address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId: deadId, logDir: base, readyTimeoutMs: W1.readyA });
    await a.ready;
    client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    tree = await client.startTree({
      id: treeId,
      heartbeatTimeout: HEARTBEAT_TIMEOUT_S,
      maxParallelJobs: 3,
      nodes: [
        sleepNode('a', 0.5),
        sleepNode('b', 0.5),
        sleepNode('c', LONG_NODE_S, { parentId: 'a' }),
        sleepNode('d', LONG_NODE_S, { parentId: 'b' }),
        sleepNode('e', 0.5, { parentId: 'c' }),
        sleepNode('f', 0.5, { parentId: 'd' }),
      ],
    });

    // Kill when c and d are RUNNING with their containers up (and a, b COMPLETED).
    await waitForStatus(tree, 'c and d running', (s) => nodeOf(s, 'c').state === 'RUNNING' && nodeOf(s, 'd').state === 'RUNNING', W1.running);
    await waitUntil('containers of c and d running', async () => {
      const running = (await containersWith(docker, { treeId, workerId: deadId })).filter((c) => c.State === 'running');
      return new Set(running.map((c) => c.identity.nodeId)).size === 2;
    }, W1.containers);
    await sleep(W1.settle); // let the blocks get going
    const before = await tree.status();
    const completedBefore = before.nodes.filter((n) => n.state === 'COMPLETED').map((n) => n.id).sort();
    const runningBefore = before.nodes.filter((n) => n.state === 'RUNNING').map((n) => n.id).sort();
    const killAt = Date.now();
    a.kill('SIGKILL');
    rec.set({ faultsInjected: 1, figures: { completedBefore, runningBefore, heartbeatTimeoutS: HEARTBEAT_TIMEOUT_S } });
    const exit = await a.waitExit(W1.killedExit);
    assert.equal(exit.signal, 'SIGKILL');
    const orphansAtKill = await containersWith(docker, { workerId: deadId });
    logPooled('case 1: containers at the kill', orphansAtKill);
    assert.equal(orphansAtKill.length, 2, 'the dead worker left its two containers behind');

    // Temporal notices the missing heartbeats: the interrupted activities are no longer started by A.
    await waitUntil('Temporal to stop counting the dead worker as live', async () => {
      const d = await tree!.workflow.describe();
      return !(d.raw.pendingActivities ?? []).some((p) => p.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED && p.lastWorkerIdentity === deadId);
    }, W1.noticed, 250);
    const noticedMs = Date.now() - killAt;

    const b = spawnWorker({ address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId: newId, logDir: base, readyTimeoutMs: W1.readyB });
    await b.ready;
    const orphansAfterStart = await containersWith(docker, { workerId: deadId });
    assert.deepEqual(orphansAfterStart.map((c) => c.Id), [], "the new worker's start removed the dead worker's containers");

    const result = await resultWithin(tree, W1.result);
    const finishedMs = Date.now() - killAt;
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
    const status = await tree.status();
    await logWarmNodes('case 1', status);
    const ledger = await readLedger(ws, treeId);

    // Completed before the kill: exactly one execution, by the dead worker, never again.
    assert.deepEqual(completedBefore, ['a', 'b']);
    for (const id of completedBefore) {
      const att = attemptsOf(ledger, id);
      assert.equal(att.length, 1, `${id} ran once: ${JSON.stringify(att)}`);
      assert.equal(att[0]!.status, 'succeeded');
      assert.equal(att[0]!.worker, deadId);
      assert.equal(ledger.published.filter((p) => p.nodeId === id).length, 1);
    }
    // Interrupted: the lost attempt (no outcome) and a successful re-run by the new worker.
    assert.deepEqual(runningBefore, ['c', 'd']);
    for (const id of runningBefore) {
      const att = attemptsOf(ledger, id);
      assert.equal(att.filter((x) => x.status === 'lost').length, 1, `${id} has one lost attempt: ${JSON.stringify(att)}`);
      const ok = att.filter((x) => x.status === 'succeeded');
      assert.equal(ok.length, 1, `${id} succeeded once`);
      assert.equal(ok[0]!.worker, newId);
      const pubs = ledger.published.filter((p) => p.nodeId === id);
      assert.equal(pubs.length, 1, `${id}: only the re-run was published`);
      assert.equal(nodeOf(status, id).outputPath, pubs[0]!.result.outputPath);
    }
    for (const id of ['e', 'f']) assert.equal(attemptsOf(ledger, id).length, 1, `${id} ran once`);
    const timelineLost = (await tree.timeline()).filter((e) => e.state === 'LOST').map((e) => e.node).sort();
    assert.deepEqual(timelineLost, ['c', 'd'], 'the timeline shows the lost attempts');

    const check = await verifyOutputs(ledger, status.nodes);
    rec.outputs(check);
    assert.deepEqual(check.problems, []);
    assert.equal(check.verified, 6);
    await expectNoContainerLeft(docker, treeId);
    const re = reExecutions(ledger);
    // When the interrupted nodes began again (the workflow task that learns of the timeout waits
    // on the dead worker's sticky queue first).
    const rerunAfterKillMs = Math.min(...ledger.attempts.filter((x) => x.run === 2).map((x) => x.beganAt)) - killAt;

    b.kill('SIGTERM');
    await b.waitExit(W1.stopB);
    rec.set({
      nodesReExecuted: re.total,
      line: `SIGKILL with ${runningBefore.join(',')} running: re-executed ${JSON.stringify(re.nodes)}, completed-before-kill ran once, ${orphansAtKill.length} orphan containers removed at new worker start, heartbeat loss noticed in ${secs(noticedMs)}, re-runs began ${secs(rerunAfterKillMs)} and the tree was done ${secs(finishedMs)} after the kill`,
      figures: { orphansAtKill: orphansAtKill.length, noticedMs, rerunAfterKillMs, finishedAfterKillMs: finishedMs, reExecuted: re.nodes },
    });
  } finally {
    await client?.close();
    await cleanupCase({ workerIds: [deadId, newId], trees: [tree], treeIds: [treeId], docker, dirs: [base] });
  }
}));

void test('case 1b: the replacement worker starts at once (supervisor restart): no container outlives the tree', { timeout: caseTimeout(W1B) }, runCase({ id: '1b', title: 'worker SIGKILLed, replacement started at once', test: FILE }, async (rec) => {
  const base = tempDir('rel-kill-now');
  const ws = path.join(base, 'ws');
  const taskQueue = uid('rel-kill-now');
  const treeId = uid('rel-kill-now');
  const docker = systemDocker();
  const deadId = `${treeId}-A`;
  const newId = `${treeId}-B`;
  let client: RagomicsClient | undefined;
  let tree: TreeHandle | undefined;
  try {
    const a = spawnWorker({ address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId: deadId, logDir: base, readyTimeoutMs: W1B.readyA });
    await a.ready;
    client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    // Long nodes: the dead worker's containers would run on long after Temporal gave up on them.
    tree = await client.startTree({
      id: treeId, heartbeatTimeout: HEARTBEAT_TIMEOUT_S, maxParallelJobs: 3,
      nodes: [sleepNode('c', 3 * LONG_NODE_S), sleepNode('d', 3 * LONG_NODE_S), sleepNode('e', 0.5, { parentId: 'c' })],
    });
    await waitUntil('containers of c and d running', async () => {
      const running = (await containersWith(docker, { treeId, workerId: deadId })).filter((c) => c.State === 'running');
      return new Set(running.map((c) => c.identity.nodeId)).size === 2;
    }, W1B.containers);
    await sleep(W1B.settle);
    const killAt = Date.now();
    a.kill('SIGKILL');
    rec.set({ faultsInjected: 1, figures: { orphanSweepS: ORPHAN_SWEEP_S } });
    await a.waitExit(W1B.killedExit);
    // A supervisor restarts the worker at once; it sweeps for orphans every ORPHAN_SWEEP_S.
    const b = spawnWorker({ address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId: newId, logDir: base, readyTimeoutMs: W1B.readyB, env: { RAGOMICS_ORPHAN_SWEEP: String(ORPHAN_SWEEP_S) } });
    await b.ready;
    // A figure, not an assertion: whether Temporal had already timed out the dead worker's
    // activities when the replacement's start-time cleanup ran is a matter of timing (usually it
    // had not, so the containers survive the start and the periodic sweep is what removes them).
    const orphansAfterStart = (await containersWith(docker, { workerId: deadId })).length;
    rec.set({ figures: { orphansAfterStart } });
    const goneMs = await waitUntil('the periodic sweep to remove the dead worker\'s containers', async () => (await containersWith(docker, { workerId: deadId })).length === 0, W1B.swept, 250)
      .then(() => Date.now() - killAt, () => null);
    rec.set({ figures: { orphansGoneAfterKillMs: goneMs } });
    assert.notEqual(goneMs, null, "the dead worker's containers are removed while the replacement runs");
    const result = await resultWithin(tree, W1B.result);
    const finishedMs = Date.now() - killAt;
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
    const status = await tree.status();
    await logWarmNodes('case 1b', status);
    const ledger = await readLedger(ws, treeId);
    const check = await verifyOutputs(ledger, status.nodes);
    rec.outputs(check);
    assert.deepEqual(check.problems, []);
    assert.equal(check.verified, 3, 'the outputs of c, d and e re-hashed');
    await expectNoContainerLeft(docker, treeId);
    const leftAtEnd = (await containersWith(docker, { treeId })).length;
    const re = reExecutions(ledger);
    b.kill('SIGTERM');
    await b.waitExit(W1B.stopB);
    rec.set({
      nodesReExecuted: re.total,
      line: `replacement started at once: ${orphansAfterStart} dead-worker container(s) survived its start-time cleanup (${orphansAfterStart > 0 ? 'Temporal still counted the dead worker live' : 'Temporal had already timed the dead worker out'}), all gone ${secs(goneMs!)} after the kill (periodic sweep every ${ORPHAN_SWEEP_S} s); tree done ${secs(finishedMs)} after the kill, re-executed ${JSON.stringify(re.nodes)}, 0 containers left`,
      figures: { leftAtEnd, finishedAfterKillMs: finishedMs, reExecuted: re.nodes },
    });
  } finally {
    await client?.close();
    await cleanupCase({ workerIds: [deadId, newId], trees: [tree], treeIds: [treeId], docker, dirs: [base] });
  }
}));
