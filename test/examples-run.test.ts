/**
 * Every example the docs show works: each spec and nodes file in examples/ validates, the
 * quickstart runs to completion through the CLI, the SDK trigger script runs and exits with
 * the tree's code, and every `examples/...` path the docs mention exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readNodesFile, readSpecFile } from '../client/spec-file';
import { TEMPORAL_ADDRESS, uid, withWorker } from './helpers/harness';
import { cohortExampleCopy, makeSyntheticCohort } from './helpers/synthetic-cohort';
import { repoRoot } from '../activities/executors/repo-root';

const ROOT = repoRoot();
const EXAMPLES = path.join(ROOT, 'examples');

function run(cmd: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cmd, { cwd: ROOT, env: { ...process.env, TEMPORAL_ADDRESS, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

void test('every example spec and nodes file validates', () => {
  const files = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f));
  assert.ok(files.includes('quickstart-sleep.yaml') && files.includes('add-nodes.yaml') && files.includes('cohort.yaml'));
  for (const f of files) {
    const file = path.join(EXAMPLES, f);
    // Nodes files (for `ragomics add`) are named so; everything else is a tree spec.
    if (/nodes/.test(f)) assert.ok(readNodesFile(file).length > 0, f);
    // cohort.yaml reads a sample sheet made by scripts/make-synthetic-cohort.sh, which a fresh
    // clone does not have: validated below on a sheet generated for the test.
    else if (f !== 'cohort.yaml') assert.ok(readSpecFile(file).nodes.length > 0, f);
  }
});

void test('examples/cohort.yaml validates on a generated cohort (its sample sheet pointed at it)', () => {
  // The real generator through the blocks image (a few seconds): readSpecFile checks every
  // sample's file, so the sheet must name files that exist; 8 samples as in the example.
  const cohort = makeSyntheticCohort(8, 50);
  try {
    console.log(`# generated an 8 x 50 cohort in ${cohort.tookMs} ms`);
    const spec = readSpecFile(cohortExampleCopy(cohort.dir, cohort.sheet));
    // The client turns the sheet into inline rows with absolute paths.
    assert.ok(Array.isArray(spec.samples), 'samples read from the sheet');
    const samples = spec.samples;
    assert.deepEqual(samples.map((s) => s.sample), ['S01', 'S02', 'S03', 'S04', 'S05', 'S06', 'S07', 'S08']);
    for (const s of samples) assert.ok(existsSync(s.path) && path.isAbsolute(s.path), s.path);
    assert.deepEqual(Object.keys(samples[0]!).sort(), ['batch', 'condition', 'donor', 'path', 'sample']);
    assert.equal(spec.forEachSample?.length, 3);
    assert.ok(spec.nodes.some((n) => n.id === 'concatenate'));
  } finally {
    cohort.remove();
  }
});

void test('the docs mention only example files that exist', () => {
  const docs = [path.join(ROOT, 'README.md'), ...(existsSync(path.join(ROOT, 'docs')) ? readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(ROOT, 'docs', f)) : [])];
  const missing: string[] = [];
  for (const doc of docs.filter((d) => existsSync(d))) {
    for (const m of readFileSync(doc, 'utf8').matchAll(/examples\/[\w.-]+\.(?:ya?ml|json|ts)/g)) {
      // pbmc-tree.yaml belongs to the real-data demo, which may land separately.
      if (!existsSync(path.join(ROOT, m[0])) && !m[0].endsWith('pbmc-tree.yaml')) missing.push(`${path.relative(ROOT, doc)}: ${m[0]}`);
    }
  }
  assert.deepEqual(missing, []);
});

void test('quickstart runs to completion with the CLI; trigger-from-service runs through the SDK', async () => {
  await withWorker({}, async ({ taskQueue }) => {
    const env = { RAGOMICS_TASK_QUEUE: taskQueue };
    const quick = await run([path.join(ROOT, 'bin', 'ragomics.js'), 'run', path.join(EXAMPLES, 'quickstart-sleep.yaml'), '--json'], env);
    assert.equal(quick.code, 0, quick.stderr);
    const status = JSON.parse(quick.stdout) as { state: string; nodes: { state: string }[] };
    assert.equal(status.state, 'COMPLETED');
    assert.equal(status.nodes.length, 6);

    const treeId = uid('trigger');
    const trigger = await run([path.join(ROOT, 'dist', 'examples', 'trigger-from-service.js')], { ...env, TREE_ID: treeId });
    assert.equal(trigger.code, 0, trigger.stderr);
    assert.match(trigger.stdout, new RegExp(`started ${treeId}`));
    assert.match(trigger.stdout, /COMPLETED: 3\/3 completed/);
    const result = JSON.parse(trigger.stdout.slice(trigger.stdout.indexOf('{'))) as { state: string; metrics: { totalProcessed: number } };
    assert.equal(result.state, 'COMPLETED');
    assert.equal(result.metrics.totalProcessed, 3);
  });
});

void test('trigger-from-service exits 3 when the server is unreachable', async () => {
  const r = await run([path.join(ROOT, 'dist', 'examples', 'trigger-from-service.js')], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /cannot reach the Temporal server/);
});
