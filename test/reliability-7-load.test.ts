/**
 * Case 7 — load: 20 trees of 50 nodes each, started at once, on one worker process.
 *
 * The inprocess executor runs the `sleep` blocks inside the worker (same activity, publishing
 * and ledger code paths; no container start-up), which is what makes 1,000 nodes fit in a
 * test's time on 2 cores: this case is about scheduling, caps and bookkeeping, not Docker.
 * Each tree has maxParallelJobs 3; the worker has maxConcurrentNodes 8. From the timelines
 * (worker-side start and end of every attempt): every node completed exactly once, no tree ever
 * had more than 3 nodes running, the worker never more than 8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import { maxConcurrency, uid } from './helpers/harness';
import { readLedger, runCase, reExecutions, verifyOutputs } from './helpers/ledger';
import { WORKER_READY_MS, spawnWorker, tempDir } from './helpers/processes';
import { prng } from './helpers/timeline-checks';
import { TEMPORAL_ADDRESS, caseTimeout, cleanupCase, resultWithin, secs, sleepNode } from './fixtures/reliability/common';

const TREES = 20;
const NODES = 50;
const PER_TREE_CAP = 3;
const WORKER_CAP = 8;

const FILE = 'test/reliability-7-load.test.ts';

/** Every bounded wait of case 7, in order (the trees' results are awaited together, each bounded by `results`). */
const W7 = { ready: WORKER_READY_MS, results: 480_000, stop: 60_000 };

void test(`case 7: ${TREES} trees x ${NODES} nodes at once: all complete, no per-tree or worker-wide cap exceeded`, { timeout: caseTimeout(W7) }, runCase({ id: '7', title: `load: ${TREES} trees x ${NODES} nodes at once (inprocess executor)`, test: FILE }, async (rec) => {
  const base = tempDir('rel-load');
  const ws = path.join(base, 'ws');
  const taskQueue = uid('rel-load');
  const run = uid('rel-load');
  const workerId = `${run}-W`;
  let client: RagomicsClient | undefined;
  const trees: TreeHandle[] = [];
  try {
    const w = spawnWorker({ address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId, logDir: base, executor: 'inprocess', maxConcurrentNodes: WORKER_CAP, readyTimeoutMs: W7.ready });
    await w.ready;
    client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    const rand = prng(7);
    let sleepTotal = 0;
    const specs = Array.from({ length: TREES }, (_, t) => ({
      id: `${run}-t${t}`, maxParallelJobs: PER_TREE_CAP, maxNodes: NODES, maxChildrenPerNode: NODES, heartbeatTimeout: 10, priorityStrategy: 'fifo' as const,
      nodes: Array.from({ length: NODES }, (_, i) => {
        const seconds = Math.round((0.1 + rand() * 0.3) * 100) / 100;
        sleepTotal += seconds;
        // A random tree: each node's parent is an earlier node (i.e. also many leaves ready at once).
        return sleepNode(`n${i}`, seconds, i === 0 ? {} : { parentId: `n${Math.floor(rand() * i)}` });
      }),
    }));
    const startAt = Date.now();
    trees.push(...(await Promise.all(specs.map((s) => client!.startTree(s)))));
    const results = await Promise.all(trees.map((t) => resultWithin(t, W7.results)));
    const wallMs = Date.now() - startAt;
    for (const r of results) assert.equal(r.state, 'COMPLETED', `${r.treeId}: ${JSON.stringify(r.failures.slice(0, 3))}`);

    const all: { start: number; end: number }[] = [];
    const perTreeMax: number[] = [];
    let nodesCompleted = 0, reExecuted = 0, verified = 0;
    const problems: string[] = [];
    const workers = new Set<string>();
    for (const tree of trees) {
      const timeline = await tree.timeline();
      const status = await tree.status();
      nodesCompleted += status.nodes.filter((n) => n.state === 'COMPLETED').length;
      const iv = timeline.filter((e) => e.started && e.ended).map((e) => ({ start: Date.parse(e.started!), end: Date.parse(e.ended!) }));
      assert.equal(iv.length, NODES, `${tree.treeId}: one attempt per node in the timeline`);
      for (const e of timeline) if (e.worker) workers.add(e.worker);
      perTreeMax.push(maxConcurrency(iv));
      all.push(...iv);
      const ledger = await readLedger(ws, tree.treeId);
      const re = reExecutions(ledger);
      reExecuted += re.total;
      assert.equal(ledger.attempts.length, NODES, `${tree.treeId}: every node executed exactly once`);
      const check = await verifyOutputs(ledger, status.nodes);
      verified += check.verified;
      problems.push(...check.problems.map((p) => `${tree.treeId}: ${p}`));
    }
    rec.outputs({ problems, verified });
    const globalMax = maxConcurrency(all);
    assert.equal(nodesCompleted, TREES * NODES);
    assert.ok(Math.max(...perTreeMax) <= PER_TREE_CAP, `per-tree cap exceeded: ${perTreeMax.join(',')}`);
    assert.ok(globalMax <= WORKER_CAP, `worker-wide cap exceeded: ${globalMax}`);
    assert.deepEqual([...workers], [workerId]);
    assert.deepEqual(problems, []);
    assert.equal(verified, TREES * NODES, 'every output re-hashed');
    assert.equal(reExecuted, 0);
    const busyMs = all.reduce((s, i) => s + (i.end - i.start), 0);
    const firstStart = Math.min(...all.map((i) => i.start));
    const lastEnd = Math.max(...all.map((i) => i.end));
    const utilisation = busyMs / ((lastEnd - firstStart) * WORKER_CAP);
    w.kill('SIGTERM');
    await w.waitExit(W7.stop);
    rec.set({
      faultsInjected: 0, nodesReExecuted: reExecuted,
      line: `${TREES * NODES} nodes (${secs(sleepTotal * 1000)} of sleep) in ${secs(wallMs)}: all COMPLETED once; max running per tree ${Math.max(...perTreeMax)} (cap ${PER_TREE_CAP}), worker-wide ${globalMax} (cap ${WORKER_CAP}); slot utilisation ${(utilisation * 100).toFixed(0)}%; ${(TREES * NODES / (wallMs / 1000)).toFixed(1)} nodes/s`,
      figures: { trees: TREES, nodesPerTree: NODES, wallMs, sleepTotalS: Math.round(sleepTotal), perTreeMax: Math.max(...perTreeMax), globalMax, utilisation: Math.round(utilisation * 1000) / 1000, nodesPerSecond: Math.round((TREES * NODES / (wallMs / 1000)) * 10) / 10 },
    });
  } finally {
    await client?.close();
    await cleanupCase({ workerIds: [workerId], trees, dirs: [base] });
  }
}));
