/**
 * Whole trees on the Docker executor, cold (every node creates and starts its container and
 * imports scanpy) vs warm (a pool of pre-started containers, activities/executors/docker-warm.ts),
 * in the same run on the same server, the two workers side by side on their own task queues and
 * the trees alternating:
 *  1. the PBMC demo tree (examples/pbmc-tree.yaml: a chain of four, then three branches);
 *  2. a wide tree of FAN + 1 nodes of a cheap real block: quality_control on the PBMC data, then
 *     FAN `normalize` children (target sums differ so no two are alike).
 * Both workers: maxConcurrentNodes 2 (the machine's cores), 1 GiB per node; the warm one keeps
 * WARM members (default 2, the worker's default). Figures: makespan (first start → last end, the
 * tree's own metric) and how many nodes ran warm (their result.json carries `jobReceivedAt`).
 * Checks before recording: every tree COMPLETED with every node published, warm and cold nodes
 * of the same id have the same output shape, the cold trees ran nothing warm.
 *
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/warm-trees.js [--repeats 2] [--fan 199] [--warm 2]
 *
 * Needs the Docker engine, the blocks image (.data/blocks-image) and the dataset (scripts/fetch-dataset.sh).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readSpecFile } from '../client/spec-file';
import type { NodeSpecInput, TreeSpec } from '../common/schemas';
import { uid, withWorker, type WorkerContext } from '../test/helpers/harness';
import { median } from '../test/helpers/timeline-checks';
import { PROJECT_ROOT } from '../workers/config';
import { BenchRecord } from './record';

const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');
const rec = new BenchRecord('warm-trees');

/** One finished tree: makespan (s), nodes run warm, output shape per node. */
interface TreeRun {
  makespan: number;
  nodes: number;
  warm: number;
  shapes: Map<string, string>;
}

async function runTree(ctx: WorkerContext, spec: Omit<TreeSpec, 'id'>): Promise<TreeRun> {
  const tree = await ctx.client.startTree({ ...spec, id: uid('warm-trees') } as TreeSpec);
  const result = await tree.result();
  if (result.state !== 'COMPLETED') throw new Error(`tree ${tree.treeId} ended ${result.state}: ${JSON.stringify(result.failures).slice(0, 500)}`);
  const status = await tree.status();
  let warm = 0;
  const shapes = new Map<string, string>();
  for (const n of status.nodes) {
    if (!n.outputPath || !n.sha256) throw new Error(`tree ${tree.treeId}: node ${n.id} has no published output`);
    const manifest = JSON.parse(await readFile(path.join(path.dirname(n.outputPath), 'result.json'), 'utf8')) as { timings?: { jobReceivedAt?: number }; shape?: unknown };
    if (typeof manifest.timings?.jobReceivedAt === 'number') warm++;
    shapes.set(n.id, JSON.stringify(manifest.shape ?? null));
  }
  return { makespan: result.metrics.makespan, nodes: status.nodes.length, warm, shapes };
}

function fanTree(fan: number): Omit<TreeSpec, 'id'> {
  const nodes: NodeSpecInput[] = [
    { id: 'qc', block: { name: 'quality_control', parameters: { min_genes: 200, min_cells: 3, max_pct_mito: 20 } } },
    ...Array.from({ length: fan }, (_, i) => ({ id: `norm-${i}`, parentId: 'qc', block: { name: 'normalize' as const, parameters: { target_sum: 1000 + i * 100, log1p: true } } })),
  ];
  return { userRequest: `fan of ${fan} normalize nodes`, inputDataPath: DATASET, maxParallelJobs: 2, maxNodes: fan + 10, maxChildrenPerNode: fan + 10, jobTimeout: 900, nodes } as Omit<TreeSpec, 'id'>;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: a whole number ≥ 1, got "${process.argv[i + 1]}"`);
  return v;
}

async function main(): Promise<void> {
  const repeats = arg('--repeats', 2);
  const fan = arg('--fan', 199);
  const warmSize = arg('--warm', 2);
  if (!existsSync(DATASET)) throw new Error(`dataset missing: run scripts/fetch-dataset.sh (${DATASET})`);
  const { id: _id, ...pbmc } = readSpecFile(path.join(PROJECT_ROOT, 'examples', 'pbmc-tree.yaml'));
  const common = { executor: 'docker' as const, maxConcurrentNodes: 2, defaultMemoryMB: 1024 };
  const runs: Record<string, TreeRun[]> = { 'pbmc/cold': [], 'pbmc/warm': [], 'fan/cold': [], 'fan/warm': [] };
  const t0 = performance.now();
  await withWorker({ ...common, warmPool: 0 }, async (cold) => {
    await withWorker({ ...common, warmPool: warmSize }, async (warm) => {
      const ctx: Record<string, WorkerContext> = { cold, warm };
      for (let i = 0; i < repeats; i++) {
        // Alternate which variant goes first, so neither always runs on a machine the other warmed.
        const order = i % 2 === 0 ? ['cold', 'warm'] : ['warm', 'cold'];
        for (const v of order) runs[`pbmc/${v}`]!.push(await runTree(ctx[v]!, pbmc));
        process.stderr.write(`pbmc round ${i + 1}/${repeats} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
      for (const v of ['cold', 'warm']) {
        runs[`fan/${v}`]!.push(await runTree(ctx[v]!, fanTree(fan)));
        process.stderr.write(`fan ${v} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    });
  });
  // Checks: cold ran nothing warm, warm ran something warm, same shapes node by node.
  for (const [key, list] of Object.entries(runs)) {
    for (const r of list) {
      if (key.endsWith('/cold') && r.warm !== 0) throw new Error(`${key}: ${r.warm} node(s) ran warm on the cold worker`);
      if (key.endsWith('/warm') && r.warm === 0) throw new Error(`${key}: no node ran warm on the warm worker`);
    }
  }
  for (const tree of ['pbmc', 'fan']) {
    const ref = runs[`${tree}/cold`]![0]!.shapes;
    for (const r of [...runs[`${tree}/cold`]!, ...runs[`${tree}/warm`]!]) {
      for (const [id, shape] of ref) if (r.shapes.get(id) !== shape) throw new Error(`${tree}: node ${id} has shape ${r.shapes.get(id)} in one run, ${shape} in another`);
    }
  }
  const row = (tree: string, label: string): void => {
    const c = runs[`${tree}/cold`]!;
    const w = runs[`${tree}/warm`]!;
    const mc = median(c.map((r) => r.makespan));
    const mw = median(w.map((r) => r.makespan));
    const warmNodes = w.map((r) => `${r.warm}/${r.nodes}`).join(', ');
    rec.log(`| ${label} | ${c[0]!.nodes} | ${c.length} | ${mc.toFixed(1)} | ${mw.toFixed(1)} | ${(mc / mw).toFixed(2)}× | ${warmNodes} |`);
  };
  rec.log(`\nTree makespan on the Docker executor, cold vs warm pool (${warmSize} members), same run, workers side by side (${common.maxConcurrentNodes} node slots each, ${common.defaultMemoryMB / 1024} GiB per node); median of the runs, seconds`);
  rec.log('| tree | nodes | runs | cold | warm | cold/warm | nodes served warm (per warm run) |');
  rec.log('|---|---:|---:|---:|---:|---:|---|');
  row('pbmc', 'PBMC demo (examples/pbmc-tree.yaml)');
  row('fan', `quality_control + ${fan} normalize children`);
  rec.save();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
