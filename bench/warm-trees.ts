/**
 * Whole trees on the Docker executor, in the same run on the same server, three workers side by
 * side on their own task queues and the trees rotating between them:
 *  - cold: every node creates and starts its container and imports scanpy;
 *  - warm: a pool of pre-started containers (activities/executors/docker-warm.ts) as shipped,
 *    refilled only from CPU the running nodes leave over (RAGOMICS_WARM_REFILL=spare-cpu);
 *  - always: the same pool refilled as soon as a member is taken (the rule before spare-cpu).
 * Trees:
 *  1. the PBMC demo tree (examples/pbmc-tree.yaml: a chain of four, then three branches);
 *  2. a wide tree of FAN + 1 nodes of a cheap real block: quality_control on the PBMC data, then
 *     FAN `normalize` children (target sums differ so no two are alike).
 * Every worker: maxConcurrentNodes 2 (the machine's cores), 1 GiB per node; the pooled ones keep
 * WARM members (default 2, the worker's default). Figures: makespan (first start → last end, the
 * tree's own metric), how many nodes ran warm (their result.json carries `jobReceivedAt`), and the
 * host's CPU per node over each tree (bench/host-cpu.ts: every process, each tree started on a
 * quiet host), which tells CPU a pool adds from CPU it only moves.
 * Every tree runs with `cache: false` (a repeat would otherwise reuse the first run's outputs).
 * Checks before recording: every tree COMPLETED with every node published and computed (none
 * reused from the cache), all variants' nodes
 * of the same id have the same output shape, the cold trees ran nothing warm, each pooled tree
 * ran at least one node warm.
 *
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/warm-trees.js [--repeats 2] [--fan 199] [--warm 2]
 *
 * Needs the Docker engine, the blocks image (.data/blocks-image) and the dataset (scripts/fetch-dataset.sh).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readSpecFile } from '../client/spec-file';
import type { NodeSpecInput, TreeSpec } from '../common/schemas';
import { uid, withWorker, type WorkerContext } from '../test/helpers/harness';
import { median } from '../test/helpers/timeline-checks';
import { PROJECT_ROOT } from '../workers/config';
import { cpuSince, hostCpuTimes, waitForQuietCpu } from './host-cpu';
import { BenchRecord } from './record';

const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');
const rec = new BenchRecord('warm-trees');

/** One finished tree: makespan (s), host CPU it took, nodes run warm, output shape per node. */
interface TreeRun {
  makespan: number;
  /** Host CPU-seconds busy from startTree to result() (every process: worker, server, dockerd, containers). */
  cpuSeconds: number;
  /** Busy share of the host's CPU time over the same span (0–1). */
  busyShare: number;
  nodes: number;
  warm: number;
  shapes: Map<string, string>;
}

async function runTree(ctx: WorkerContext, spec: Omit<TreeSpec, 'id'>): Promise<TreeRun> {
  // Start each tree on a quiet host: the previous one's containers being removed or a pool
  // refilling would otherwise count towards this tree's CPU.
  const leftover = await waitForQuietCpu();
  if (leftover >= 0.15) process.stderr.write(`warning: the host stayed ${(leftover * 100).toFixed(0)}% busy before this tree\n`);
  const cpu0 = hostCpuTimes();
  // cache: false: every tree computes every node. With the cache on (the tree default) a worker's
  // second PBMC tree would reuse its first one's outputs and time nothing.
  const tree = await ctx.client.startTree({ ...spec, cache: false, id: uid('warm-trees') } as TreeSpec);
  const result = await tree.result();
  const { busySeconds, busyShare } = cpuSince(cpu0);
  if (result.state !== 'COMPLETED') throw new Error(`tree ${tree.treeId} ended ${result.state}: ${JSON.stringify(result.failures).slice(0, 500)}`);
  const status = await tree.status();
  let warm = 0;
  const shapes = new Map<string, string>();
  for (const n of status.nodes) {
    if (!n.outputPath || !n.sha256) throw new Error(`tree ${tree.treeId}: node ${n.id} has no published output`);
    if (n.cache?.hit) throw new Error(`tree ${tree.treeId}: node ${n.id} reused a cached output (nothing ran): the tree must compute every node`);
    const manifest = JSON.parse(await readFile(path.join(path.dirname(n.outputPath), 'result.json'), 'utf8')) as { timings?: { jobReceivedAt?: number }; shape?: unknown };
    if (typeof manifest.timings?.jobReceivedAt === 'number') warm++;
    shapes.set(n.id, JSON.stringify(manifest.shape ?? null));
  }
  return { makespan: result.metrics.makespan, cpuSeconds: busySeconds, busyShare, nodes: status.nodes.length, warm, shapes };
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
  // Three workers side by side: no pool; the pool as shipped (refills from spare CPU only); the
  // pool refilling at once (RAGOMICS_WARM_REFILL=always, the rule before spare-cpu).
  const variants = ['cold', 'warm', 'always'] as const;
  type Variant = (typeof variants)[number];
  const runs: Record<string, TreeRun[]> = {};
  for (const tree of ['pbmc', 'fan']) for (const v of variants) runs[`${tree}/${v}`] = [];
  const t0 = performance.now();
  await withWorker({ ...common, warmPool: 0 }, async (cold) => {
    await withWorker({ ...common, warmPool: warmSize, warmRefill: 'spare-cpu' }, async (warm) => {
      await withWorker({ ...common, warmPool: warmSize, warmRefill: 'always' }, async (always) => {
        const ctx: Record<Variant, WorkerContext> = { cold, warm, always };
        for (let i = 0; i < repeats; i++) {
          // Rotate which variant goes first, so none always runs on a machine another warmed.
          const order = variants.map((_, k) => variants[(k + i) % variants.length]!);
          for (const v of order) runs[`pbmc/${v}`]!.push(await runTree(ctx[v], pbmc));
          process.stderr.write(`pbmc round ${i + 1}/${repeats} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
        }
        for (const v of variants) {
          runs[`fan/${v}`]!.push(await runTree(ctx[v], fanTree(fan)));
          process.stderr.write(`fan ${v} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
        }
      });
    });
  });
  // Checks: cold ran nothing warm, each pool served something warm, same shapes node by node.
  for (const [key, list] of Object.entries(runs)) {
    for (const r of list) {
      if (key.endsWith('/cold') && r.warm !== 0) throw new Error(`${key}: ${r.warm} node(s) ran warm on the cold worker`);
      if (!key.endsWith('/cold') && r.warm === 0) throw new Error(`${key}: no node ran warm on a pooled worker`);
    }
  }
  for (const tree of ['pbmc', 'fan']) {
    const ref = runs[`${tree}/cold`]![0]!.shapes;
    for (const r of variants.flatMap((v) => runs[`${tree}/${v}`]!)) {
      for (const [id, shape] of ref) if (r.shapes.get(id) !== shape) throw new Error(`${tree}: node ${id} has shape ${r.shapes.get(id)} in one run, ${shape} in another`);
    }
  }
  const med = (tree: string, v: Variant, f: (r: TreeRun) => number): number => median(runs[`${tree}/${v}`]!.map(f));
  const served = (tree: string, v: Variant): string => runs[`${tree}/${v}`]!.map((r) => `${r.warm}/${r.nodes}`).join(', ');
  const row = (tree: string, label: string): void => {
    const [c, w, a] = variants.map((v) => med(tree, v, (r) => r.makespan)) as [number, number, number];
    rec.log(`| ${label} | ${runs[`${tree}/cold`]![0]!.nodes} | ${runs[`${tree}/cold`]!.length} | ${c.toFixed(1)} | ${w.toFixed(1)} | ${(c / w).toFixed(2)}× | ${served(tree, 'warm')} | ${a.toFixed(1)} | ${(c / a).toFixed(2)}× | ${served(tree, 'always')} |`);
  };
  const cpuRow = (tree: string, label: string): void => {
    const n = runs[`${tree}/cold`]![0]!.nodes;
    const [c, w, a] = variants.map((v) => (med(tree, v, (r) => r.cpuSeconds) / n) * 1000) as [number, number, number];
    const share = (v: Variant): string => `${(med(tree, v, (r) => r.busyShare) * 100).toFixed(0)}%`;
    const diff = (x: number): string => `${x - c >= 0 ? '+' : ''}${(x - c).toFixed(0)}`;
    rec.log(`| ${label} | ${c.toFixed(0)} | ${w.toFixed(0)} (${diff(w)}) | ${a.toFixed(0)} (${diff(a)}) | ${share('cold')} | ${share('warm')} | ${share('always')} |`);
  };
  rec.log(`\nTree makespan on the Docker executor: no pool (cold), the pool as shipped (${warmSize} members, refilled from spare CPU only), and the same pool refilled at once (\`RAGOMICS_WARM_REFILL=always\`, the rule before); same run, three workers side by side (${common.maxConcurrentNodes} node slots each, ${common.defaultMemoryMB / 1024} GiB per node); median of the runs, seconds`);
  rec.log('| tree | nodes | runs | cold | warm | cold/warm | served warm | warm, refill always | cold/always | served warm |');
  rec.log('|---|---:|---:|---:|---:|---:|---|---:|---:|---|');
  row('pbmc', 'PBMC demo (examples/pbmc-tree.yaml)');
  row('fan', `quality_control + ${fan} normalize children`);
  rec.log(`\nHost CPU per node (ms; every process on the host from startTree to the result, warm-ups included when they ran inside that span, each tree started on a quiet host; in brackets the difference to cold) and the busy share of the host's ${os.cpus().length} cores over the tree; medians. More CPU per node than cold is work a pool adds; the same CPU at a lower busy share is work it only moved.`);
  rec.log('| tree | cold CPU/node | warm CPU/node | refill-always CPU/node | cold busy | warm busy | refill-always busy |');
  rec.log('|---|---:|---:|---:|---:|---:|---:|');
  cpuRow('pbmc', 'PBMC demo');
  cpuRow('fan', `quality_control + ${fan} normalize children`);
  rec.save();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
