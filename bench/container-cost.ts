/**
 * Per-node cost of the Docker executor against the local executor (Python subprocess), and where
 * the time goes, for a trivial block (`sleep 0`, no input) and real scanpy blocks (`normalize`,
 * `pca`) on the bundled PBMC dataset. Variants are interleaved round by round (executor order
 * alternating), round 0 warms caches and is dropped; figures are medians over ROUNDS.
 *
 *   npx tsc -p . && node dist/bench/container-cost.js [ROUNDS] [--blocks sleep,normalize,pca] [--local-warm] [--teardown]
 *
 * Warm variants run side by side in the same rounds: `docker-warm` (the Docker executor with a
 * warm pool of one pre-started container, activities/executors/docker-warm.ts) and, with
 * `--local-warm`, `local-warm` (the local executor's fork server: a child forked per node). Before each warm run the bench
 * waits until the pool's member is ready (its imports done): the time a node would spend
 * waiting for a member still warming up ("wait in pool") is excluded, and the refill runs while
 * the other variants do. A warm run adds two rows: "assign" (input links, limits, job line) and
 * "hand-over" (job line written → the runner has it); its remaining "import" is only what the
 * warm-up did not import (the block's module). Removing a used warm container runs after the
 * result (not on the node's path), so its "remove" row is empty.
 *
 * The "non-compute overhead" row is total − (read + compute + write): everything a node pays
 * besides its own science, the engine's calls included. Target (issue 15): ≤ 300 ms median
 * for the warm Docker variants of the real scanpy blocks.
 *
 * `--teardown` adds a variant, the local executor with RAGOMICS_RUNNER_FULL_EXIT=1: the
 * runner then exits through the interpreter's normal teardown instead of os._exit (what it did
 * before), which shows what skipping the teardown saves per node.
 *
 * Each run calls the executor directly (job.json and workspace prepared like runNode does; no
 * publishing, no Temporal): "total" is `executor.run` from call to return. The split comes from
 * both sides of the container boundary, on one clock (a container shares the host's):
 * - the executor's phases (ExecOutcome.phases): engine ping + image lookup, create, attach, the
 *   start call, inspect, remove; the process's start and end (Docker's State.StartedAt and
 *   FinishedAt; local: spawn and exit events);
 * - the runner's marks in result.json (`timings`): runner code starts, imports done, input read,
 *   run() done, output written.
 * "process start → runner" is interpreter start-up until the runner's first line; "exit" is
 * output written → process gone (manifest, interpreter exit); "other" is what no phase covers
 * (noticing the exit, log files, the executor's bookkeeping).
 *
 * Needs the Docker engine, the blocks image (.data/blocks-image), the dataset
 * (scripts/fetch-dataset.sh) and .tools/blocks-venv (scripts/ensure-local-python.sh).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { createDockerExecutor, createLocalExecutor, resolveLocalPython } from '../activities';
import type { BlockExecutor, ExecOutcome } from '../activities/executors/types';
import { readResultManifest, type RunnerTimings } from '../activities/result-manifest';
import { attemptPaths, prepareAttempt } from '../activities/workspace';
import type { Block } from '../common/schemas';
import { loadWorkerConfig, PROJECT_ROOT, resolveBlocksImage } from '../workers/config';
import { median } from '../test/helpers/timeline-checks';
import { BenchRecord } from './record';

const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');

/** The blocks measured: a trivial one without input, and real scanpy steps on the dataset. */
const BLOCKS: Record<string, { block: Block; input: string | null }> = {
  sleep: { block: { name: 'sleep', parameters: { seconds: 0, fail: false, memoryMB: 0 } }, input: null },
  normalize: { block: { name: 'normalize', parameters: { target_sum: 1e4, log1p: true } }, input: DATASET },
  pca: { block: { name: 'pca', parameters: { n_comps: 30, use_highly_variable: false } }, input: DATASET },
};

/** Issue 15's target for the median non-compute overhead of a warm Docker node. */
const TARGET_OVERHEAD_MS = 300;

/** The rows of the table, in timeline order. */
const ROWS = [
  ['prepare', 'engine ping + image lookup'],
  ['assign', 'warm: links, limits, job line'],
  ['handover', 'warm: job line → runner has it'],
  ['create', 'create container'],
  ['attach', 'attach output streams'],
  ['start', 'start call (local: spawn)'],
  ['boot', 'process start → runner code'],
  ['setup', 'runner set-up (caches, job)'],
  ['import', 'Python imports'],
  ['read', 'read input .h5ad'],
  ['compute', 'block run()'],
  ['write', 'write output .h5ad'],
  ['exit', 'output written → process gone'],
  ['inspect', 'inspect exited container'],
  ['remove', 'remove container'],
  ['other', 'not covered (exit noticed, logs)'],
  ['total', 'executor.run, call to return'],
  ['overhead', 'non-compute overhead: total − read, compute, write'],
] as const;
type Row = (typeof ROWS)[number][0];

/**
 * Splits one run into the table's rows (ms); a row is absent when the executor has no such step.
 * `startEpochMs`: when executor.run was called, on the runner's clock (epoch ms).
 */
function split(outcome: ExecOutcome, t: RunnerTimings, totalMs: number, startEpochMs: number): Partial<Record<Row, number>> {
  const p = outcome.phases ?? {};
  const r: Partial<Record<Row, number>> = {
    prepare: p.prepareMs, assign: p.assignMs, create: p.createMs, attach: p.attachMs, start: p.startMs, inspect: p.inspectMs, remove: p.removeMs,
  };
  const gap = (a: number | null | undefined, b: number | null | undefined): number | undefined => (a == null || b == null ? undefined : b - a);
  if (p.warm) {
    // The process started long before (in the pool): its node begins when the job line arrives.
    r.handover = gap(startEpochMs + (p.prepareMs ?? 0) + (p.assignMs ?? 0), t.jobReceivedAt);
    r.setup = gap(t.jobReceivedAt, t.importStart);
  } else {
    // Docker's StartedAt / the local spawn event: the process exists and runs.
    r.boot = gap(p.processStartedAt, t.runnerStart);
    r.setup = gap(t.runnerStart, t.importStart);
  }
  r.import = gap(t.importStart, t.importsDone);
  r.read = gap(t.importsDone, t.inputRead);
  r.compute = gap(t.inputRead, t.runDone);
  r.write = gap(t.runDone, t.outputWritten);
  r.exit = gap(t.outputWritten, p.processEndedAt);
  const covered = Object.values(r).reduce<number>((s, v) => s + (v ?? 0), 0);
  r.other = totalMs - covered;
  r.total = totalMs;
  r.overhead = totalMs - ((r.read ?? 0) + (r.compute ?? 0) + (r.write ?? 0));
  for (const k of Object.keys(r) as Row[]) if (r[k] === undefined) delete r[k];
  return r;
}

/** This run's result lines, written to .data/bench/container-cost.json at the end (bench/record.ts). */
const rec = new BenchRecord('container-cost');

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 5);
  const blocksArg = args.includes('--blocks') ? args[args.indexOf('--blocks') + 1]! : 'sleep,normalize,pca';
  const blocks = blocksArg.split(',').filter((b) => {
    if (!(b in BLOCKS)) throw new Error(`unknown block "${b}" (choose from ${Object.keys(BLOCKS).join(', ')})`);
    return true;
  });
  if (!existsSync(DATASET)) throw new Error(`dataset missing: run scripts/fetch-dataset.sh (${DATASET})`);
  const image = resolveBlocksImage(loadWorkerConfig({}));
  const root = mkdtempSync(path.join(tmpdir(), 'bench-container-'));
  const dockerWarm = createDockerExecutor({ image, warmPool: 1, warmDir: path.join(root, 'warm'), workerId: `bench-${process.pid}` });
  const executors: Record<string, BlockExecutor> = {
    docker: createDockerExecutor({ image }),
    'docker-warm': dockerWarm,
    local: createLocalExecutor({ python: resolveLocalPython() }),
  };
  // Waits until the variant's warm runtime is ready ("wait in pool" is not measured): a Docker
  // pool member whose imports are done, the local executor's fork server having printed its ready
  // line (each local-warm node is then a child forked from it).
  const warmReady: Record<string, () => boolean> = { 'docker-warm': () => dockerWarm.pool!.readyIdle() > 0 };
  if (args.includes('--local-warm')) {
    const localWarm = createLocalExecutor({ python: resolveLocalPython(), warmPool: 1 });
    executors['local-warm'] = localWarm;
    warmReady['local-warm'] = () => localWarm.forkServerStats()?.ready === true;
  }
  if (args.includes('--teardown')) executors['local-teardown'] = createLocalExecutor({ python: resolveLocalPython(), env: { RAGOMICS_RUNNER_FULL_EXIT: '1' } });
  const kinds = Object.keys(executors);
  const samples = new Map<string, Partial<Record<Row, number>>[]>();
  const load0 = os.loadavg();
  let warmUpLine = '';
  const t0 = performance.now();
  let n = 0;
  try {
    for (let round = 0; round <= rounds; round++) {
      for (const blockName of blocks) {
        // Alternate the executors' order so a systematic "second run is warmer" favours neither.
        const order = round % 2 === 0 ? kinds : [...kinds].reverse();
        for (const kind of order) {
          const { block, input } = BLOCKS[blockName]!;
          const nodeId = `${kind}-${blockName}-${round}`;
          const paths = attemptPaths(root, 'bench', nodeId, 1, 1);
          await prepareAttempt(paths, { treeId: 'bench', nodeId, attempt: 1, block, inputRequired: input !== null });
          const ready = warmReady[kind];
          if (ready) await waitUntilTrue(ready, 120_000, `${kind}: a ready warm member`);
          const startEpochMs = Date.now();
          const start = performance.now();
          const outcome = await executors[kind]!.run(
            // One CPU and 2 GiB, the defaults of a node without `resources`.
            { treeId: 'bench', nodeId, attempt: 1, activityAttempt: 1, block, inputPath: input, paths, memoryMB: 2048, cpus: 1, workerId: 'bench' },
            { signal: new AbortController().signal, onProgress: () => undefined, onStarted: () => undefined },
          );
          const totalMs = performance.now() - start;
          if (outcome.exitCode !== 0) throw new Error(`${nodeId} exited ${outcome.exitCode}; see ${paths.stderrLog}`);
          const manifest = await readResultManifest(paths.outputDir, (m) => console.warn(`warning: ${m}`));
          if (!manifest.timings) throw new Error(`${nodeId}: result.json has no timings (image older than the runner? rebuild with scripts/build-image.sh)`);
          // A warm variant that ran cold would record cold figures under the warm name.
          if (Boolean(ready) !== (outcome.phases?.warm === true) || Boolean(ready) !== (manifest.timings.jobReceivedAt !== undefined)) {
            throw new Error(`${nodeId}: expected a ${ready ? 'warm' : 'cold'} run, got phases.warm=${outcome.phases?.warm} jobReceivedAt=${manifest.timings.jobReceivedAt}`);
          }
          n++;
          if (round === 0) continue; // warm-up: page cache, numba cache, image layers
          const key = `${kind}/${blockName}`;
          samples.set(key, [...(samples.get(key) ?? []), split(outcome, manifest.timings, totalMs, startEpochMs)]);
        }
      }
      process.stderr.write(`round ${round}/${rounds} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
    const refills = dockerWarm.pool!.warmUpTimes();
    if (refills.length > 0) warmUpLine = `docker-warm pool: a member's refill (create call → ready line) took ${median([...refills]).toFixed(0)} ms median (${Math.min(...refills).toFixed(0)}–${Math.max(...refills).toFixed(0)}, ${refills.length} members), in the background while the other variants ran`;
  } finally {
    await Promise.all(Object.values(executors).map((e) => e.close?.()));
    rmSync(root, { recursive: true, force: true });
  }
  const load1 = os.loadavg();

  const columns = blocks.flatMap((b) => kinds.map((k) => `${k}/${b}`));
  const med = (key: string, row: Row): number | undefined => {
    const xs = (samples.get(key) ?? []).map((s) => s[row]).filter((v): v is number => v !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const fmt = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(0));
  rec.log(`\nper-node cost, Docker vs local executor: medians of ${rounds} interleaved rounds (ms), ${n} runs in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  rec.log(`image ${image}; ${os.cpus().length} cores; load average ${load0[0]!.toFixed(2)} at the start, ${load1[0]!.toFixed(2)} at the end; dataset ${path.basename(DATASET)}\n`);
  rec.log(`| phase | ${columns.join(' | ')} |`);
  rec.log(`|---|${columns.map(() => '---:').join('|')}|`);
  for (const [row, label] of ROWS) {
    const cells = columns.map((c) => fmt(med(c, row)));
    rec.log(`| ${row === 'total' ? '**total**' : row}: ${label} | ${row === 'total' ? cells.map((c) => `**${c}**`).join(' | ') : cells.join(' | ')} |`);
  }
  rec.log('');
  for (const b of blocks) {
    const d = med(`docker/${b}`, 'total')!;
    const l = med(`local/${b}`, 'total')!;
    const containerOnly = (['prepare', 'create', 'attach', 'start', 'inspect', 'remove'] as const).reduce((s, r) => s + (med(`docker/${b}`, r) ?? 0), 0);
    const ranges = ['docker', 'local'].map((k) => {
      const xs = (samples.get(`${k}/${b}`) ?? []).map((s) => s.total!);
      return `${k} ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
    });
    rec.log(`${b.padEnd(10)} docker/local ${(d / l).toFixed(2)}  (docker ${d.toFixed(0)} ms, local ${l.toFixed(0)} ms; difference ${(d - l).toFixed(0)} ms; container API steps ${containerOnly.toFixed(0)} ms; ranges ${ranges.join(', ')})`);
    const td = med(`local-teardown/${b}`, 'total');
    if (td !== undefined) rec.log(`${''.padEnd(10)} interpreter teardown (local-teardown − local): ${(td - l).toFixed(0)} ms per node (exit phase ${fmt(med(`local-teardown/${b}`, 'exit'))} vs ${fmt(med(`local/${b}`, 'exit'))} ms)`);
    for (const warm of kinds.filter((k) => k.endsWith('-warm'))) {
      const cold = warm.slice(0, -'-warm'.length);
      const w = med(`${warm}/${b}`, 'overhead')!;
      const c = med(`${cold}/${b}`, 'overhead')!;
      rec.log(`${''.padEnd(10)} ${warm}: non-compute overhead ${w.toFixed(0)} ms median (${cold} ${c.toFixed(0)} ms, ${(c / w).toFixed(1)}× less); target ≤ ${TARGET_OVERHEAD_MS} ms: ${w <= TARGET_OVERHEAD_MS ? 'met' : 'NOT met'}`);
    }
  }
  if (warmUpLine) rec.log(warmUpLine);
  rec.save();
}

/** Polls `check` until true; throws after `ms`. */
async function waitUntilTrue(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
