/**
 * Case 9 — a worker process is SIGKILLed mid-cohort, and a sample is added while it is dead.
 *
 * A cohort of 4 samples × 3 per-sample nodes (qc → norm → score), a gather `merge` over
 * `score_{sample}` and `report` after it, on a real worker process with the inprocess executor
 * (the blocks run inside the worker, so the SIGKILL kills them with it; no container start-up on
 * a loaded machine). The worker is killed while the four `norm` nodes run; while it is dead a
 * fifth sample is added through the SDK. The update is handled by the workflow, and a workflow
 * task needs a worker: the request is sent right after the kill and is asserted still pending once
 * Temporal has noticed the death, just before the replacement worker starts; the replacement
 * applies it before the gather can start (the gather still waits for the re-run `norm` nodes; had
 * it started, the request would be refused and the case would fail, not pass by luck). Asserted from the ledger: every node COMPLETED;
 * nodes COMPLETED before the kill never ran again (one attempt, `node-result.json` unchanged);
 * the interrupted ones have one lost attempt and one success on the new worker; the gather read
 * exactly S1..S5 in sheet order, each once, each the published output of its `score` node; no
 * worker process or container is left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import type { AddSamplesResult } from '../workflows/messages';
import { uid } from './helpers/harness';
import { attemptsOf, readLedger, reExecutions, runCase, verifyOutputs } from './helpers/ledger';
import { WORKER_READY_MS, isAlive, spawnWorker, tempDir, waitUntil } from './helpers/processes';
import { TEMPORAL_ADDRESS, caseTimeout, cleanupCase, containersWith, nodeOf, resultWithin, secs, sleepNode, systemDocker, waitForStatus } from './fixtures/reliability/common';

const HEARTBEAT_TIMEOUT_S = 5;
/** The `norm` nodes' sleep: long enough that the kill lands while all four run (checked from the ledger: their first attempts are lost). */
const LONG_NODE_S = 15;
const SAMPLES = ['S1', 'S2', 'S3', 'S4'];
const ADDED = 'S5';
const PER_SAMPLE = ['qc', 'norm', 'score'];

const FILE = 'test/reliability-9-cohort-kill.test.ts';

/** Every bounded wait of case 9, in order; its test timeout is their sum plus cleanup slack. */
const W9 = {
  readyA: WORKER_READY_MS, running: 120_000, attempts: 30_000, killedExit: 10_000, noticed: 60_000,
  readyB: WORKER_READY_MS, update: 60_000, result: 180_000, stopB: 60_000,
};

/** What became of a request the test does not await yet (the update sent while no worker lives). */
type Settled<T> = { done: false } | { done: true; value?: T; error?: unknown };

void test('case 9: worker SIGKILLed mid-cohort while a sample is added; the tree completes, the gather reads every sample once', { timeout: caseTimeout(W9) }, runCase({ id: '9', title: 'worker SIGKILLed mid-cohort while a sample is added', test: FILE }, async (rec) => {
  const base = tempDir('rel-cohort');
  const ws = path.join(base, 'ws');
  const taskQueue = uid('rel-cohort');
  const treeId = uid('rel-cohort');
  const deadId = `${treeId}-A`;
  const newId = `${treeId}-B`;
  const docker = systemDocker();
  let client: RagomicsClient | undefined;
  let tree: TreeHandle | undefined;
  // The sleep block reads no input; the activity checks the sample's file exists.
  const sampleFile = (s: string): string => {
    const p = path.join(base, `${s}.h5ad`);
    writeFileSync(p, 'placeholder\n');
    return p;
  };
  try {
    const a = spawnWorker({ address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId: deadId, logDir: base, executor: 'inprocess', maxConcurrentNodes: 8, readyTimeoutMs: W9.readyA });
    await a.ready;
    client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    tree = await client.startTree({
      id: treeId,
      heartbeatTimeout: HEARTBEAT_TIMEOUT_S,
      maxParallelJobs: 8,
      samples: SAMPLES.map((s, i) => ({ sample: s, path: sampleFile(s), condition: i % 2 ? 'stim' : 'ctrl' })),
      forEachSample: [
        sleepNode('qc_{sample}', 0.2),
        sleepNode('norm_{sample}', LONG_NODE_S, { parentId: 'qc_{sample}' }),
        sleepNode('score_{sample}', 0.2, { parentId: 'norm_{sample}' }),
      ],
      nodes: [
        sleepNode('merge', 0.2, { inputs: { gather: 'score_{sample}' } }),
        sleepNode('report', 0.2, { parentId: 'merge' }),
      ],
    });
    const norms = SAMPLES.map((s) => `norm_${s}`);

    // Kill when every norm is RUNNING and its attempt has begun on the worker (job.json written).
    await waitForStatus(tree, 'the four norm nodes running', (s) => norms.every((id) => nodeOf(s, id).state === 'RUNNING'), W9.running);
    await waitUntil('attempts of the four norm nodes begun', async () => {
      const l = await readLedger(ws, treeId);
      return norms.every((id) => attemptsOf(l, id).length > 0);
    }, W9.attempts, 100);
    const before = await tree.status();
    const completedBefore = before.nodes.filter((n) => n.state === 'COMPLETED').map((n) => n.id).sort();
    const runningBefore = before.nodes.filter((n) => n.state === 'RUNNING').map((n) => n.id).sort();
    const ledgerBefore = await readLedger(ws, treeId);
    const resultsBefore = new Map<string, string>();
    for (const p of ledgerBefore.published.filter((x) => completedBefore.includes(x.nodeId))) {
      resultsBefore.set(p.nodeId, await readFile(path.join(p.dir, 'node-result.json'), 'utf8'));
    }
    const killAt = Date.now();
    a.kill('SIGKILL');
    rec.set({ faultsInjected: 1, figures: { completedBefore, runningBefore, heartbeatTimeoutS: HEARTBEAT_TIMEOUT_S } });
    const exit = await a.waitExit(W9.killedExit);
    assert.equal(exit.signal, 'SIGKILL');

    // While no worker lives: add S5. The update needs a workflow task, so it stays pending.
    const addSentAt = Date.now();
    let added: Settled<AddSamplesResult> = { done: false };
    const adding = tree.addSamples([{ sample: ADDED, path: sampleFile(ADDED), condition: 'stim' }], { requestId: 'while-dead' }).then(
      (value) => { added = { done: true, value }; },
      (error: unknown) => { added = { done: true, error }; },
    );
    await waitUntil('Temporal to stop counting the dead worker as live', async () => {
      const d = await tree!.workflow.describe();
      return !(d.raw.pendingActivities ?? []).some((p) => p.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED && p.lastWorkerIdentity === deadId);
    }, W9.noticed, 250);
    const noticedMs = Date.now() - killAt;
    assert.deepEqual(added, { done: false }, 'addSamples waits for a worker: no workflow task can run while none polls');
    const pendingWhileDeadMs = Date.now() - addSentAt;

    const b = spawnWorker({ address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId: newId, logDir: base, executor: 'inprocess', maxConcurrentNodes: 8, readyTimeoutMs: W9.readyB });
    await b.ready;
    const downtimeMs = Date.now() - killAt;
    await waitUntil('the addSamples update to be answered', () => added.done, W9.update, 100);
    const updateAnsweredAfterStartMs = Date.now() - killAt - downtimeMs;
    await adding;
    const a9 = added as Settled<AddSamplesResult>;
    assert.ok(a9.done && a9.error === undefined, `addSamples failed: ${a9.done ? String(a9.error) : ''}`);
    assert.deepEqual(a9.value, { requestId: 'while-dead', samples: [ADDED], added: PER_SAMPLE.map((t) => `${t}_${ADDED}`), gathers: ['merge'], duplicate: false });

    const result = await resultWithin(tree, W9.result);
    const finishedMs = Date.now() - killAt;
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
    const status = await tree.status();
    const all = [...SAMPLES, ADDED];
    const expectedIds = [...all.flatMap((s) => PER_SAMPLE.map((t) => `${t}_${s}`)), 'merge', 'report'].sort();
    assert.deepEqual(status.nodes.map((n) => n.id).sort(), expectedIds);
    for (const n of status.nodes) assert.equal(n.state, 'COMPLETED', `${n.id} is ${n.state}`);
    assert.deepEqual(status.samples?.map((s) => s.sample), all, 'the samples in sheet order, S5 last');
    const ledger = await readLedger(ws, treeId);

    // Completed before the kill: one attempt, by the dead worker, its node-result.json unchanged.
    assert.deepEqual(completedBefore, SAMPLES.map((s) => `qc_${s}`).sort());
    for (const id of completedBefore) {
      const att = attemptsOf(ledger, id);
      assert.equal(att.length, 1, `${id} ran once: ${JSON.stringify(att)}`);
      assert.equal(att[0]!.status, 'succeeded');
      assert.equal(att[0]!.worker, deadId);
      const pubs = ledger.published.filter((p) => p.nodeId === id);
      assert.equal(pubs.length, 1, `${id} published once`);
      assert.equal(await readFile(path.join(pubs[0]!.dir, 'node-result.json'), 'utf8'), resultsBefore.get(id), `${id}: node-result.json unchanged`);
    }
    // Interrupted: one lost attempt (the kill landed while it ran), one success by the new worker.
    assert.deepEqual(runningBefore, [...norms].sort());
    for (const id of runningBefore) {
      const att = attemptsOf(ledger, id);
      assert.equal(att.length, 2, `${id}: a lost attempt and a re-run: ${JSON.stringify(att)}`);
      assert.equal(att.filter((x) => x.status === 'lost').length, 1, `${id} has one lost attempt: ${JSON.stringify(att)}`);
      const ok = att.filter((x) => x.status === 'succeeded');
      assert.equal(ok.length, 1, `${id} succeeded once`);
      assert.equal(ok[0]!.worker, newId);
      const pubs = ledger.published.filter((p) => p.nodeId === id);
      assert.equal(pubs.length, 1, `${id}: only the re-run was published`);
      assert.equal(nodeOf(status, id).outputPath, pubs[0]!.result.outputPath);
    }
    // Everything else (score_*, the added sample's nodes, merge, report) ran once, on the new worker.
    for (const id of expectedIds.filter((x) => !completedBefore.includes(x) && !runningBefore.includes(x))) {
      const att = attemptsOf(ledger, id);
      assert.equal(att.length, 1, `${id} ran once: ${JSON.stringify(att)}`);
      assert.equal(att[0]!.worker, newId, `${id} ran on the new worker`);
    }
    const timelineLost = (await tree.timeline()).filter((e) => e.state === 'LOST').map((e) => e.node).sort();
    assert.deepEqual(timelineLost, [...norms].sort(), 'the timeline shows the lost attempts');

    // The gather read S1..S5 in sheet order, each once, each the published output of its score node.
    const mergeAttempt = attemptsOf(ledger, 'merge')[0]!;
    const job = JSON.parse(await readFile(path.join(mergeAttempt.dir, 'job.json'), 'utf8')) as { inputs?: Array<{ key: string; path: string }> };
    assert.deepEqual(job.inputs?.map((i) => i.key), all, 'job.json inputs: every sample once, in sheet order');
    for (const input of job.inputs ?? []) {
      const score = nodeOf(status, `score_${input.key}`);
      assert.ok(score.outputPath && input.path.startsWith(score.outputPath), `input ${input.key} is score_${input.key}'s published output: ${input.path} vs ${score.outputPath}`);
    }
    const mergePub = ledger.published.filter((p) => p.nodeId === 'merge');
    assert.equal(mergePub.length, 1);
    const manifest = JSON.parse(await readFile(path.join(mergePub[0]!.dir, 'result.json'), 'utf8')) as { metrics: { input_keys?: string[] } };
    assert.deepEqual(manifest.metrics.input_keys, all, 'the block saw every sample once, in sheet order');

    const check = await verifyOutputs(ledger, status.nodes);
    rec.outputs(check);
    assert.deepEqual(check.problems, []);
    assert.equal(check.verified, expectedIds.length);
    const left = await containersWith(docker, { treeId });
    assert.deepEqual(left.map((c) => c.Names), [], 'no container of the tree is left');
    const re = reExecutions(ledger);
    assert.equal(re.total, norms.length, `only the interrupted nodes ran again: ${JSON.stringify(re.nodes)}`);

    b.kill('SIGTERM');
    await b.waitExit(W9.stopB);
    assert.ok(!isAlive(a.pid) && !isAlive(b.pid), 'no worker process is left');
    rec.set({
      nodesReExecuted: re.total,
      line: `SIGKILL with ${runningBefore.join(',')} running (${completedBefore.length} completed), ${ADDED} added while dead: update pending ${secs(pendingWhileDeadMs)} with no worker and answered ${secs(updateAnsweredAfterStartMs)} after the replacement started (worker down ${secs(downtimeMs)}); re-executed ${JSON.stringify(re.nodes)}, completed-before-kill ran once; gather read ${all.join(',')} once each in sheet order; tree done ${secs(finishedMs)} after the kill; 0 containers, 0 workers left`,
      figures: { noticedMs, downtimeMs, pendingWhileDeadMs, updateAnsweredAfterStartMs, finishedAfterKillMs: finishedMs, reExecuted: re.nodes, gatherInputs: all },
    });
  } finally {
    await client?.close();
    await cleanupCase({ workerIds: [deadId, newId], trees: [tree], treeIds: [treeId], docker, dirs: [base] });
  }
}));
