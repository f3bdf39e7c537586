/**
 * A random DAG of 300 nodes with random priorities at maxParallelJobs 7, on the real server:
 * from the timeline, no node starts before its dependencies ended, concurrency never exceeds 7
 * and the workflow reaches 7; the idle-slot delay while a node is READY is printed (its median
 * loosely bounded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxConcurrency, uid, withWorker } from './helpers/harness';
import { dependencyViolations, idleSlotGaps, median, percentile, prng, runIntervals } from './helpers/timeline-checks';

const N = 300;
const SLOTS = 7;

function randomDag(seed: number) {
  const rand = prng(seed);
  const nodes = [];
  for (let i = 0; i < N; i++) {
    const deps = new Set<string>();
    // Each node depends on up to three random earlier nodes (a third of them are roots).
    if (i > 0 && rand() > 0.33) for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) deps.add(`n${Math.floor(rand() * i)}`);
    const dependencies = [...deps];
    nodes.push({
      id: `n${i}`,
      parentId: dependencies[0] ?? null,
      dependencies,
      priority: Math.floor(rand() * 5),
      block: { name: 'sleep' as const, parameters: { seconds: 0.05 + rand() * 0.25 } },
    });
  }
  return nodes;
}

test(`random DAG of ${N} nodes at maxParallelJobs ${SLOTS}: order and cap; idle slots measured`, { timeout: 300_000 }, async () => {
  const nodes = randomDag(42);
  await withWorker({ maxConcurrentNodes: 20 }, async ({ client }) => {
    // heartbeatTimeout 60: one attempt per node is asserted below, and a stall of the loaded worker
    // longer than the default 6 s would otherwise time an attempt out and run it again.
    const tree = await client.startTree({ id: uid('dag300'), maxParallelJobs: SLOTS, maxNodes: N, maxChildrenPerNode: N, priorityStrategy: 'critical_path', heartbeatTimeout: 60, nodes });
    const result = await tree.result();
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures.slice(0, 3)));
    const [timeline, status] = [await tree.timeline(), await tree.status({ transitions: true })];
    assert.equal(timeline.length, N, 'one attempt per node');
    const intervals = runIntervals(timeline);
    assert.deepEqual(dependencyViolations(nodes, intervals), []);
    const peak = maxConcurrency([...intervals.values()]);
    assert.ok(peak <= SLOTS, `concurrency peaked at ${peak}`);
    // That the cap is reached is a scheduler decision, read from the workflow's own transitions
    // (RUNNING when it starts a node, COMPLETED when it records the end): a third of the nodes
    // are roots, so the first workflow task starts SLOTS of them, whatever the machine's speed.
    // (Measured run intervals may not overlap that much on a loaded machine: short sleeps can end
    // before the last of a batch has started.)
    const decided = status.nodes.map((n) => {
      const at = (st: string) => Date.parse(n.transitions!.find((x) => x.state === st)!.at);
      return { start: at('RUNNING'), end: at('COMPLETED') };
    });
    const decidedPeak = maxConcurrency(decided);
    assert.equal(decidedPeak, SLOTS, `the workflow ran ${decidedPeak} nodes at once at most; the cap of ${SLOTS} should be reached`);
    const gaps = idleSlotGaps(status, intervals, SLOTS);
    const report = { gaps: gaps.length, medianMs: median(gaps), p95Ms: percentile(gaps, 95), maxMs: Math.max(0, ...gaps), makespan: status.metrics.makespan, efficiency: status.metrics.parallelEfficiency, peak };
    console.log(`# idle-slot scheduling delay: ${JSON.stringify(report)}`);
    // Each gap is the time from a slot freeing up to the next READY node starting in it: the
    // activity completion persisted by the server, one workflow task, one activity dispatch. The
    // figures are printed (BENCHMARKS.md). Only the median is bounded, loosely: it catches a
    // scheduler that leaves slots idle until some later event, not a slow machine. Medians seen
    // on the 2-core box: 42-64 ms (load average 3-15), 289-408 ms with two `yes` CPU hogs beside
    // the run, 1,588 ms once with the hogs and a second suite running (p95 there 11 s, so the
    // maximum is not bounded). 10 s is > 6x the worst median seen.
    assert.ok(report.medianMs < 10_000, `median idle-slot gap ${report.medianMs} ms`);
  });
});
