/**
 * Case 2 — the Temporal server is SIGKILLed mid-tree and restarted on the same database.
 *
 * A private dev server (own port, own SQLite file under a temp dir; the shared server is never
 * touched) runs a tree whose nodes run in Docker through a worker process. While two nodes run,
 * the server is SIGKILLed and started again on the same DB file:
 * - case 2: it stays down longer than the tree's heartbeat timeout (5 s): the running nodes run
 *   again;
 * - case 2b: the whole outage (kill to answering again, restart included) is shorter than the
 *   tree's heartbeat timeout, which is 60 s so that a slow restart on a loaded machine still fits
 *   (asserted, not assumed): nothing runs again.
 * Either way the tree completes; the ledger says what ran twice; every completed output is
 * intact; no container is left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import { uid } from './helpers/harness';
import { readLedger, reExecutions, runCase, verifyOutputs, type CaseRecorder } from './helpers/ledger';
import { PrivateTemporalServer, WORKER_READY_MS, sleep, spawnWorker, tailOf, tempDir, waitUntil } from './helpers/processes';
import { caseTimeout, cleanupCase, containersWith, nodeOf, resultWithin, secs, sleepNode, systemDocker, waitForStatus, logWarmNodes } from './fixtures/reliability/common';

/** How long a private server start may take (ensure-temporal.sh's wait; the call's own bound adds 60 s). */
const SERVER_START_S = 60;

/** One variant: how long the server stays down, and the tree's heartbeat timeout. */
interface Variant {
  id: '2' | '2b';
  downtimeMs: number;
  heartbeatTimeoutS: number;
  /** The outage (kill to answering again) must be longer (2) or shorter (2b) than the heartbeat timeout. */
  outage: 'longer' | 'shorter';
  /** How long c1 and c2 sleep: in 2, well past the restart, so they are still running when the
   * server times their attempts out (a node ending just as the server returns could race that). */
  nodeSeconds: number;
}

const VARIANTS: Variant[] = [
  { id: '2', downtimeMs: 8000, heartbeatTimeoutS: 5, outage: 'longer', nodeSeconds: 30 },
  // 60 s: the restart (ensure-temporal.sh until the server answers) took 0.8 s on an idle machine
  // and must fit many times over on a loaded one; the 10 s nodes end long before 60 s either way.
  // Measured 2026-12-05 (2 cores, full suite, ci-cold and ci-final2): outage 2.4-2.9 s (restart 1.9-2.4 s); 60 s is > 20x that.
  { id: '2b', downtimeMs: 500, heartbeatTimeoutS: 60, outage: 'shorter', nodeSeconds: 10 },
];

/** Every bounded wait of a variant, in order; its test timeout is their sum plus cleanup slack. */
function waitsOf(v: Variant) {
  return {
    firstStart: (SERVER_START_S + 60) * 1000, ready: WORKER_READY_MS, running: 120_000, containers: 60_000, settle: 1000,
    kill: 30_000, down: v.downtimeMs, restart: (SERVER_START_S + 60) * 1000, result: 240_000, noContainer: 30_000, stop: 60_000,
    destroy: 90_000, // stop-temporal.sh (bounded 60 s), then SIGKILL and a 30 s wait
  };
}

for (const v of VARIANTS) {
  const what = `${v.outage} than the heartbeat timeout (${v.heartbeatTimeoutS} s)`;
  void test(`case ${v.id}: Temporal server SIGKILLed mid-tree, down ${what}, restarted on the same DB: the tree completes`, { timeout: caseTimeout(waitsOf(v)) },
    runCase({ id: v.id, title: `Temporal server SIGKILLed mid-tree, down ${v.outage} than the heartbeat timeout, restarted on the same DB`, test: 'test/reliability-2-server-kill.test.ts' }, (rec) => serverKill(rec, v)));
}

async function serverKill(rec: CaseRecorder, v: Variant): Promise<void> {
  const W = waitsOf(v);
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
      id: treeId, heartbeatTimeout: v.heartbeatTimeoutS, maxParallelJobs: 3,
      nodes: [
        sleepNode('r', 0.5),
        sleepNode('c1', v.nodeSeconds, { parentId: 'r' }),
        sleepNode('c2', v.nodeSeconds, { parentId: 'r' }),
        sleepNode('g1', 0.5, { parentId: 'c1' }),
        sleepNode('g2', 0.5, { parentId: 'c2' }),
      ],
    });
    await waitForStatus(tree, 'c1 and c2 running', (s) => nodeOf(s, 'c1').state === 'RUNNING' && nodeOf(s, 'c2').state === 'RUNNING', W.running);
    await waitUntil('containers of c1 and c2 running', async () =>
      (await containersWith(docker, { treeId })).filter((c) => c.State === 'running').length === 2, W.containers);
    await sleep(W.settle);

    const killAt = Date.now();
    const oldPid = server.pid;
    await server.kill('SIGKILL', W.kill);
    await sleep(W.down);
    const workerAliveWhileDown = worker.child.exitCode === null;
    const restartMs = await server.start();
    const downMs = Date.now() - killAt;
    assert.notEqual(server.pid, oldPid, 'a new server process');
    rec.set({ faultsInjected: 1, figures: { downMs, restartMs, heartbeatTimeoutS: v.heartbeatTimeoutS } });
    // The variant's premise, measured rather than assumed: the outage ends when the restarted
    // server answers (ensure-temporal.sh waits for that), so a slow restart counts.
    if (v.outage === 'shorter') assert.ok(downMs < v.heartbeatTimeoutS * 1000, `the outage (${downMs} ms) was shorter than the heartbeat timeout (${v.heartbeatTimeoutS} s)`);
    else assert.ok(downMs > v.heartbeatTimeoutS * 1000, `the outage (${downMs} ms) was longer than the heartbeat timeout (${v.heartbeatTimeoutS} s)`);

    const result = await resultWithin(tree, W.result);
    const doneAfterRestartMs = Date.now() - killAt - downMs;
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
    const status = await tree.status();
    await logWarmNodes('case 2', status);
    const ledger = await readLedger(ws, treeId);
    const check = await verifyOutputs(ledger, status.nodes);
    rec.outputs(check);
    assert.deepEqual(check.problems, []);
    assert.equal(check.verified, 5);
    // Completed before the kill: ran once.
    assert.equal(ledger.attempts.filter((a) => a.nodeId === 'r').length, 1, 'r ran once');
    const re = reExecutions(ledger);
    assert.ok(workerAliveWhileDown, 'the worker survived the server outage');
    // An outage shorter than the heartbeat timeout costs nothing (RELIABILITY.md): no node ran twice.
    if (v.outage === 'shorter') assert.deepEqual(re.nodes, {}, 'nothing ran again after an outage shorter than the heartbeat timeout');
    // A longer one: a running node ran again when the restarted server timed its attempt out
    // before the worker's next heartbeat reached it, else it ran on (Temporal checks the timeout
    // against the last heartbeat recorded): usually both re-ran; once in CI (59169b5) c2 ran on.
    // Either way at most twice, and nothing else ran again (RELIABILITY.md).
    else {
      const extra = Object.entries(re.nodes).filter(([id, n]) => !['c1', 'c2'].includes(id) || n > 2);
      assert.deepEqual(extra, [], `only c1 and c2 may run again, at most once more each: ${JSON.stringify(re.nodes)}`);
    }
    await waitUntil('no container of the tree', async () => (await containersWith(docker, { treeId })).length === 0, W.noContainer);

    worker.kill('SIGTERM');
    await worker.waitExit(W.stop);
    rec.set({
      faultsInjected: 1, nodesReExecuted: re.total,
      line: `server SIGKILLed with c1,c2 running, down ${secs(downMs)} (restart took ${secs(restartMs)}, heartbeat timeout ${v.heartbeatTimeoutS} s): tree COMPLETED ${secs(doneAfterRestartMs)} after the restart, re-executed ${JSON.stringify(re.nodes)}, worker process survived`,
      figures: { firstStartMs, restartMs, downMs, heartbeatTimeoutS: v.heartbeatTimeoutS, doneAfterRestartMs, reExecuted: re.nodes, attempts: ledger.attempts.map((a) => `${a.nodeId} ${a.run}-${a.activityAttempt} ${a.status}`) },
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
