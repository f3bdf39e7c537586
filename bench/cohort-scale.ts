/**
 * A cohort at scale (issue 12, item 7): the tree of examples/cohort.yaml (per-sample QC →
 * normalize → HVG, then concatenate → pca → integrate (Harmony) → umap / leiden → markers, and
 * pseudobulk_de) over a synthetic cohort of S samples × C cells (default 24 × 20,000 = 480,000
 * cells), through the real workflow, a real worker on its own task queue and the Docker executor.
 *
 *   npx tsc -p . && node scripts/bundle-workflows.js
 *   export $(bash scripts/ensure-temporal.sh) RAGOMICS_WORKFLOW_BUNDLE=$PWD/dist/workflow-bundle.js
 *   node dist/bench/cohort-scale.js [--samples 24] [--cells 20000] [--genes 2000] [--parallel 2]
 *        [--sample-mb 3072] [--cohort-mb 12288] [--concat-mb 20480] [--budget-min 0 (none)]
 *
 * The cohort is written once by scripts/make-synthetic-cohort.sh (the generator runs in the blocks
 * image) and cached in .data/cohorts/; a re-run skips it. The spec is a copy of
 * examples/cohort.yaml with the sheet's path, maxNodes, a generous jobTimeout, maxParallelJobs
 * and `resources.memoryMB` per node (per-sample nodes `--sample-mb`, concatenate `--concat-mb`,
 * the cohort nodes after it `--cohort-mb`), read by the CLI's own spec reader.
 *
 * Records (bench/record.ts → .data/bench/cohort-scale.json): the cohort's generation (or that it
 * was cached), the makespan, per node the state, attempts, wall time, input and output bytes and
 * peak memory — both the executor's figure (NodeResult.peakMemoryMB: cgroup usage, which on
 * cgroup v2 counts the page cache of the files the node wrote) and this script's own sampling of
 * every container of the tree (by its labels) every 2 s: usage, anonymous memory and
 * usage − inactive file (what `docker stats` shows). Bytes of node input copied between nodes:
 * each runner records the inode and size of every input it opened (result.json `io`), which must
 * be the upstream node's published file (the sample's own `.h5ad` for a sample's first node);
 * and the tree's workspace holds no `.h5ad` besides the published outputs. Load average is
 * sampled every 10 s. A node that fails (out of memory, timeout) is a result: it is recorded with
 * its error, and the figures of the nodes that ran are still written.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { parse, stringify } from 'yaml';
import { readResultManifest, runnerPhases, type ResultManifest } from '../activities/result-manifest';
import { readSpecFile } from '../client/spec-file';
import type { NodeResult } from '../common/schemas';
import { PROJECT_ROOT } from '../workers/config';
import { uid, withWorker } from '../test/helpers/harness';
import { BenchRecord } from './record';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const int = (name: string, fallback: number): number => {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: expected a whole number ≥ 1, got ${arg(name, '')}`);
  return v;
};

const MB = (b: number | null | undefined): string => (b == null ? '—' : (b / 1e6).toFixed(1));
const S = (ms: number | null | undefined): string => (ms == null ? '—' : (ms / 1000).toFixed(1));
const MiB = (b: number): number => Math.round(b / 2 ** 20);

/** Per container (tree node attempt), the highest memory figures this script saw. */
interface MemPeak { usage: number; anon: number; workingSet: number; samples: number }

/**
 * Samples every running container of `treeId` (by the executor's labels) every `intervalMs`:
 * cgroup usage, anonymous memory, and usage − inactive_file (the `docker stats` figure); keeps
 * per-attempt peaks and the peak of the sum over containers running at once.
 */
function containerSampler(docker: Docker, treeId: string, intervalMs = 2000) {
  const peaks = new Map<string, MemPeak>();
  let peakSum = 0;
  let peakSumAt = '';
  let busy = false;
  const tick = async (): Promise<void> => {
    const list = await docker.listContainers({ filters: { label: [`ragomics.tree=${treeId}`], status: ['running'] } });
    let sum = 0;
    const names: string[] = [];
    await Promise.all(list.map(async (c) => {
      const s = await docker.getContainer(c.Id).stats({ stream: false, 'one-shot': true }).catch(() => null);
      const m = s?.memory_stats as { usage?: number; stats?: Record<string, number> } | undefined;
      if (!m?.usage) return;
      const key = `${c.Labels['ragomics.node']}#${c.Labels['ragomics.attempt']}`;
      const anon = m.stats?.anon ?? m.stats?.rss ?? 0;
      const workingSet = m.usage - (m.stats?.inactive_file ?? m.stats?.total_inactive_file ?? 0);
      const p = peaks.get(key) ?? { usage: 0, anon: 0, workingSet: 0, samples: 0 };
      peaks.set(key, { usage: Math.max(p.usage, m.usage), anon: Math.max(p.anon, anon), workingSet: Math.max(p.workingSet, workingSet), samples: p.samples + 1 });
      sum += workingSet;
      names.push(c.Labels['ragomics.node'] ?? '?');
    }));
    if (sum > peakSum) {
      peakSum = sum;
      peakSumAt = names.sort().join(', ');
    }
  };
  const timer = setInterval(() => {
    if (busy) return; // a slow engine must not pile up requests
    busy = true;
    tick().catch(() => undefined).finally(() => { busy = false; });
  }, intervalMs);
  return { stop: () => { clearInterval(timer); return { peaks, peakSum, peakSumAt }; } };
}

/**
 * Every 10 s: the 1-minute load average (min, mean, max) and the space available on the
 * workspace's filesystem (at the start, the least seen): every node writes its whole AnnData, so
 * a cohort's workspace grows with cells × nodes, and the disk is shared with other work.
 */
function loadSampler(workspace: string) {
  const xs: number[] = [os.loadavg()[0]!];
  const free = (): number => { const s = statfsSync(workspace); return s.bavail * s.bsize; };
  const freeAtStart = free();
  let minFree = freeAtStart;
  const timer = setInterval(() => {
    xs.push(os.loadavg()[0]!);
    minFree = Math.min(minFree, free());
  }, 10_000);
  return {
    stop: () => {
      clearInterval(timer);
      xs.push(os.loadavg()[0]!);
      return { min: Math.min(...xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length, max: Math.max(...xs), n: xs.length, freeAtStart, minFree: Math.min(minFree, free()) };
    },
  };
}

/** Every regular file below `dir` (symlinks not followed). */
async function listFiles(dir: string): Promise<{ file: string; size: number; ino: number; dev: number }[]> {
  const out: { file: string; size: number; ino: number; dev: number }[] = [];
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

const rec = new BenchRecord('cohort-scale');

async function main(): Promise<void> {
  const samples = int('--samples', 24);
  const cells = int('--cells', 20000);
  const genes = int('--genes', 2000);
  const parallel = int('--parallel', 2);
  const sampleMB = int('--sample-mb', 3072);
  const cohortMB = int('--cohort-mb', 12288);
  const concatMB = int('--concat-mb', 20480);
  const budgetMin = Number(arg('--budget-min', '0'));

  // 1. The cohort (cached under .data/cohorts/ by the script itself).
  const cohortName = `synthetic_${samples}x${cells}${genes === 2000 ? '' : `x${genes}g2b`}`;
  const cached = (() => { try { return statSync(path.join(PROJECT_ROOT, '.data', 'cohorts', cohortName, 'samplesheet.csv')).size > 0; } catch { return false; } })();
  const g0 = Date.now();
  const sheet = execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'make-synthetic-cohort.sh'), String(samples), String(cells), String(genes)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 60 * 60_000 }).trim(); // bounded: a hung engine ends the run
  const genMs = Date.now() - g0;
  const sheetDir = path.dirname(sheet);
  const rows = readFileSync(sheet, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const sampleFiles = new Map(rows.map(([id, p]) => [id!, path.resolve(sheetDir, p!)]));
  const cohortBytes = [...sampleFiles.values()].reduce((s, f) => s + statSync(f).size, 0);

  // 2. The spec: a copy of examples/cohort.yaml with this cohort, limits and memory.
  const spec = parse(readFileSync(path.join(PROJECT_ROOT, 'examples', 'cohort.yaml'), 'utf8')) as {
    id?: string; samples: string; maxNodes: number; maxParallelJobs: number; jobTimeout: number; maxRetries: number;
    forEachSample: { id: string; resources?: object }[]; nodes: { id: string; resources?: object }[];
  };
  const treeId = uid('cohort-scale');
  delete spec.id;
  spec.samples = sheet;
  spec.maxNodes = spec.forEachSample.length * samples + spec.nodes.length + 10;
  spec.maxParallelJobs = parallel;
  spec.jobTimeout = 4 * 3600;
  spec.maxRetries = 0; // a failure (OOM, timeout) is the result, not something to retry for hours
  for (const t of spec.forEachSample) t.resources = { memoryMB: sampleMB, cpus: 1 };
  for (const n of spec.nodes) n.resources = { memoryMB: n.id === 'concatenate' ? concatMB : cohortMB, cpus: 2 };
  const specDir = mkdtempSync(path.join(os.tmpdir(), 'ragomics-cohort-spec-'));
  const specFile = path.join(specDir, 'cohort.yaml');
  writeFileSync(specFile, stringify(spec));
  const treeSpec = { ...readSpecFile(specFile), id: treeId };
  rmSync(specDir, { recursive: true, force: true });

  const docker = new Docker();
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'ragomics-cohort-ws-'));
  try {
    await withWorker({ executor: 'docker', maxConcurrentNodes: parallel, defaultMemoryMB: sampleMB, workspace }, async ({ client }) => {
      const loads = loadSampler(workspace);
      const mem = containerSampler(docker, treeId);
      const t0 = Date.now();
      const tree = await client.startTree(treeSpec);
      const progress = setInterval(() => {
        void tree.summary().then((s) => console.log(`#   ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(s.counts)} load ${os.loadavg()[0]!.toFixed(2)}`), () => undefined);
      }, 30_000);
      // A time budget: past it the tree is cancelled and what ran is recorded (nodes still running
      // then show CANCELLED with the memory they had reached).
      let overBudget = false;
      const budget = budgetMin > 0 ? setTimeout(() => { overBudget = true; void tree.cancel(`cohort-scale: time budget of ${budgetMin} min reached`); }, budgetMin * 60_000) : undefined;
      const result = await tree.result().finally(() => { clearInterval(progress); clearTimeout(budget); });
      const clientWallMs = Date.now() - t0;
      const { peaks, peakSum, peakSumAt } = mem.stop();
      const load = loads.stop();
      const status = await tree.status({ transitions: true, details: true });

      // Per node: published result, runner facts, inputs' identity.
      const published = new Map<string, { size: number; ino: number }>();
      for (const n of status.nodes) if (n.outputPath) { const s = await stat(n.outputPath); published.set(n.id, { size: s.size, ino: s.ino }); }
      interface Row { id: string; block: string; state: string; attempts: number; wallMs: number | null; inBytes: number | null; outBytes: number | null; sameFile: number; inputs: number; execPeak: number | null; mine: MemPeak | undefined; memLimit: number; shape: string; error: string | null; phases: ReturnType<typeof runnerPhases> | null }
      const table: Row[] = [];
      const at = (n: (typeof status.nodes)[number], state: string): number | null => {
        const t = n.transitions?.filter((x) => x.state === state).pop();
        return t ? Date.parse(t.at) : null;
      };
      for (const n of status.nodes) {
        let manifest: ResultManifest | null = null;
        let result: NodeResult | null = null;
        if (n.outputPath) {
          const dir = path.dirname(n.outputPath);
          result = JSON.parse(await readFile(path.join(dir, 'node-result.json'), 'utf8')) as NodeResult;
          manifest = await readResultManifest(dir, (m) => console.warn(`warning: ${n.id}: ${m}`));
        }
        // What each input should be: the upstream node's published file, or the sample's .h5ad.
        const expected: { key: string; file: { size: number; ino: number } | undefined }[] = [];
        if (n.inputs) for (const id of n.inputs) expected.push({ key: id, file: published.get(id) });
        else if (n.parentId) expected.push({ key: n.parentId, file: published.get(n.parentId) });
        else if (n.sample) { const s = statSync(sampleFiles.get(n.sample)!); expected.push({ key: n.sample, file: { size: s.size, ino: s.ino } }); }
        const seen = manifest?.io ? (manifest.io.inputs ? manifest.io.inputs.map((i) => i.facts) : [manifest.io.input]) : [];
        const sameFile = expected.filter((e, i) => e.file && seen[i] && seen[i]!.inode === e.file.ino && seen[i]!.bytes === e.file.size).length;
        const inBytes = seen.length ? seen.reduce((s, f) => s + (f?.bytes ?? 0), 0) : null;
        const running = at(n, 'RUNNING');
        const end = n.endedAt ? Date.parse(n.endedAt) : null;
        const mine = [...peaks.entries()].filter(([k]) => k.startsWith(`${n.id}#`)).map(([, v]) => v).sort((a, b) => b.workingSet - a.workingSet)[0];
        const spec = treeSpec.nodes?.find((x) => x.id === n.id);
        const memLimit = (spec?.resources as { memoryMB?: number } | undefined)?.memoryMB ?? (n.sample ? sampleMB : cohortMB);
        table.push({
          id: n.id, block: n.block, state: n.state, attempts: n.attempts,
          wallMs: running !== null && end !== null ? end - running : null,
          inBytes, outBytes: published.get(n.id)?.size ?? null, sameFile, inputs: expected.length,
          execPeak: result?.peakMemoryMB ?? null, mine, memLimit,
          shape: manifest?.shape?.join(' × ') ?? '—', error: n.error,
          phases: manifest?.timings ? runnerPhases(manifest.timings) : null,
        });
      }

      // The workspace: any .h5ad that is not a published output would be a copy.
      const files = await listFiles(path.join(workspace, 'trees'));
      const publishedPaths = new Set(status.nodes.map((n) => n.outputPath).filter((p): p is string => !!p));
      const unique = new Map(files.map((f) => [`${f.dev}:${f.ino}`, f]));
      const copies = [...unique.values()].filter((f) => !publishedPaths.has(f.file) && f.file.endsWith('.h5ad'));
      const copiedBytes = copies.reduce((s, f) => s + f.size, 0);
      const totalBytes = [...unique.values()].reduce((s, f) => s + f.size, 0);
      const publishedBytes = [...published.values()].reduce((s, f) => s + f.size, 0);

      const starts = table.map((r) => at(status.nodes.find((n) => n.id === r.id)!, 'RUNNING')).filter((x): x is number => x !== null);
      const ends = status.nodes.map((n) => (n.endedAt ? Date.parse(n.endedAt) : null)).filter((x): x is number => x !== null);
      const makespanMs = starts.length && ends.length ? Math.max(...ends) - Math.min(...starts) : null;

      rec.log(`\ncohort scale: ${samples} samples × ${cells} cells = ${samples * cells} cells, ${genes} genes; examples/cohort.yaml's tree, Docker executor, real workflow`);
      rec.log(`cohort ${cohortName}: ${MB(cohortBytes)} MB of .h5ad on disk; ${cached ? `cached in .data/cohorts/ (not generated by this run; ${S(genMs)} s to find it)` : `generated by this run in ${S(genMs)} s`}`);
      rec.log(`machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; 1-min load average during the run (every 10 s, ${load.n} samples): min ${load.min.toFixed(2)}, mean ${load.mean.toFixed(2)}, max ${load.max.toFixed(2)} (the machine is shared with other work)`);
      rec.log(`limits: maxParallelJobs ${parallel} (worker slots ${parallel}); memory per per-sample node ${sampleMB} MB (1 CPU), concatenate ${concatMB} MB, other cohort nodes ${cohortMB} MB (2 CPUs); maxRetries 0; jobTimeout ${spec.jobTimeout} s`);
      if (overBudget) rec.log(`**time budget of ${budgetMin} min reached: the tree was cancelled**; the nodes not COMPLETED below did not finish within it`);
      rec.log(`tree ended **${result.state}**; makespan (first node start → last node end) **${S(makespanMs)} s**; client start → result ${S(clientWallMs)} s; ${table.length} nodes\n`);

      const cohortRows = table.filter((r) => !status.nodes.find((n) => n.id === r.id)!.sample);
      const sampleRows = table.filter((r) => status.nodes.find((n) => n.id === r.id)!.sample);
      const memCells = (r: Row): string => `${r.execPeak ?? '—'} | ${r.mine ? MiB(r.mine.usage) : '—'} | ${r.mine ? MiB(r.mine.anon) : '—'} | ${r.mine ? MiB(r.mine.workingSet) : '—'}`;
      rec.log('| node | block | state | attempts | shape out | input MB | inputs = upstream file (inode) | output MB | read s | compute s | write s | wall s | limit MB | peak MB (executor) | peak usage MiB | peak anon MiB | peak usage − inactive file MiB |');
      rec.log('|---|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      const line = (r: Row): string => `| ${r.id} | ${r.block} | ${r.state}${r.error ? `: ${r.error.replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 160)}` : ''} | ${r.attempts} | ${r.shape} | ${MB(r.inBytes)} | ${r.sameFile}/${r.inputs} | ${MB(r.outBytes)} | ${S(r.phases?.readMs)} | ${S(r.phases?.computeMs)} | ${S(r.phases?.writeMs)} | ${S(r.wallMs)} | ${r.memLimit} | ${memCells(r)} |`;
      for (const r of cohortRows) rec.log(line(r));
      // Per-sample nodes: one line per template (over the samples), the largest per figure.
      const templates = [...new Set(sampleRows.map((r) => r.block))];
      for (const b of templates) {
        const rs = sampleRows.filter((r) => r.block === b);
        const max = (f: (r: Row) => number | null | undefined): number | null => rs.reduce<number | null>((m, r) => { const v = f(r); return v == null ? m : Math.max(m ?? v, v); }, null);
        const mean = (f: (r: Row) => number | null | undefined): number | null => { const v = rs.map(f).filter((x): x is number => x != null); return v.length ? v.reduce((a, c) => a + c, 0) / v.length : null; };
        const states = [...new Set(rs.map((r) => r.state))].join('/');
        rec.log(`| ${rs.length} × ${b} (per sample; mean, max) | ${b} | ${states} | ${rs.reduce((s, r) => s + r.attempts, 0)} | ${rs[0]?.shape ?? '—'} … | ${MB(mean((r) => r.inBytes))} | ${rs.reduce((s, r) => s + r.sameFile, 0)}/${rs.reduce((s, r) => s + r.inputs, 0)} | ${MB(mean((r) => r.outBytes))} | ${S(mean((r) => r.phases?.readMs))} | ${S(mean((r) => r.phases?.computeMs))} | ${S(mean((r) => r.phases?.writeMs))} | ${S(mean((r) => r.wallMs))}, ${S(max((r) => r.wallMs))} | ${rs[0]?.memLimit ?? '—'} | ${max((r) => r.execPeak) ?? '—'} | ${max((r) => (r.mine ? MiB(r.mine.usage) : null)) ?? '—'} | ${max((r) => (r.mine ? MiB(r.mine.anon) : null)) ?? '—'} | ${max((r) => (r.mine ? MiB(r.mine.workingSet) : null)) ?? '—'} |`);
      }
      rec.log('\n"peak MB (executor)": NodeResult.peakMemoryMB (docker stats every 2 s; on cgroup v2 this is usage, which counts the page cache of the files the node read and wrote; an OOM-killed attempt reports its limit). The next three: this bench\'s own sampling of the same containers every 2 s: cgroup usage, anonymous memory (the process heap: arrays), usage − inactive file (what `docker stats` shows). "wall s": RUNNING → end in the workflow. read/compute/write: the runner\'s phases.');
      const top = [...table].filter((r) => r.mine).sort((a, b) => b.mine!.anon - a.mine!.anon)[0];
      if (top) rec.log(`highest peak anonymous memory: **${top.id}** (${top.block}) ${MiB(top.mine!.anon)} MiB of a ${top.memLimit} MB limit (usage ${MiB(top.mine!.usage)} MiB); the most memory held by the tree's containers at once (usage − inactive file, summed): ${MiB(peakSum)} MiB (${peakSumAt})`);
      const failed = table.filter((r) => r.state !== 'COMPLETED');
      if (failed.length) rec.log(`not completed: ${failed.map((r) => `${r.id} ${r.state}${r.error ? ` (${r.error.replace(/\n/g, ' ').slice(0, 200)})` : ''}`).join('; ')}`);
      const sameFile = table.reduce((s, r) => s + r.sameFile, 0);
      const inputsOpened = table.filter((r) => r.inBytes !== null).reduce((s, r) => s + r.inputs, 0);
      rec.log(`\nbytes of node input copied between nodes: **${copiedBytes}** (.h5ad files in the tree's workspace that are not a published output: ${copies.length}${copies.length ? `: ${copies.map((c) => path.relative(workspace, c.file)).join(', ')}` : ''}); inputs the runners opened that are the upstream node's own published file or the sample's own .h5ad (same inode and size): ${sameFile}/${inputsOpened}`);
      rec.log(`disk: the workspace's filesystem (shared with other work) had ${(load.freeAtStart / 1e9).toFixed(1)} GB available at the start and ${(load.minFree / 1e9).toFixed(1)} GB at its lowest during the run (sampled every 10 s)`);
      rec.log(`tree workspace: ${MB(totalBytes)} MB on disk in ${unique.size} files, of which published outputs ${MB(publishedBytes)} MB (${published.size} files); input bytes read by all nodes: ${MB(table.reduce((s, r) => s + (r.inBytes ?? 0), 0))} MB`);
      if (copiedBytes !== 0) rec.fail(`${copiedBytes} bytes of node input were copied`);
      if (sameFile !== inputsOpened) rec.fail(`${inputsOpened - sameFile} of ${inputsOpened} inputs were not the upstream node's own file`);
      if (result.state !== 'COMPLETED') rec.fail(`the tree ended ${result.state}`);
    });
  } finally {
    rec.save();
    rmSync(workspace, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  rec.fail(`the bench stopped with an error: ${e instanceof Error ? e.message : String(e)}`);
  rec.save();
  process.exit(1);
});
