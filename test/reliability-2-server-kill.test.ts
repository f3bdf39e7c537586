/**
 * Case 2 — the Temporal server is SIGKILLed mid-tree and restarted on the same database.
 *
 * A private dev server (own port, own SQLite file under a temp dir; the shared server is never
 * touched) runs a tree whose nodes run in Docker through a worker process. While two nodes run,
 * the server is SIGKILLed, stays down longer than the tree's heartbeat timeout, and is started
 * again on the same DB file. The tree completes; the ledger says what ran twice; every
 * completed output is intact; no container is left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import { uid } from './helpers/harness';
import { readLedger, reExecutions, runCase, verifyOutputs, type CaseRecorder } from './helpers/ledger';
import { PrivateTemporalServer, WORKER_READY_MS, sleep, spawnWorker, tailOf, tempDir, waitUntil } from './helpers/processes';
import { caseTimeout, cleanupCase, containersWith, nodeOf, resultWithin, secs, sleepNode, systemDocker, waitForStatus } from './fixtures/reliability/common';

const HEARTBEAT_TIMEOUT_S = 5;
/** How long a private server start may take (ensure-temporal.sh's wait; the call's own bound adds 60 s). */
const SERVER_START_S = 60;

/** Every bounded wait of a variant, in order; its test timeout is their sum plus cleanup slack. */
function waitsOf(downtimeMs: number) {
  return {
    firstStart: (SERVER_START_S + 60) * 1000, ready: WORKER_READY_MS, running: 120_000, containers: 60_000, settle: 1000,
    kill: 30_000, down: downtimeMs, restart: (SERVER_START_S + 60) * 1000, result: 240_000, noContainer: 30_000, stop: 60_000,
    destroy: 90_000, // stop-temporal.sh (bounded 60 s), then SIGKILL and a 30 s wait
  };
}

for (const v of [
  { id: '2', downtimeMs: 8000, what: 'longer than the heartbeat timeout' },
  { id: '2b', downtimeMs: 500, what: 'shorter than the heartbeat timeout' },
]) {
  void test(`case ${v.id}: Temporal server SIGKILLed mid-tree, down ${v.what}, restarted on the same DB: the tree completes`, { timeout: caseTimeout(waitsOf(v.downtimeMs)) },
    runCase({ id: v.id, title: `Temporal server SIGKILLed mid-tree, down ${v.what}, restarted on the same DB`, test: 'test/reliability-2-server-kill.test.ts' }, (rec) => serverKill(rec, v.downtimeMs)));
}

async function serverKill(rec: CaseRecorder, downtimeMs: number): Promise<void> {
  const W = waitsOf(downtimeMs);
  const base = tempDir('rel-server');
  const ws = path.join(base, 'ws');
  const server = new PrivateTemporalServer(path.join(base, 'temporal-data'), { startTimeoutS: SERVER_START_S });
  const taskQueue = uid('rel-server');
  const treeId = uid('rel-server');
  const docker = systemDocker();
  const workerId = `${treeId}-W`;
  let client: RagomicsClient | undefined;
  let tree: TreeHandle | undefined;
  try {
    const firstStartMs = await server.start();
    const worker = spawnWorker({ address: server.address, taskQueue, workspace: ws, workerId, logDir: base, readyTimeoutMs: W.ready });
    await worker.ready;
    client = await RagomicsClient.connect({ address: server.address, taskQueue });
    tree = await client.startTree({
      id: treeId, heartbeatTimeout: HEARTBEAT_TIMEOUT_S, maxParallelJobs: 3,
      nodes: [
        sleepNode('r', 0.5),
        sleepNode('c1', 10, { parentId: 'r' }),
        sleepNode('c2', 10, { parentId: 'r' }),
        sleepNode('g1', 0.5, { parentId: 'c1' }),
        sleepNode('g2', 0.5, { parentId: 'c2' }),
      ],
    });
    await waitForStatus(tree, 'c1 and c2 running', (s) => nodeOf(s, 'c1').state === 'RUNNING' && nodeOf(s, 'c2').state === 'RUNNING', W.running);
    await waitUntil('containers of c1 and c2 running', async () =>
      (await containersWith(docker, { 'ragomics.tree': treeId })).filter((c) => c.State === 'running').length === 2, W.containers);
    await sleep(W.settle);

    const killAt = Date.now();
    const oldPid = server.pid;
    await server.kill('SIGKILL', W.kill);
    await sleep(W.down);
    const workerAliveWhileDown = worker.child.exitCode === null;
    const restartMs = await server.start();
    const downMs = Date.now() - killAt;
    assert.notEqual(server.pid, oldPid, 'a new server process');

    const result = await resultWithin(tree, W.result);
    const doneAfterRestartMs = Date.now() - killAt - downMs;
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
    const status = await tree.status();
    const ledger = await readLedger(ws, treeId);
    const check = await verifyOutputs(ledger, status.nodes);
    assert.deepEqual(check.problems, []);
    assert.equal(check.verified, 5);
    // Completed before the kill: ran once.
    assert.equal(ledger.attempts.filter((a) => a.nodeId === 'r').length, 1, 'r ran once');
    const re = reExecutions(ledger);
    assert.ok(workerAliveWhileDown, 'the worker survived the server outage');
    await waitUntil('no container of the tree', async () => (await containersWith(docker, { 'ragomics.tree': treeId })).length === 0, W.noContainer);

    worker.kill('SIGTERM');
    await worker.waitExit(W.stop);
    rec.set({
      faultsInjected: 1, nodesReExecuted: re.total, outputsLost: check.problems.length,
      outputsVerified: check.verified,
      line: `server SIGKILLed with c1,c2 running, down ${secs(downMs)} (restart took ${secs(restartMs)}, heartbeat timeout ${HEARTBEAT_TIMEOUT_S} s): tree COMPLETED ${secs(doneAfterRestartMs)} after the restart, re-executed ${JSON.stringify(re.nodes)}, worker process survived`,
      figures: { firstStartMs, restartMs, downMs, doneAfterRestartMs, reExecuted: re.nodes, attempts: ledger.attempts.map((a) => `${a.nodeId} ${a.run}-${a.activityAttempt} ${a.status}`) },
    });
  } catch (e) {
    console.log(`--- server log tail ---\n${tailOf(server.logFile)}`);
    throw e;
  } finally {
    await client?.close();
    await server.destroy().catch((e: Error) => console.log(`server cleanup: ${e.message}`));
    await cleanupCase({ workerIds: [workerId], treeIds: [treeId], docker, dirs: [base] });
  }
}
