/**
 * Several hosts, for real: a tree of 43 Docker nodes against the production stack
 * (docker-compose.yml via scripts/stack.sh: Temporal on PostgreSQL, three general worker
 * containers and one `highmem` worker container, each its own host with its own worker id and
 * node cap). Shown from the tree's own timeline (the worker id of every attempt):
 * - the general nodes ran on every general worker, and never on the highmem one;
 * - the nodes with `taskQueue: highmem` ran only on the highmem worker;
 * - no worker ever ran more nodes at once than its cap, and the caps were reached (so they bound).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RagomicsClient } from '../client/sdk';
import type { TimelineEntry } from '../workflows/views';
import { maxConcurrency, uid } from './helpers/harness';
import { GENERAL_WORKERS, HIGHMEM_QUEUE, HIGHMEM_WORKER, STACK_DOWN_TIMEOUT_MS, STACK_WARM_UP_MS, startStack, stopStack, type Stack } from './helpers/stack';
import { sleepNode } from './fixtures/reliability/common';

/** Per-worker node cap (RAGOMICS_MAX_CONCURRENT_NODES of every worker container). */
const CAP = 2;
const GENERAL_NODES = 40;
const HIGHMEM_NODES = 2;
/** 40 nodes of about 4 s (container included) over 6 slots: about 30 s; generous for a loaded machine. */
const TREE_MS = 600_000;

let stack: Stack | undefined;

before(async () => {
  stack = await startStack('hosts', { RAGOMICS_MAX_CONCURRENT_NODES: String(CAP) });
}, { timeout: STACK_WARM_UP_MS + 30_000 });

after(async () => {
  await stopStack(stack);
}, { timeout: STACK_DOWN_TIMEOUT_MS + 30_000 });

/** Attempt intervals (ms) of `entries` that started, per worker. */
function intervalsByWorker(entries: TimelineEntry[]): Map<string, { start: number; end: number }[]> {
  const by = new Map<string, { start: number; end: number }[]>();
  for (const e of entries) {
    if (!e.started || !e.worker) continue;
    const list = by.get(e.worker) ?? [];
    list.push({ start: Date.parse(e.started), end: e.ended ? Date.parse(e.ended) : Date.now() });
    by.set(e.worker, list);
  }
  return by;
}

void test(`a ${GENERAL_NODES + HIGHMEM_NODES + 1}-node Docker tree spreads over every worker host, each cap holds, highmem nodes stay on their pool`, { timeout: TREE_MS + 60_000 }, async () => {
  assert.ok(stack);
  const client = await RagomicsClient.connect({ address: stack.address, taskQueue: 'ragomics' });
  try {
    const treeId = uid('stack-hosts');
    const nodes = [
      sleepNode('root', 0.5),
      ...Array.from({ length: GENERAL_NODES }, (_, i) => sleepNode(`n${String(i).padStart(2, '0')}`, 3, { parentId: 'root' })),
      ...Array.from({ length: HIGHMEM_NODES }, (_, i) => sleepNode(`big${i}`, 3, { parentId: 'root', taskQueue: HIGHMEM_QUEUE })),
    ];
    // More parallelism than the stack has slots (3 × CAP + CAP): the workers' caps are what bind.
    const tree = await client.startTree({ id: treeId, maxParallelJobs: 16, maxNodes: 100, maxChildrenPerNode: 50, nodes });
    const t0 = Date.now();
    const result = await tree.result();
    const took = Date.now() - t0;
    assert.equal(result.state, 'COMPLETED', `tree ended ${result.state}`);

    const timeline = await tree.timeline();
    const done = timeline.filter((e) => e.state === 'COMPLETED');
    assert.equal(new Set(done.map((e) => e.node)).size, nodes.length, 'every node completed');

    const general = timeline.filter((e) => e.node !== 'root' && !e.node.startsWith('big') && e.started);
    const highmem = timeline.filter((e) => e.node.startsWith('big') && e.started);
    const generalWorkers = new Set(general.map((e) => e.worker));
    assert.deepEqual([...generalWorkers].sort(), [...GENERAL_WORKERS].sort(), 'the general nodes ran on every general worker, and only on them');
    assert.deepEqual([...new Set(highmem.map((e) => e.worker))], [HIGHMEM_WORKER], 'the highmem nodes ran only on the highmem worker');

    const peaks: Record<string, number> = {};
    for (const [worker, intervals] of intervalsByWorker(timeline)) peaks[worker] = maxConcurrency(intervals);
    for (const [worker, peak] of Object.entries(peaks)) assert.ok(peak <= CAP, `${worker} ran ${peak} nodes at once, above its cap ${CAP}`);
    assert.ok(GENERAL_WORKERS.some((w) => peaks[w] === CAP), `no general worker reached its cap ${CAP} (peaks ${JSON.stringify(peaks)}): the caps never bound`);

    const perWorker = Object.fromEntries([...GENERAL_WORKERS, HIGHMEM_WORKER].map((w) => [w, timeline.filter((e) => e.worker === w && e.started).length]));
    console.log(`[stack-hosts] ${nodes.length} nodes in ${(took / 1000).toFixed(1)} s; attempts per worker ${JSON.stringify(perWorker)}; peak nodes at once per worker ${JSON.stringify(peaks)} (cap ${CAP})`);
  } finally {
    await client.close();
  }
});
