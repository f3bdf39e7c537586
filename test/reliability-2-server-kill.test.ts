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
import { PrivateTemporalServer, sleep, spawnWorker, tailOf, tempDir, waitUntil } from './helpers/processes';
import { cleanupCase, containersWith, nodeOf, resultWithin, secs, sleepNode, systemDocker, waitForStatus } from './fixtures/reliability/common';

const HEARTBEAT_TIMEOUT_S = 5;

for (const v of [
  { id: '2', downtimeMs: 8000, what: 'longer than the heartbeat timeout' },
  { id: '2b', downtimeMs: 500, what: 'shorter than the heartbeat timeout' },
]) {
  void test(`case ${v.id}: Temporal server SIGKILLed mid-tree, down ${v.what}, restarted on the same DB: the tree completes`, { timeout: 400_000 },
    runCase({ id: v.id, title: `Temporal server SIGKILLed mid-tree, down ${v.what}, restarted on the same DB`, test: 'test/reliability-2-server-kill.test.ts' }, (rec) => serverKill(rec, v.downtimeMs)));
}

async function serverKill(rec: CaseRecorder, downtimeMs: number): Promise<void> {
  const base = tempDir('rel-server');
  const ws = path.join(base, 'ws');
  const server = new PrivateTemporalServer(path.join(base, 'temporal-data'));
  const taskQueue = uid('rel-server');
  const treeId = uid('rel-server');
  const docker = systemDocker();
  let client: RagomicsClient | undefined;
  let tree: TreeHandle | undefined;
  try {
    const firstStartMs = await server.start();
    const worker = spawnWorker({ address: server.address, taskQueue, workspace: ws, workerId: `${treeId}-W`, logDir: base });
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
    await waitForStatus(tree, 'c1 and c2 running', (s) => nodeOf(s, 'c1').state === 'RUNNING' && nodeOf(s, 'c2').state === 'RUNNING', 120_000);
    await waitUntil('containers of c1 and c2 running', async () =>
      (await containersWith(docker, { 'ragomics.tree': treeId })).filter((c) => c.State === 'running').length === 2, 60_000);
    await sleep(1000);

    const killAt = Date.now();
    const oldPid = server.pid;
    await server.kill('SIGKILL');
    await sleep(downtimeMs);
    const workerAliveWhileDown = worker.child.exitCode === null;
    const restartMs = await server.start();
    const downMs = Date.now() - killAt;
    assert.notEqual(server.pid, oldPid, 'a new server process');

    const result = await resultWithin(tree, 240_000);
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
    await waitUntil('no container of the tree', async () => (await containersWith(docker, { 'ragomics.tree': treeId })).length === 0, 30_000);

    worker.kill('SIGTERM');
    await worker.waitExit(60_000);
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
    await cleanupCase({ treeIds: [treeId], docker, dirs: [base] });
  }
}
