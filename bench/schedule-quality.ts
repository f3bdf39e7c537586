/**
 * Schedule quality (issue 7, item 2): the reference tree of a PBMC analysis, at
 * maxParallelJobs 3, run as `sleep` nodes scaled down by ten through the in-process executor,
 * once per priority strategy, against the tree's critical path and its best 3-slot schedule.
 * Both bounds are computed here from the durations (exhaustive search over start orders), not
 * copied. Also run: the seed's level-by-level pool (emulated with barrier dependencies) and
 * the in-process pool (bench/baseline) with the same strategies, which isolates what the
 * orchestration costs from what the schedule costs. Variants alternate; medians over REPEATS.
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/schedule-quality.js [REPEATS]
 */
import type { NodeSpecInput, PriorityStrategy } from '../common/schemas';
import { sleepNode, uid, withWorker, type WorkerContext } from '../test/helpers/harness';
import { median } from '../test/helpers/timeline-checks';
import { runPool } from './baseline/job-pool';
import { BenchRecord } from './record';

/** The reference tree: id, parent, duration in units (seconds before scaling). */
export const REFERENCE_TREE: ReadonlyArray<{ id: string; parent: string | null; units: number }> = [
  { id: 'qc', parent: null, units: 3.9 },
  { id: 'normalize', parent: 'qc', units: 3.5 },
  { id: 'pca', parent: 'normalize', units: 17.4 },
  { id: 'leiden_low', parent: 'normalize', units: 22.0 },
  { id: 'leiden_high', parent: 'normalize', units: 16.3 },
  { id: 'umap', parent: 'pca', units: 13.1 },
  { id: 'leiden_pca', parent: 'pca', units: 11.8 },
  { id: 'markers_low', parent: 'leiden_low', units: 7.1 },
  { id: 'markers_high', parent: 'leiden_high', units: 7.1 },
];
const SLOTS = 3;
export const SCALE = 0.1; // seconds per unit
const STRATEGIES: PriorityStrategy[] = ['depth_first', 'breadth_first', 'fifo', 'critical_path'];

type Tree = typeof REFERENCE_TREE;
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Longest chain of durations. */
export function criticalPath(tree: Tree): number {
  const memo = new Map<string, number>();
  const finish = (id: string): number => {
    if (!memo.has(id)) {
      const n = tree.find((x) => x.id === id)!;
      memo.set(id, n.units + (n.parent ? finish(n.parent) : 0));
    }
    return memo.get(id)!;
  };
  return round1(Math.max(...tree.map((n) => finish(n.id))));
}

/**
 * Best makespan on `slots` slots over every order in which a free slot can take a ready node
 * (exhaustive branch and bound; the tree is small). Also returns one best start order.
 */
export function bestSchedule(tree: Tree, slots: number): { makespan: number; order: string[] } {
  let best = Infinity;
  let bestOrder: string[] = [];
  const total = tree.reduce((s, n) => s + n.units, 0);
  const search = (done: Map<string, number>, running: { id: string; end: number }[], now: number, order: string[], workLeft: number): void => {
    // Lower bound: the remaining work spread over all slots, and every running node's end.
    const bound = Math.max(now + workLeft / slots, ...running.map((r) => r.end));
    if (bound >= best - 1e-9) return;
    if (done.size === tree.length) {
      best = now;
      bestOrder = order;
      return;
    }
    const started = new Set([...done.keys(), ...running.map((r) => r.id)]);
    const ready = tree.filter((n) => !started.has(n.id) && (n.parent === null || done.has(n.parent)));
    if (running.length < slots && ready.length > 0) {
      for (const n of ready) search(done, [...running, { id: n.id, end: now + n.units }], now, [...order, n.id], workLeft);
      // Leaving the slot idle until the next end can only help when nothing ready is worth starting; keep it as a branch.
      if (running.length === 0) return;
    }
    if (running.length === 0) return;
    const next = Math.min(...running.map((r) => r.end));
    const finishing = running.filter((r) => r.end === next);
    const elapsed = next - now;
    const workDone = running.reduce((s, r) => s + Math.min(elapsed, r.end - now), 0);
    const d = new Map(done);
    for (const r of finishing) d.set(r.id, r.end);
    search(d, running.filter((r) => r.end !== next), next, order, workLeft - workDone);
  };
  search(new Map(), [], 0, [], total);
  return { makespan: round1(best), order: bestOrder };
}

/** Depth of each node (0 for the root). */
function depths(tree: Tree): Map<string, number> {
  const d = new Map<string, number>();
  for (const n of tree) d.set(n.id, n.parent ? d.get(n.parent)! + 1 : 0);
  return d;
}

/** The seed's pool: each depth starts when the previous one has ended; within a depth the best packing on `slots`. */
export function levelByLevel(tree: Tree, slots: number | null): number {
  const d = depths(tree);
  let total = 0;
  for (let level = 0; level <= Math.max(...d.values()); level++) {
    const nodes = tree.filter((n) => d.get(n.id) === level);
    total += slots === null ? Math.max(...nodes.map((n) => n.units)) : bestSchedule(nodes.map((n) => ({ ...n, parent: null })), slots).makespan;
  }
  return round1(total);
}

/** The reference tree as sleep nodes; `barriers` adds the seed's level barriers as dependencies; `hints` gives expectedDuration. */
export function treeNodes(opts: { barriers?: boolean; hints?: boolean } = {}): NodeSpecInput[] {
  const d = depths(REFERENCE_TREE);
  return REFERENCE_TREE.map((n) => {
    const seconds = round1(n.units) * SCALE;
    const deps = opts.barriers ? REFERENCE_TREE.filter((m) => d.get(m.id) === d.get(n.id)! - 1).map((m) => m.id) : [];
    return sleepNode(n.id, Number(seconds.toFixed(3)), {
      ...(n.parent ? { parentId: n.parent } : {}),
      ...(deps.length ? { dependencies: [...new Set([n.parent!, ...deps])] } : {}),
      ...(opts.hints ? { expectedDuration: Number(seconds.toFixed(3)) } : {}),
    });
  });
}

async function runTree(ctx: WorkerContext, strategy: PriorityStrategy, nodes: NodeSpecInput[]): Promise<{ makespan: number; endToEnd: number }> {
  const t0 = Date.now();
  const tree = await ctx.client.startTree({ id: uid('bench-sched'), maxParallelJobs: SLOTS, priorityStrategy: strategy, maxNodes: 50, nodes });
  const r = await tree.result();
  if (r.state !== 'COMPLETED') throw new Error(`tree ${tree.treeId} ended ${r.state}`);
  return { makespan: r.metrics.makespan, endToEnd: (Date.now() - t0) / 1000 };
}

async function runInPool(strategy: PriorityStrategy, hints: boolean): Promise<number> {
  const run = await runPool(REFERENCE_TREE.map((n) => ({
    id: n.id, dependencies: n.parent ? [n.parent] : [], expectedDuration: hints ? n.units * SCALE : undefined,
    run: () => new Promise<null>((resolve) => setTimeout(() => resolve(null), n.units * SCALE * 1000)),
  })), { maxParallelJobs: SLOTS, strategy });
  const iv = [...run.intervals.values()];
  return (Math.max(...iv.map((x) => x.end)) - Math.min(...iv.map((x) => x.start))) / 1000;
}

async function main(): Promise<void> {
  const rec = new BenchRecord('schedule-quality');
  const repeats = Number(process.argv[2] ?? 3);
  const cp = criticalPath(REFERENCE_TREE);
  const best = bestSchedule(REFERENCE_TREE, SLOTS);
  const levels = levelByLevel(REFERENCE_TREE, SLOTS);
  const levelsUnbounded = levelByLevel(REFERENCE_TREE, null);
  rec.log(`reference tree: critical path ${cp} units, best ${SLOTS}-slot schedule ${best.makespan} units (start order ${best.order.join(', ')}), ` +
    `level by level ${levels} units on ${SLOTS} slots (${levelsUnbounded} with unbounded slots); scaled ×${SCALE}: ${(cp * SCALE).toFixed(2)} s, ${(best.makespan * SCALE).toFixed(2)} s, ${(levels * SCALE).toFixed(2)} s`);

  type Variant = { name: string; run: (ctx: WorkerContext) => Promise<{ makespan: number; endToEnd: number | null }> };
  const variants: Variant[] = [
    ...STRATEGIES.map((s): Variant => ({ name: `ragomics ${s}${s === 'critical_path' ? ' (expectedDuration hints)' : ''}`, run: (ctx) => runTree(ctx, s, treeNodes({ hints: s === 'critical_path' })) })),
    { name: 'ragomics critical_path (no hints: running means of one block)', run: (ctx) => runTree(ctx, 'critical_path', treeNodes()) },
    { name: "ragomics depth_first with the seed's level barriers", run: (ctx) => runTree(ctx, 'depth_first', treeNodes({ barriers: true })) },
    ...STRATEGIES.map((s): Variant => ({ name: `in-process pool ${s}${s === 'critical_path' ? ' (hints)' : ''}`, run: async () => ({ makespan: await runInPool(s, s === 'critical_path'), endToEnd: null }) })),
  ];
  const figures = new Map(variants.map((v) => [v.name, { makespan: [] as number[], endToEnd: [] as number[] }]));
  await withWorker({ maxConcurrentNodes: 10 }, async (ctx) => {
    await runTree(ctx, 'depth_first', treeNodes()); // warm-up
    for (let r = 0; r < repeats; r++) {
      for (const v of variants) {
        const f = await v.run(ctx);
        figures.get(v.name)!.makespan.push(f.makespan);
        if (f.endToEnd !== null) figures.get(v.name)!.endToEnd.push(f.endToEnd);
      }
      process.stderr.write(`repeat ${r + 1}/${repeats} done\n`);
    }
  });
  const bestS = best.makespan * SCALE;
  const cpS = cp * SCALE;
  rec.log(`\n## Schedule quality at maxParallelJobs ${SLOTS} (medians of ${repeats}; best ${bestS.toFixed(2)} s, critical path ${cpS.toFixed(2)} s, level by level ${(levels * SCALE).toFixed(2)} s)`);
  rec.log('| variant | makespan (first start → last end) | vs best schedule | vs critical path | end to end (start call → result) |');
  rec.log('|---|---|---|---|---|');
  for (const v of variants) {
    const f = figures.get(v.name)!;
    const m = median(f.makespan);
    rec.log(`| ${v.name} | ${m.toFixed(3)} s | ${(m / bestS).toFixed(3)} | ${(m / cpS).toFixed(3)} | ${f.endToEnd.length ? `${median(f.endToEnd).toFixed(3)} s` : '—'} |`);
  }
  const cpm = median(figures.get(variants[3]!.name)!.makespan);
  rec.log(`\ntarget: critical_path within 3% of the best schedule (${(bestS * 1.03).toFixed(3)} s): ${cpm.toFixed(3)} s, ${((cpm / bestS - 1) * 100).toFixed(1)}% above: ${cpm <= bestS * 1.03 ? 'met' : 'missed'}`);
  rec.save();
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
