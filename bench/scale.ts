/**
 * Scale of one worker, in-process `sleep 0` nodes (so the time measured is Temporal and the
 * workflow, not the blocks):
 *  (a) one tree of N nodes (default 10,000): a root with a wide fan-out, each branch a chain,
 *      at maxParallelJobs 20 on a worker with maxConcurrentNodes 20, continue-as-new as the
 *      server suggests it. Prints total time, nodes/s, continue-as-new runs, the carried payload
 *      of the last run (bytes, bytes/node), and the bench process's RSS and heap (the worker runs
 *      in this process, like the tests' harness), sampled every 500 ms: peak and final; then where
 *      the slots went (workflow view): mean slots held, the windows with none held (the drains
 *      before continue-as-new), and each slot hold split into dispatch, run and report.
 *  (b) T trees × 20 nodes (default 100) started at once on the same worker: total time, nodes/s,
 *      per-tree makespan (start request → result) median and p95.
 *  (c) `--only=carry`: what continue-as-new carries through the workspace (deflated JSON in
 *      chunks), at 10,000 and 20,000 nodes: bytes, encode/decode CPU and continue-as-new latency
 *      (bench/carry-state.ts; recorded as .data/bench/carry-state.json).
 * Prints figures only; no assertion about speed.
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/scale.js [N] [T] [--only=a|b|carry] [--can-after=EVENTS]
 */
import os from 'node:os';
import type { NodeSpecInput } from '../common/schemas';
import { sleepNode, uid, withWorker, type WorkerContext } from '../test/helpers/harness';
import { median, percentile } from '../test/helpers/timeline-checks';
import { carryState } from './carry-state';
import { BenchRecord } from './record';

const SLOTS = 20;
const SMALL_TREE = 20;

/** A root, `heads` children of the root, and a chain under each head: `1 + heads × chain` nodes. */
function fanOutOfChains(prefix: string, total: number, chain: number): NodeSpecInput[] {
  const heads = Math.max(1, Math.floor((total - 1) / chain));
  const nodes: NodeSpecInput[] = [sleepNode(`${prefix}r`, 0)];
  for (let h = 0; h < heads && nodes.length < total; h++) {
    for (let k = 0; k < chain && nodes.length < total; k++) nodes.push(sleepNode(`${prefix}${h}.${k}`, 0, { parentId: k === 0 ? `${prefix}r` : `${prefix}${h}.${k - 1}` }));
  }
  // Whatever does not fill a whole chain hangs off the root.
  for (let i = 0; nodes.length < total; i++) nodes.push(sleepNode(`${prefix}x${i}`, 0, { parentId: `${prefix}r` }));
  return nodes;
}

/** Samples RSS and heap every 500 ms until stopped; keeps peaks and the last sample. */
function memorySampler() {
  let peakRss = 0, peakHeap = 0, last = process.memoryUsage();
  const sample = () => {
    last = process.memoryUsage();
    peakRss = Math.max(peakRss, last.rss);
    peakHeap = Math.max(peakHeap, last.heapUsed);
  };
  sample();
  const timer = setInterval(sample, 500);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peakRss, peakHeap, rss: last.rss, heap: last.heapUsed };
    },
  };
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;

async function oneBigTree(ctx: WorkerContext, n: number, canAfter: number | undefined): Promise<void> {
  const { client } = ctx;
  const nodes = fanOutOfChains('n', n, 10);
  const mem = memorySampler();
  const t0 = Date.now();
  const tree = await client.startTree(
    { id: uid('scale'), maxParallelJobs: SLOTS, maxNodes: n, maxChildrenPerNode: n, maxDepth: n, priorityStrategy: 'depth_first', nodes },
    canAfter ? { continueAsNewAfterEvents: canAfter } : {},
  );
  let lastDone = 0;
  const progress = setInterval(() => {
    void tree.summary().then((s) => {
      const done = s.counts.COMPLETED;
      console.log(`#   ${((Date.now() - t0) / 1000).toFixed(0)} s: ${done}/${n} completed (+${done - lastDone}/10 s), rss ${mb(process.memoryUsage().rss)}`);
      lastDone = done;
    }, () => undefined);
  }, 10_000);
  const result = await tree.result();
  const seconds = (Date.now() - t0) / 1000;
  clearInterval(progress);
  const m = mem.stop();
  // The carried state is the input of the last run (its first history event).
  const history = await client.client.workflow.getHandle(tree.treeId).fetchHistory();
  const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data?.length ?? 0;
  rec.log(`(a) one tree of ${n} nodes, maxParallelJobs ${SLOTS}: ${result.state} in ${seconds.toFixed(1)} s = ${(n / seconds).toFixed(1)} nodes/s, ` +
    `${result.runs} continue-as-new; last run's input ${(input / 1024).toFixed(0)} KiB${result.runs > 0 ? ` (${(input / n).toFixed(0)} B/node)` : ''}; ` +
    `RSS peak ${mb(m.peakRss)}, final ${mb(m.rss)}; heap used peak ${mb(m.peakHeap)}, final ${mb(m.heap)}`);
  if (result.state !== 'COMPLETED') {
    rec.log(`    failures: ${JSON.stringify(result.failures.slice(0, 3))}`);
    rec.fail(`the ${n}-node tree ended ${result.state}`);
  }
  // Where the slots went, in workflow time: each node holds a slot from RUNNING to its end.
  const status = await tree.status({ transitions: true });
  const held = status.nodes.map((x) => {
    const ts = x.transitions ?? [];
    const run = ts.find((t) => t.state === 'RUNNING');
    return run ? { start: Date.parse(run.at), end: Date.parse(ts[ts.length - 1]!.at) } : undefined;
  }).filter((x): x is { start: number; end: number } => x !== undefined);
  const occ = occupancy(held);
  // One slot hold = dispatch (RUNNING → the activity starts on the worker) + run + report (its end → the workflow sees it).
  const phases = { dispatch: [] as number[], run: [] as number[], report: [] as number[] };
  for (const x of status.nodes) {
    const run = x.transitions?.find((t) => t.state === 'RUNNING');
    const end = x.transitions?.[x.transitions.length - 1];
    if (!run || !end || !x.startedAt || !x.endedAt || x.attempts !== 1) continue;
    phases.dispatch.push(Date.parse(x.startedAt) - Date.parse(run.at));
    phases.run.push(Date.parse(x.endedAt) - Date.parse(x.startedAt));
    phases.report.push(Date.parse(end.at) - Date.parse(x.endedAt));
  }
  const mp = (xs: number[]) => `${median(xs).toFixed(0)}/${percentile(xs, 95).toFixed(0)}`;
  rec.log(`    slot hold phases, median/p95 ms: dispatch ${mp(phases.dispatch)}, run ${mp(phases.run)}, report ${mp(phases.report)}`);
  rec.log(`    slots (workflow view): mean ${occ.mean.toFixed(1)} of ${SLOTS} held; ${occ.emptyWindows} windows with none held (the drains before continue-as-new), ` +
    `${(occ.emptyMs / 1000).toFixed(1)} s in all (${((100 * occ.emptyMs) / occ.spanMs).toFixed(1)} % of the run); mean slot hold ${(occ.holdMs / held.length).toFixed(0)} ms per node`);
}

/** Mean number of intervals open, and the windows (between first start and last end) where none is. */
function occupancy(intervals: ReadonlyArray<{ start: number; end: number }>) {
  const events: [number, number][] = [];
  let holdMs = 0;
  for (const i of intervals) {
    events.push([i.start, 1], [i.end, -1]);
    holdMs += i.end - i.start;
  }
  events.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let open = 0, emptySince = -1, emptyMs = 0, emptyWindows = 0;
  for (const [t, d] of events) {
    if (open === 0 && emptySince >= 0 && t > emptySince) { emptyMs += t - emptySince; emptyWindows++; }
    open += d;
    emptySince = open === 0 ? t : -1;
  }
  const spanMs = events.length ? events[events.length - 1]![0] - events[0]![0] : 0;
  return { mean: spanMs ? holdMs / spanMs : 0, emptyMs, emptyWindows, spanMs, holdMs };
}

async function manySmallTrees(ctx: WorkerContext, trees: number): Promise<void> {
  const { client } = ctx;
  const mem = memorySampler();
  const t0 = Date.now();
  const run = uid('many');
  const makespans = await Promise.all(Array.from({ length: trees }, async (_, t) => {
    const started = Date.now();
    const tree = await client.startTree({ id: `${run}-${t}`, maxParallelJobs: 5, maxNodes: SMALL_TREE, maxChildrenPerNode: SMALL_TREE, nodes: fanOutOfChains(`t${t}n`, SMALL_TREE, 3) });
    const result = await tree.result();
    if (result.state !== 'COMPLETED') throw new Error(`tree ${t} ended ${result.state}`);
    return (Date.now() - started) / 1000;
  }));
  const seconds = (Date.now() - t0) / 1000;
  const m = mem.stop();
  rec.log(`(b) ${trees} trees × ${SMALL_TREE} nodes at once (maxParallelJobs 5 each): ${seconds.toFixed(1)} s = ${((trees * SMALL_TREE) / seconds).toFixed(1)} nodes/s; ` +
    `makespan per tree median ${median(makespans).toFixed(1)} s, p95 ${percentile(makespans, 95).toFixed(1)} s; RSS peak ${mb(m.peakRss)}, final ${mb(m.rss)}`);
}

/** This run's result lines, written to .data/bench/scale.json at the end (bench/record.ts). */
const rec = new BenchRecord('scale');

async function main(): Promise<void> {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const n = Number(positional[0] ?? 10_000);
  const trees = Number(positional[1] ?? 100);
  const only = flag('only');
  const canAfter = flag('can-after') ? Number(flag('can-after')) : undefined;
  console.log(`# scale: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at start, node ${process.version}`);
  if (only === 'carry') return carryState(true, ['node', 'dist/bench/scale.js', ...process.argv.slice(2)].join(' '));
  await withWorker({ maxConcurrentNodes: SLOTS }, async (ctx) => {
    if (only !== 'b') await oneBigTree(ctx, n, canAfter);
    if (only !== 'a') await manySmallTrees(ctx, trees);
  });
  console.log(`# load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
  rec.save();
}
main().catch((e) => { console.error(e); process.exit(1); });
