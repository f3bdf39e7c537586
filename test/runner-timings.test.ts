/**
 * The runner's phase timings (result.json `timings`), its input/output file facts (`io`) and the
 * executors' own phases (ExecOutcome.phases), with the real runner: a real block on the bundled
 * dataset through the Docker executor (the blocks image) and the local executor (the venv).
 * Needs the Docker engine, .data/blocks-image, the dataset and .tools/blocks-venv.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createDockerExecutor, createLocalExecutor, resolveLocalPython } from '../activities';
import type { BlockExecutor, ExecOutcome } from '../activities/executors/types';
import { readResultManifest, runnerPhases, RUNNER_TIMING_MARKS, type ResultManifest } from '../activities/result-manifest';
import { attemptPaths, prepareAttempt } from '../activities/workspace';
import { loadWorkerConfig, PROJECT_ROOT, resolveBlocksImage } from '../workers/config';
import { removeRoot, tempRoot } from './fixtures/executor/helpers';

const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');
let root: string;

before(async () => {
  root = await tempRoot('ragomics-runner-timings');
});
after(() => removeRoot(root));

/** Runs `normalize` on the dataset with `executor`; returns the outcome and the parsed manifest. */
async function runNormalize(executor: BlockExecutor, nodeId: string): Promise<{ outcome: ExecOutcome; manifest: ResultManifest; warnings: string[] }> {
  const paths = attemptPaths(root, 'timings', nodeId, 1, 1);
  const block = { name: 'normalize' as const, parameters: { target_sum: 1e4, log1p: true } };
  await prepareAttempt(paths, { treeId: 'timings', nodeId, attempt: 1, block, inputRequired: true });
  const outcome = await executor.run(
    { treeId: 'timings', nodeId, attempt: 1, activityAttempt: 1, block, inputPath: DATASET, paths, memoryMB: 1024, cpus: 1, workerId: 'test-timings' },
    { signal: new AbortController().signal, onProgress: () => undefined, onStarted: () => undefined },
  );
  assert.equal(outcome.exitCode, 0, `${nodeId} exited 0`);
  const warnings: string[] = [];
  const manifest = await readResultManifest(paths.outputDir, (m) => warnings.push(m));
  return { outcome, manifest, warnings };
}

/** The marks are all there, in order, and inside the executor's view of the process's life. */
async function checkTimings(what: string, outcome: ExecOutcome, manifest: ResultManifest, warnings: string[]): Promise<void> {
  assert.deepEqual(warnings, [], `${what}: no manifest warnings`);
  const t = manifest.timings;
  assert.ok(t, `${what}: result.json has timings`);
  for (const mark of RUNNER_TIMING_MARKS) assert.equal(typeof t[mark], 'number', `${what}: mark ${mark} present`);
  // processStart comes from /proc in 10 ms clock ticks (rounded down), hence a little slack.
  for (let i = 1; i < RUNNER_TIMING_MARKS.length; i++) {
    const [a, b] = [RUNNER_TIMING_MARKS[i - 1]!, RUNNER_TIMING_MARKS[i]!];
    assert.ok(t[b]! >= t[a]! - (a === 'processStart' ? 20 : 0), `${what}: ${a} (${t[a]}) <= ${b} (${t[b]})`);
  }
  for (const [phase, ms] of Object.entries(runnerPhases(t))) {
    assert.ok(ms !== null && ms >= (phase === 'bootMs' ? -20 : 0), `${what}: ${phase} = ${ms} is non-negative`);
  }
  // The marks lie inside the attempt as the worker saw it (same clock; 1 s of slack for rounding).
  assert.ok(t.runnerStart! >= outcome.startedAt.getTime() - 1000 && t.outputWritten! <= outcome.endedAt.getTime() + 1000, `${what}: marks inside the attempt`);
  // The runner read the very file it was given (the same inode), and says what it wrote.
  const input = await stat(DATASET);
  assert.equal(manifest.io?.input?.bytes, input.size, `${what}: input bytes`);
  assert.equal(manifest.io?.input?.inode, input.ino, `${what}: input inode is the dataset's own`);
  assert.ok((manifest.io?.output?.bytes ?? 0) > 0, `${what}: output bytes`);
  const p = outcome.phases;
  assert.ok(p, `${what}: executor phases`);
  for (const key of ['startMs', 'waitMs'] as const) assert.ok(typeof p[key] === 'number' && p[key] >= 0, `${what}: ${key} = ${p[key]}`);
  assert.ok(p.processStartedAt !== undefined && p.processEndedAt !== undefined && p.processEndedAt >= p.processStartedAt, `${what}: process start/end`);
}

void describe('runner timings', () => {
  void test('docker executor: marks ordered and non-negative; create/start/wait/remove measured', { timeout: 180_000 }, async () => {
    assert.ok(existsSync(DATASET), `dataset missing: run scripts/fetch-dataset.sh (${DATASET})`);
    const executor = createDockerExecutor({ image: resolveBlocksImage(loadWorkerConfig({})) });
    const { outcome, manifest, warnings } = await runNormalize(executor, 'docker');
    await checkTimings('docker', outcome, manifest, warnings);
    const p = outcome.phases!;
    for (const key of ['createMs', 'attachMs', 'inspectMs', 'removeMs'] as const) assert.ok(typeof p[key] === 'number' && p[key] >= 0, `docker: ${key} = ${p[key]}`);
    console.log(`# docker phases ${JSON.stringify(p)} runner ${JSON.stringify(runnerPhases(manifest.timings!))}`);
  });

  void test('local executor: marks ordered and non-negative; spawn and wait measured', { timeout: 180_000 }, async () => {
    const python = resolveLocalPython();
    assert.ok(python !== 'python3' || process.env.RAGOMICS_PYTHON, 'no venv: run scripts/ensure-local-python.sh');
    const { outcome, manifest, warnings } = await runNormalize(createLocalExecutor({ python }), 'local');
    await checkTimings('local', outcome, manifest, warnings);
    console.log(`# local phases ${JSON.stringify(outcome.phases)} runner ${JSON.stringify(runnerPhases(manifest.timings!))}`);
  });

  void test('malformed timings or io in result.json are dropped with a warning, not fatal', async () => {
    const dir = path.join(root, 'malformed', 'output');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'result.json'), JSON.stringify({ summary: 'x', timings: { runnerStart: 'soon' }, io: { input: 3 } }));
    const warnings: string[] = [];
    const m = await readResultManifest(dir, (w) => warnings.push(w));
    assert.equal(m.summary, 'x');
    assert.equal(m.timings, undefined);
    assert.equal(m.io, undefined);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /timings dropped/);
  });
});
