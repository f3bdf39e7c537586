/**
 * Results shared across trees (issue 14, "Show it"): ten trees that share the PBMC prefix
 * (quality_control → normalize → highly_variable_genes → pca) and differ only in their Leiden
 * resolution, through the real workflow, a real worker and the Docker executor, four ways in one
 * run:
 *
 * 1. one after another, reuse off (`cache: false`): every tree computes its prefix;
 * 2. one after another, reuse on, starting from an empty store: the first tree computes the
 *    prefix, the nine others take it from the store;
 * 3. all ten at once, reuse off;
 * 4. all ten at once, reuse on, from an empty store: the prefix is computed once while nine
 *    trees wait for it (identical work in flight runs once).
 *
 * Each way gets a fresh workspace (so a fresh store). Compute seconds are the wall time of the
 * node attempts that ran a container (start to end as the worker saw them); a node taken from
 * the store runs none. Makespan is from the first tree's start to the last tree's end, as the
 * client saw it.
 *
 * Checked before anything is recorded (the run fails otherwise): every tree completes; with
 * reuse off every node computes; with reuse on the prefix computes exactly once in all (ways 2
 * and 4) and every Leiden computes; each resolution's Leiden reports the same summary with reuse
 * on as with reuse off (the reused prefix gave the same science).
 *
 *   npx tsc -p . && node scripts/bundle-workflows.js && bash scripts/build-image.sh
 *   export $(bash scripts/ensure-temporal.sh) RAGOMICS_WORKFLOW_BUNDLE=$PWD/dist/workflow-bundle.js
 *   node dist/bench/cache-reuse.js [--trees 10] [--slots 2]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TreeSpecInput } from '../common/schemas';
import type { NodeStatus } from '../workflows/views';
import { PROJECT_ROOT } from '../workers/config';
import { uid, withWorker } from '../test/helpers/harness';
import { BenchRecord } from './record';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: expected a whole number ≥ 1, got ${process.argv[i + 1]}`);
  return v;
}

const TREES = arg('--trees', 10);
/** Node containers at once on the worker: the machine's cores (2 here), like a real worker. */
const SLOTS = arg('--slots', Math.max(1, os.cpus().length));
const PREFIX = ['qc', 'normalize', 'hvg', 'pca'] as const;

/** Resolution of tree `i`: 0.2, 0.4, ... distinct per tree. */
const resolution = (i: number): number => Number((0.2 * (i + 1)).toFixed(1));

function spec(i: number, dataset: string, cache: boolean): TreeSpecInput {
  return {
    id: uid(`cache-bench-${i}`),
    inputDataPath: dataset,
    maxParallelJobs: 3,
    maxNodes: 10,
    jobTimeout: 900,
    cache,
    nodes: [
      { id: 'qc', block: { name: 'quality_control', parameters: { min_genes: 200, min_cells: 3, max_pct_mito: 20 } } },
      { id: 'normalize', parentId: 'qc', block: { name: 'normalize', parameters: { target_sum: 10000, log1p: true } } },
      { id: 'hvg', parentId: 'normalize', block: { name: 'highly_variable_genes', parameters: { n_top_genes: 500 } } },
      { id: 'pca', parentId: 'hvg', block: { name: 'pca', parameters: { n_comps: 30 } } },
      { id: 'leiden', parentId: 'pca', block: { name: 'leiden', parameters: { resolution: resolution(i), key_added: 'leiden' } } },
    ],
  } as TreeSpecInput;
}

/** What one way of running the ten trees measured. */
interface Way {
  name: string;
  makespanS: number;
  computeS: number;
  /** Node attempts that ran a container, per node id (prefix nodes and leiden). */
  computed: Record<string, number>;
  /** Nodes taken from the store (including those that waited for another tree's computation). */
  hits: number;
  /** Of the hits, nodes that waited for a computation in flight in another tree. */
  waited: number;
  leidenSummaries: Map<number, string>;
}

/** A node ran its block when it completed without taking its result from the store. */
const ranBlock = (n: NodeStatus): boolean => n.state === 'COMPLETED' && !n.cache?.hit;

async function runWay(name: string, dataset: string, cache: boolean, concurrent: boolean, trees = TREES): Promise<Way> {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'ragomics-cache-bench-'));
  try {
    return await withWorker({ executor: 'docker', maxConcurrentNodes: SLOTS, workspace }, async ({ client }) => {
      const t0 = Date.now();
      const statuses = [];
      if (concurrent) {
        const handles = await Promise.all(Array.from({ length: trees }, (_, i) => client.startTree(spec(i, dataset, cache))));
        for (const h of handles) await h.result();
        for (const h of handles) statuses.push(await h.status());
      } else {
        for (let i = 0; i < trees; i++) {
          const h = await client.startTree(spec(i, dataset, cache));
          await h.result();
          statuses.push(await h.status());
        }
      }
      const makespanS = (Date.now() - t0) / 1000;
      const way: Way = { name, makespanS, computeS: 0, computed: {}, hits: 0, waited: 0, leidenSummaries: new Map() };
      statuses.forEach((s, i) => {
        if (s.state !== 'COMPLETED') throw new Error(`${name}: tree ${s.treeId} ended ${s.state}: ${s.nodes.map((n) => `${n.id} ${n.state} ${n.error ?? ''}`).join('; ')}`);
        for (const n of s.nodes) {
          if (ranBlock(n)) {
            way.computed[n.id] = (way.computed[n.id] ?? 0) + 1;
            way.computeS += (Date.parse(n.endedAt!) - Date.parse(n.startedAt!)) / 1000;
          } else {
            way.hits++;
            if (n.cache?.waitedFor) way.waited++;
          }
          if (n.id === 'leiden') way.leidenSummaries.set(resolution(i), n.summary ?? '');
        }
      });
      return way;
    });
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

/** Throws unless every node of every tree ran its block (reuse off). */
function expectAllComputed(w: Way): void {
  for (const id of [...PREFIX, 'leiden']) {
    if (w.computed[id] !== TREES) throw new Error(`${w.name}: ${id} ran ${w.computed[id] ?? 0} times, expected ${TREES} (reuse was off)`);
  }
}

/** Throws unless the prefix ran exactly once in all and every Leiden ran (reuse on). */
function expectPrefixOnce(w: Way): void {
  for (const id of PREFIX) {
    if (w.computed[id] !== 1) throw new Error(`${w.name}: prefix node ${id} ran ${w.computed[id] ?? 0} times across ${TREES} trees, expected once`);
  }
  if (w.computed.leiden !== TREES) throw new Error(`${w.name}: leiden ran ${w.computed.leiden ?? 0} times, expected ${TREES} (each tree's resolution differs)`);
}

function expectSameScience(off: Way, on: Way): void {
  for (const [r, summary] of off.leidenSummaries) {
    if (on.leidenSummaries.get(r) !== summary) throw new Error(`leiden r=${r}: "${on.leidenSummaries.get(r)}" with reuse (${on.name}) but "${summary}" without`);
  }
}

const rec = new BenchRecord('cache-reuse');

async function main(): Promise<void> {
  const dataset = execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'fetch-dataset.sh')], { encoding: 'utf8', timeout: 10 * 60_000 }).trim();
  console.log(`# ${TREES} trees of QC → normalize → HVG → PCA → Leiden (resolution ${resolution(0)}..${resolution(TREES - 1)}) on ${path.basename(dataset)}; Docker executor, ${SLOTS} node containers at once`);
  // Warm-up (not recorded): the first container of a run pays the image's page cache.
  await runWay('warm-up', dataset, false, false, 1).catch((e: unknown) => { throw new Error(`warm-up: ${(e as Error).message}`); });
  const seqOff = await runWay('one after another, reuse off', dataset, false, false);
  const seqOn = await runWay('one after another, reuse on', dataset, true, false);
  const conOff = await runWay('all at once, reuse off', dataset, false, true);
  const conOn = await runWay('all at once, reuse on', dataset, true, true);
  expectAllComputed(seqOff);
  expectAllComputed(conOff);
  expectPrefixOnce(seqOn);
  expectPrefixOnce(conOn);
  expectSameScience(seqOff, seqOn);
  expectSameScience(conOff, conOn);

  const ways = [seqOff, seqOn, conOff, conOn];
  const count = (w: Way) => Object.values(w.computed).reduce((a, b) => a + b, 0);
  rec.log(`${TREES} trees sharing the PBMC prefix (QC → normalize → HVG → PCA), one Leiden resolution each; Docker executor, ${SLOTS} node containers at once, maxParallelJobs 3 per tree.`);
  rec.log('');
  rec.log('| trees run | reuse | nodes run | prefix nodes run | nodes from the store (waited for one in flight) | compute s | makespan s |');
  rec.log('|---|---|---|---|---|---|---|');
  for (const w of ways) {
    const prefixRuns = PREFIX.reduce((s, id) => s + (w.computed[id] ?? 0), 0);
    rec.log(`| ${w.name.split(',')[0]} | ${w === seqOn || w === conOn ? 'on' : 'off'} | ${count(w)} | ${prefixRuns} | ${w.hits} (${w.waited}) | ${w.computeS.toFixed(1)} | ${w.makespanS.toFixed(1)} |`);
  }
  rec.log('');
  rec.log(`One after another: reuse cut compute seconds ${(seqOff.computeS / seqOn.computeS).toFixed(2)}× and makespan ${(seqOff.makespanS / seqOn.makespanS).toFixed(2)}×. All at once: compute ${(conOff.computeS / conOn.computeS).toFixed(2)}×, makespan ${(conOff.makespanS / conOn.makespanS).toFixed(2)}×; the prefix ran once for ${TREES} trees in flight together. Each resolution's Leiden reported the same clusters with and without reuse.`);
  rec.save();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
