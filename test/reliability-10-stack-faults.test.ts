/**
 * Cases 10a–10d — faults against the production stack (docker-compose.yml through
 * scripts/stack.sh: the Temporal server on PostgreSQL, worker containers as hosts), each with a
 * tree of Docker nodes in flight:
 * - 10a `docker kill` of a worker container while it runs nodes;
 * - 10b PostgreSQL restarted mid-tree;
 * - 10c the Temporal server container restarted mid-tree;
 * - 10d `docker compose down`, then `up` again with the volumes kept.
 *
 * Every case asserts, from the workspace ledger, the tree's status and the Docker API: the tree
 * completes; nodes that had completed before the fault never ran again, and no node ran again
 * after one of its attempts had succeeded; every completed output
 * still has the sha256 recorded when the test first saw it completed; no container of the tree is
 * left once the tree is done. Case 10a also measures the failover time: from the kill to the
 * interrupted nodes' new attempts starting (on whichever worker took them).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import { uid } from './helpers/harness';
import { attemptsOf, readLedger, reExecutions, runCase, sha256, verifyOutputs, type CaseRecorder } from './helpers/ledger';
import { waitUntil } from './helpers/processes';
import { GENERAL_WORKERS, STACK_DOWN_TIMEOUT_MS, STACK_WARM_UP_MS, containerOf, docker, projectContainers, stackSh, stackShOk, startStack, stopStack, workspaceOf, type Stack } from './helpers/stack';
import { caseTimeout, containersWith, nodeOf, resultWithin, secs, sleepNode, systemDocker, terminateIfRunning, waitForStatus, logWarmNodes } from './fixtures/reliability/common';

const FILE = 'test/reliability-10-stack-faults.test.ts';
/** Long enough that the fault lands while these nodes run, short enough to keep a case near two minutes. */
const LONG_NODE_S = 20;
/** Seconds between the workers' sweeps for containers of dead attempts (the stack default is 60). */
const ORPHAN_SWEEP_S = 5;

/** The bounded waits every case makes, in order (its timeout is their sum plus slack). */
const W = {
  running: 180_000, containers: 60_000, fault: STACK_DOWN_TIMEOUT_MS + STACK_WARM_UP_MS, result: 300_000, containersGone: 120_000,
};

let stack: Stack | undefined;
let client: RagomicsClient | undefined;

before(async () => {
  stack = await startStack('faults', { RAGOMICS_MAX_CONCURRENT_NODES: '2', RAGOMICS_ORPHAN_SWEEP: String(ORPHAN_SWEEP_S) });
  client = await RagomicsClient.connect({ address: stack.address, taskQueue: 'ragomics' });
}, { timeout: STACK_WARM_UP_MS + 30_000 });

after(async () => {
  await client?.close().catch(() => undefined);
  await stopStack(stack);
}, { timeout: STACK_DOWN_TIMEOUT_MS + 30_000 });

/** The tree every case runs: two short roots, four long nodes under them, a short leaf under each long one. */
function faultTree(treeId: string) {
  return {
    id: treeId,
    maxParallelJobs: 6,
    nodes: [
      sleepNode('a', 0.5),
      sleepNode('b', 0.5),
      ...[0, 1, 2, 3].map((i) => sleepNode(`long${i}`, LONG_NODE_S, { parentId: i % 2 ? 'b' : 'a' })),
      ...[0, 1, 2, 3].map((i) => sleepNode(`leaf${i}`, 0.5, { parentId: `long${i}` })),
    ],
  };
}

/** What a fault returns: its own figures and a phrase for the case's line. */
interface FaultReport {
  figures: Record<string, unknown>;
  phrase: string;
}

/**
 * Runs one fault case: starts the tree, waits until `a` and `b` completed and the long nodes run
 * in their containers, hashes the completed outputs, injects `fault`, waits for the tree, checks
 * it, and reports. `fault` gets the status seen just before it.
 */
async function faultCase(rec: CaseRecorder, name: string, fault: (treeId: string) => Promise<FaultReport>): Promise<void> {
  assert.ok(stack && client, 'the stack is up');
  const treeId = uid(`stack-${name}`);
  const dockerApi = systemDocker();
  let tree: TreeHandle | undefined;
  try {
    tree = await client.startTree(faultTree(treeId));
    const before = await waitForStatus(tree, 'a and b completed and long0..3 running', (s) =>
      ['a', 'b'].every((id) => nodeOf(s, id).state === 'COMPLETED') && [0, 1, 2, 3].filter((i) => nodeOf(s, `long${i}`).state === 'RUNNING').length >= 2, W.running);
    await waitUntil('containers of the running long nodes', async () => {
      const running = (await containersWith(dockerApi, { treeId })).filter((c) => c.State === 'running');
      return running.length >= 2;
    }, W.containers);
    const completedBefore = before.nodes.filter((n) => n.state === 'COMPLETED').map((n) => n.id).sort();
    const runningBefore = before.nodes.filter((n) => n.state === 'RUNNING').map((n) => n.id).sort();
    const hashed = new Map<string, string>();
    for (const n of before.nodes) if (n.state === 'COMPLETED' && n.outputPath) hashed.set(n.id, await sha256(n.outputPath));

    const faultAt = Date.now();
    const f = await fault(treeId);
    rec.set({ faultsInjected: 1, figures: { completedBefore, runningBefore, ...f.figures } });

    const result = await resultWithin(tree, W.result);
    const doneMs = Date.now() - faultAt;
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
    const status = await tree.status();
    await logWarmNodes(`case 10 ${name}`, status);
    const ledger = await readLedger(workspaceOf(stack), treeId);
    for (const id of completedBefore) {
      const att = attemptsOf(ledger, id);
      assert.equal(att.length, 1, `${id} completed before the fault and ran once: ${JSON.stringify(att)}`);
      assert.equal(ledger.published.filter((p) => p.nodeId === id).length, 1, `${id} was published once`);
    }
    // A node whose attempt succeeded never runs again, whatever the fault did afterwards (the
    // attempt's completion must reach the server, or the retry must reuse the published output).
    for (const n of status.nodes) {
      const att = attemptsOf(ledger, n.id);
      const firstOk = att.findIndex((a) => a.status === 'succeeded');
      assert.ok(firstOk === -1 || firstOk === att.length - 1, `${n.id} ran again after an attempt that succeeded: ${att.map((a) => `${a.status}@${a.worker ?? '?'}`).join(', ')}`);
    }
    const check = await verifyOutputs(ledger, status.nodes, hashed);
    rec.outputs(check);
    assert.deepEqual(check.problems, [], 'every completed output is intact');
    assert.equal(check.verified, status.nodes.length, 'every node has a verified output');
    // The dead or stopped attempts' containers are removed by the workers' sweeps.
    await waitUntil('no container of the tree left', async () => (await containersWith(dockerApi, { treeId })).length === 0, W.containersGone, 500);
    const re = reExecutions(ledger);
    rec.set({
      nodesReExecuted: re.total,
      // How each re-executed node's attempts ended, and where they ran (the why of every re-run).
      figures: { doneAfterFaultMs: doneMs, reExecuted: re.nodes, reExecutedAttempts: Object.fromEntries(Object.keys(re.nodes).map((id) => [id, attemptsOf(ledger, id).map((a) => `${a.status}${a.failureType ? `:${a.failureType}` : ''}@${a.worker ?? '?'}`)])) },
      line: `${f.phrase}; ${runningBefore.length} nodes were running; re-executed ${JSON.stringify(re.nodes)}; completed-before-fault ran once; ${check.verified} outputs verified; no container left; tree done ${secs(doneMs)} after the fault`,
    });
  } catch (e) {
    await printWorkerWarnings(treeId);
    throw e;
  } finally {
    await terminateIfRunning(tree);
  }
}

/**
 * After a failed case: the general workers' warnings and errors (JSON log lines) about this tree
 * or about containers they removed, so a failure in CI, where the stack is gone afterwards,
 * says who did what. Never throws.
 */
async function printWorkerWarnings(treeId: string): Promise<void> {
  if (!stack) return;
  const r = await stackSh(['compose', 'logs', '--no-color', '--no-log-prefix', ...GENERAL_WORKERS], stack.env, 60_000).catch(() => null);
  const lines = (r?.stdout ?? '').split('\n').filter((l) => /"level":"(WARN|ERROR)"/.test(l) && (l.includes(treeId) || l.includes('container')));
  console.log(`# workers' warnings about ${treeId} or containers (${lines.length}, the last 30):`);
  for (const l of lines.slice(-30)) console.log(`#   ${l.slice(0, 600)}`);
}

void test('case 10a: a worker container is killed (docker kill) while it runs nodes', { timeout: caseTimeout(W) }, runCase({ id: '10a', title: 'production stack: `docker kill` of a worker container running nodes', test: FILE }, (rec) =>
  faultCase(rec, 'kill-worker', async (treeId) => {
    assert.ok(stack);
    // Who runs what: the workflow learns an attempt's worker only when it ends, so ask Docker
    // (every node container carries its tree, node and worker in its labels).
    const running = (await containersWith(systemDocker(), { treeId })).filter((c) => c.State === 'running');
    const counts = new Map<string, string[]>();
    for (const c of running) counts.set(c.identity.workerId!, [...(counts.get(c.identity.workerId!) ?? []), c.identity.nodeId]);
    const [victim, victimNodes] = [...counts.entries()].sort((x, y) => y[1].length - x[1].length)[0] ?? [];
    assert.ok(victim && victimNodes && (GENERAL_WORKERS as readonly string[]).includes(victim), `a general worker runs nodes (running: ${JSON.stringify([...counts])})`);
    const killAt = Date.now();
    docker(['kill', await containerOf(stack, victim)]);
    // Failover: from the kill until every node the victim ran has begun a new attempt (the
    // attempt folder's job.json is written as the attempt begins, on whichever worker).
    const resumed = await waitUntil("the killed worker's nodes to begin again", async () => {
      const ledger = await readLedger(workspaceOf(stack!), treeId);
      const again = victimNodes.map((id) => attemptsOf(ledger, id).find((a) => a.beganAt > killAt));
      return again.every(Boolean) ? again : null;
    }, W.result, 250);
    const failoverMs = Math.max(...resumed.map((a) => a!.beganAt)) - killAt;
    // Who took them: the new attempts' containers carry their worker's id (the attempt folder
    // learns it later).
    const takenBy = await waitUntil("the re-run nodes' containers", async () => {
      const cs = (await containersWith(systemDocker(), { treeId })).filter((c) => victimNodes.includes(c.identity.nodeId) && c.identity.workerId !== victim);
      const workers = [...new Set(cs.map((c) => c.identity.workerId!))].sort();
      return new Set(cs.map((c) => c.identity.nodeId)).size === victimNodes.length ? workers : null;
    }, W.containers, 250);
    // Docker (20.10) counts `docker kill` as a manual stop, so no restart policy brings the
    // worker back: an operator does, as here, and the next cases start from four workers again.
    await stackShOk(stack, ['compose', 'start', victim], STACK_DOWN_TIMEOUT_MS);
    return {
      figures: { victim, victimNodes, failoverMs, takenBy },
      phrase: `docker kill ${victim} running ${victimNodes.join(',')}: they began again ${secs(failoverMs)} after the kill (failover), on ${takenBy.join(',')}`,
    };
  })));

void test('case 10b: PostgreSQL is restarted mid-tree', { timeout: caseTimeout(W) }, runCase({ id: '10b', title: 'production stack: PostgreSQL restarted mid-tree', test: FILE }, (rec) =>
  faultCase(rec, 'restart-postgres', async () => {
    assert.ok(stack);
    const t0 = Date.now();
    docker(['restart', await containerOf(stack, 'postgresql')], 120_000);
    const restartMs = Date.now() - t0;
    return { figures: { restartMs }, phrase: `docker restart postgresql took ${secs(restartMs)}` };
  })));

void test('case 10c: the Temporal server container is restarted mid-tree', { timeout: caseTimeout(W) }, runCase({ id: '10c', title: 'production stack: Temporal server container restarted mid-tree', test: FILE }, (rec) =>
  faultCase(rec, 'restart-temporal', async () => {
    assert.ok(stack);
    const t0 = Date.now();
    docker(['restart', await containerOf(stack, 'temporal')], 120_000);
    const restartMs = Date.now() - t0;
    // Answering again: the workers and this test's client reconnect by themselves.
    await waitUntil('the Temporal server to answer again', async () => { await client!.listTrees(undefined, 1); return true; }, 120_000, 500);
    const answeringMs = Date.now() - t0;
    return { figures: { restartMs, answeringMs }, phrase: `docker restart temporal took ${secs(restartMs)}, the frontend answered again after ${secs(answeringMs)}` };
  })));

void test('case 10d: `docker compose down` then `up` (volumes kept) with a tree in flight', { timeout: caseTimeout(W) }, runCase({ id: '10d', title: 'production stack: compose down, then up, volumes kept', test: FILE }, (rec) =>
  faultCase(rec, 'down-up', async () => {
    assert.ok(stack);
    const t0 = Date.now();
    await stackShOk(stack, ['down'], STACK_DOWN_TIMEOUT_MS);
    const downMs = Date.now() - t0;
    assert.deepEqual(projectContainers(stack.name), [], 'down removed every container of the stack');
    const t1 = Date.now();
    await stackShOk(stack, ['up'], STACK_WARM_UP_MS);
    const upMs = Date.now() - t1;
    return { figures: { downMs, upMs }, phrase: `compose down took ${secs(downMs)} (running nodes got the workers' stop grace), up again ${secs(upMs)}` };
  })));
