/**
 * What the seed promised and its implementation did not deliver, measured side by side on the
 * real server (in-process sleep blocks, so only scheduling differs):
 *  1. the seed's "Sequential vs Parallel" example: A, then B and C (1 s each), at
 *     maxParallelJobs 1 vs 3 (the seed: 15 min vs 10 min, i.e. a ratio of 1.5);
 *  2. a random DAG of 60 nodes: dependency-driven starts (ours) vs level-by-level barriers (the
 *     seed's implementation, emulated by making every node depend on the whole previous level).
 * Runs alternate between the variants, `REPEATS` times; medians and ratios are printed.
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/parallel-speedup.js [REPEATS]
 */
import { sleepNode, uid, withWorker, type WorkerContext } from '../test/helpers/harness';
import { median, prng } from '../test/helpers/timeline-checks';
import type { NodeSpecInput } from '../common/schemas';
import { BenchRecord } from './record';

function randomDag(n: number, seed: number): (NodeSpecInput & { dependencies: string[] })[] {
  const rand = prng(seed);
  return Array.from({ length: n }, (_, i) => {
    const deps = i < 4 ? [] : [...new Set([`n${Math.floor(rand() * i)}`, ...(rand() < 0.3 ? [`n${Math.floor(rand() * i)}`] : [])])];
    return { id: `n${i}`, parentId: deps[0] ?? null, dependencies: deps, block: { name: 'sleep' as const, parameters: { seconds: 0.2 + rand() * 0.8 } } };
  });
}

/** The same DAG with level barriers: each node waits for every node of the previous level. */
function withBarriers(nodes: ReturnType<typeof randomDag>): NodeSpecInput[] {
  const level = new Map<string, number>();
  for (const n of nodes) level.set(n.id, n.dependencies.length ? 1 + Math.max(...n.dependencies.map((d) => level.get(d)!)) : 0);
  return nodes.map((n) => {
    const l = level.get(n.id)!;
    const prev = nodes.filter((m) => level.get(m.id) === l - 1).map((m) => m.id);
    return { ...n, dependencies: [...new Set([...n.dependencies, ...prev])] };
  });
}

async function makespan(ctx: WorkerContext, nodes: NodeSpecInput[], maxParallelJobs: number): Promise<number> {
  const tree = await ctx.client.startTree({ id: uid('bench'), maxParallelJobs, maxNodes: 1000, maxChildrenPerNode: 1000, nodes });
  const r = await tree.result();
  if (r.state !== 'COMPLETED') throw new Error(`bench tree ${tree.treeId} ended ${r.state}`);
  return r.metrics.makespan;
}

/** This run's result lines, written to .data/bench/parallel-speedup.json at the end (bench/record.ts). */
const rec = new BenchRecord('parallel-speedup');

async function main(): Promise<void> {
  const repeats = Number(process.argv[2] ?? 3);
  const seedExample = [sleepNode('A', 1), sleepNode('B', 1, { parentId: 'A' }), sleepNode('C', 1, { parentId: 'A' })];
  const dag = randomDag(60, 7);
  const barriers = withBarriers(dag);
  const m: Record<string, number[]> = { sequential: [], parallel: [], barriers: [], dependencies: [] };
  await withWorker({ maxConcurrentNodes: 10 }, async (ctx) => {
    for (let i = 0; i < repeats; i++) {
      m.sequential!.push(await makespan(ctx, seedExample, 1));
      m.parallel!.push(await makespan(ctx, seedExample, 3));
      m.barriers!.push(await makespan(ctx, barriers, 4));
      m.dependencies!.push(await makespan(ctx, dag, 4));
    }
  });
  const med = (k: string) => median(m[k]!);
  rec.log(`seed example (A; B, C; 1 s each), median makespan of ${repeats}: sequential ${med('sequential').toFixed(2)} s, parallel ${med('parallel').toFixed(2)} s, ratio ${(med('sequential') / med('parallel')).toFixed(2)} (ideal 1.50)`);
  rec.log(`random DAG of 60 nodes at maxParallelJobs 4, median makespan of ${repeats}: level barriers ${med('barriers').toFixed(2)} s, dependency-driven ${med('dependencies').toFixed(2)} s, speed-up ${(med('barriers') / med('dependencies')).toFixed(2)}x`);
  rec.save();
}
main().catch((e) => { console.error(e); process.exit(1); });
