/**
 * Data passing between nodes on a large dataset: a chain of five built-in blocks
 * (quality_control → normalize → highly_variable_genes → scale → pca) on a synthetic
 * 100,000-cell dataset, through the real workflow, a real worker and the Docker executor.
 *
 *   npx tsc -p . && node scripts/bundle-workflows.js
 *   export $(bash scripts/ensure-temporal.sh) RAGOMICS_WORKFLOW_BUNDLE=$PWD/dist/workflow-bundle.js
 *   node dist/bench/data-passing.js [--cells 100000] [--genes 2000]
 *
 * Reports:
 * - bytes of node input copied between nodes (the design says zero: a child's input is its
 *   parent's published file, bind-mounted read-only). Proven two ways: (1) each runner records
 *   the inode and size of the input it opened (result.json `io`), which must be the inode of the
 *   parent's published output (the dataset's for the root); (2) every file in the tree's
 *   workspace is listed: apart from the published outputs there must be no file as large as an
 *   input (a copy), and the workspace minus the published outputs holds only logs and JSON.
 * - per node: input and output sizes, and the runner's read (I/O) / compute / write times (its
 *   `timings`), against the node's time in the executor and in the workflow;
 * - the makespan.
 *
 * The dataset is made once by scripts/make-synthetic-dataset.sh and cached in .data/datasets/.
 * Needs the Docker engine, the blocks image, a Temporal server (TEMPORAL_ADDRESS) and the
 * workflow bundle.
 */
import { execFileSync } from 'node:child_process';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readResultManifest, runnerPhases, type ResultManifest, type RunnerPhases } from '../activities/result-manifest';
import type { NodeResult } from '../common/schemas';
import { PROJECT_ROOT } from '../workers/config';
import { uid, withWorker } from '../test/helpers/harness';
import { BenchRecord } from './record';

/** The chain: parameters chosen for ~100,000 cells x 2,000 genes of synthetic counts. */
const CHAIN = [
  { id: 'qc', block: { name: 'quality_control' as const, parameters: { min_genes: 100, min_cells: 3, max_pct_mito: 20 } } },
  { id: 'normalize', block: { name: 'normalize' as const, parameters: {} } },
  { id: 'hvg', block: { name: 'highly_variable_genes' as const, parameters: { n_top_genes: 1000 } } },
  { id: 'scale', block: { name: 'scale' as const, parameters: { max_value: 10 } } },
  { id: 'pca', block: { name: 'pca' as const, parameters: { n_comps: 30 } } },
];

interface FileEntry { file: string; size: number; ino: number; dev: number }

/** What the table shows of one node. */
interface NodeRow {
  id: string;
  block: string;
  outputPath: string;
  manifest: ResultManifest;
  phases: RunnerPhases | null;
  inputBytes: number | null;
  /** The input the runner opened has the inode and size of the parent's published output (the dataset for the root). */
  sameFile: boolean;
  parentFile: string;
  outputBytes: number;
  /** Container start → exit seen (NodeResult times). */
  executorStart: number;
  executorEnd: number;
  /** RUNNING → COMPLETED in the workflow's transitions. */
  running: number;
  completed: number;
}

/** Every regular file below `dir`, with its inode (symlinks are not followed). */
async function listFiles(dir: string): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) {
      const s = await lstat(p);
      out.push({ file: p, size: s.size, ino: s.ino, dev: s.dev });
    }
  }
  return out;
}

const MB = (b: number): string => (b / 1e6).toFixed(1);
const S = (ms: number | null | undefined): string => (ms == null ? '—' : (ms / 1000).toFixed(2));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** This run's result lines, written to .data/bench/data-passing.json at the end (bench/record.ts). */
const rec = new BenchRecord('data-passing');

async function main(): Promise<void> {
  const cells = arg('--cells', '100000');
  const genes = arg('--genes', '2000');
  const dataset = execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'make-synthetic-dataset.sh'), cells, genes], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 }).trim(); // bounded: a hung engine ends the run
  const datasetStat = await stat(dataset);
  const load0 = os.loadavg();
  // Serial chain; each node gets both cores and room for a dense 100,000 x 2,000 matrix.
  const resources = { memoryMB: 6144, cpus: 2 };
  await withWorker({ executor: 'docker', maxConcurrentNodes: 1, defaultMemoryMB: 6144 }, async ({ client, workspace }) => {
    const t0 = Date.now();
    const tree = await client.startTree({
      id: uid('data-passing'),
      userRequest: `data passing: five blocks on ${cells} synthetic cells`,
      inputDataPath: dataset,
      maxParallelJobs: 1,
      nodes: CHAIN.map((n, i) => ({ ...n, resources, timeout: 900, ...(i > 0 ? { parentId: CHAIN[i - 1]!.id } : {}) })),
    });
    const result = await tree.result();
    const clientWallMs = Date.now() - t0;
    if (result.state !== 'COMPLETED') throw new Error(`tree ended ${result.state}: ${JSON.stringify(result.failures)}`);
    const status = await tree.status({ transitions: true });
    const load1 = os.loadavg();
    const byId = new Map(status.nodes.map((n) => [n.id, n]));

    // Per node: the published result, the runner's marks and file facts.
    const rows: NodeRow[] = [];
    let parentOutput = { file: dataset, size: datasetStat.size, ino: datasetStat.ino };
    for (const { id, block } of CHAIN) {
      const node = byId.get(id)!;
      const outputDir = path.dirname(node.outputPath!);
      const result = JSON.parse(await readFile(path.join(outputDir, 'node-result.json'), 'utf8')) as NodeResult;
      const manifest = await readResultManifest(outputDir, (m) => console.warn(`warning: ${id}: ${m}`));
      const out = await stat(node.outputPath!);
      const input = manifest.io?.input ?? null;
      const at = (state: string): number => Date.parse(node.transitions!.filter((t) => t.state === state).pop()!.at);
      rows.push({
        id, block: block.name, outputPath: node.outputPath!, manifest,
        phases: manifest.timings ? runnerPhases(manifest.timings) : null,
        inputBytes: input?.bytes ?? null,
        sameFile: input !== null && input.inode === parentOutput.ino && input.bytes === parentOutput.size,
        parentFile: parentOutput.file,
        outputBytes: out.size,
        executorStart: Date.parse(result.startedAt),
        executorEnd: Date.parse(result.endedAt),
        running: at('RUNNING'),
        completed: at('COMPLETED'),
      });
      parentOutput = { file: node.outputPath!, size: out.size, ino: out.ino };
    }

    // The whole workspace of the tree: published outputs vs everything else; copies of inputs.
    const files = await listFiles(path.join(workspace, 'trees'));
    const unique = new Map(files.map((f) => [`${f.dev}:${f.ino}`, f]));
    const published = new Set(rows.map((r) => r.outputPath));
    const total = [...unique.values()].reduce((s, f) => s + f.size, 0);
    const publishedBytes = [...unique.values()].filter((f) => published.has(f.file)).reduce((s, f) => s + f.size, 0);
    const inputSizes = new Set([datasetStat.size, ...rows.map((r) => r.outputBytes)]);
    // A copy of an input would be a file of the same size that is not the published file itself
    // (nor the dataset, which lives outside the workspace anyway).
    const copies = [...unique.values()].filter((f) => !published.has(f.file) && (inputSizes.has(f.size) || f.file.endsWith('.h5ad')));
    const copiedBytes = copies.reduce((s, f) => s + f.size, 0);
    const inputDirs = files.filter((f) => f.file.includes(`${path.sep}input${path.sep}`));
    const largestOther = [...unique.values()].filter((f) => !published.has(f.file)).sort((a, b) => b.size - a.size)[0];

    const makespanMs = Math.max(...rows.map((r) => r.completed)) - Math.min(...rows.map((r) => r.running));
    // Parent's container gone → child's container started: publishing (sha256 of the output),
    // Temporal's handoff, the child's workspace and container creation.
    const gaps = rows.slice(1).map((r, i) => r.executorStart - rows[i]!.executorEnd);
    // Per node, workflow time outside the container: activity dispatch, workspace, container
    // create, publishing (sha256 of the output). (The workflow marks a child RUNNING in the same
    // workflow task that records its parent COMPLETED, so that handoff itself shows as 0 here.)
    const outside = rows.map((r) => r.completed - r.running - (r.executorEnd - r.executorStart));

    rec.log(`\ndata passing: ${CHAIN.length}-block chain on ${path.basename(dataset)} (${MB(datasetStat.size)} MB), Docker executor, real workflow`);
    rec.log(`${os.cpus().length} cores; load average ${load0[0]!.toFixed(2)} at the start, ${load1[0]!.toFixed(2)} at the end; nodes ${resources.cpus} CPUs, ${resources.memoryMB} MB\n`);
    rec.log('| node | block | shape out | input MB | input = parent\'s file (inode) | output MB | import s | read s | compute s | write s | read MB/s | write MB/s | runner s | executor s | workflow s |');
    rec.log('|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const p = r.phases;
      const runner = r.manifest.timings && r.manifest.timings.processStart !== null ? r.manifest.timings.outputWritten! - r.manifest.timings.processStart : null;
      const rate = (bytes: number | null, ms: number | null | undefined): string => (bytes == null || !ms ? '—' : (bytes / 1e6 / (ms / 1000)).toFixed(0));
      rec.log(`| ${r.id} | ${r.block} | ${r.manifest.shape?.join(' × ') ?? '—'} | ${r.inputBytes == null ? '—' : MB(r.inputBytes)} | ${r.sameFile ? 'yes' : 'NO'} (${path.relative(workspace, r.parentFile).startsWith('..') ? 'dataset' : 'parent output'}) | ${MB(r.outputBytes)} | ${S(p?.importMs)} | ${S(p?.readMs)} | ${S(p?.computeMs)} | ${S(p?.writeMs)} | ${rate(r.inputBytes, p?.readMs)} | ${rate(r.outputBytes, p?.writeMs)} | ${S(runner)} | ${S(r.executorEnd - r.executorStart)} | ${S(r.completed - r.running)} |`);
    }
    const sum = (f: (r: NodeRow) => number | null | undefined): number => rows.reduce((s, r) => s + (f(r) ?? 0), 0);
    rec.log(`| **sum** | | | ${MB(sum((r) => r.inputBytes))} | | ${MB(sum((r) => r.outputBytes))} | ${S(sum((r) => r.phases?.importMs))} | ${S(sum((r) => r.phases?.readMs))} | ${S(sum((r) => r.phases?.computeMs))} | ${S(sum((r) => r.phases?.writeMs))} | | | | ${S(sum((r) => r.executorEnd - r.executorStart))} | ${S(sum((r) => r.completed - r.running))} |`);
    rec.log('\n"runner s": process start → output written; "executor s": container start → exit seen (NodeResult times); "workflow s": RUNNING → COMPLETED in the workflow (workspace, container, publishing with sha256).');
    rec.log(`\nbytes of node input copied between nodes: **${copiedBytes}** (${copies.length} candidate copies${copies.length ? `: ${copies.map((c) => c.file).join(', ')}` : ''}); inputs opened as the parent's own file (same inode and size): ${rows.filter((r) => r.sameFile).length}/${rows.length}`);
    rec.log(`tree workspace: ${MB(total)} MB on disk in ${unique.size} files; published outputs ${MB(publishedBytes)} MB; everything else ${MB(total - publishedBytes)} MB (largest: ${largestOther ? `${path.relative(workspace, largestOther.file)}, ${largestOther.size} B` : 'none'}); files under an input/ folder: ${inputDirs.length}`);
    rec.log(`makespan (first node start → last node end): ${S(makespanMs)} s; client start → result: ${S(clientWallMs)} s; parent's container gone → child's container started: ${gaps.map((h) => `${h} ms`).join(', ')}; per node, workflow time outside the container (dispatch, workspace, create, publish with sha256): ${outside.map((h) => `${h} ms`).join(', ')}`);
    if (copiedBytes !== 0) rec.fail(`${copiedBytes} bytes of node input were copied`);
    const notSame = rows.filter((r) => !r.sameFile);
    if (notSame.length > 0) rec.fail(`inputs not opened as the parent's own file: ${notSame.map((r) => r.id).join(', ')}`);
  });
  rec.save();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
