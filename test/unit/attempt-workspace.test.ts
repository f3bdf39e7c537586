/**
 * The attempt folder and the result manifest's figures (activities/workspace.ts,
 * activities/result-manifest.ts): the file work every node pays, cut to fewer round trips in
 * issue 15 (one recursive mkdir that also tells a left-over folder apart; no realpath of the
 * output folder when the manifest names no figures). These are the cases those cuts must keep.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { attemptFolderName, attemptPaths, parseAttemptFolder, prepareAttempt, recordAttempt, type RunnerJob } from '../../activities/workspace';
import { readAttemptHistory } from '../../activities/attempt-history';
import { readResultManifest } from '../../activities/result-manifest';

const job: RunnerJob = { treeId: 't', nodeId: 'n', attempt: 1, block: { name: 'sleep', parameters: { seconds: 0 } }, inputRequired: false };

function withRoot(body: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'ragomics-attempt-'));
  return body(root).finally(() => rmSync(root, { recursive: true, force: true }));
}

void test('prepareAttempt on a node seen for the first time: folders, job.json, empty logs, an output/ anyone can write', () => withRoot(async (root) => {
  const paths = attemptPaths(root, 't', 'n', 1, 1);
  await prepareAttempt(paths, job);
  assert.deepEqual(JSON.parse(readFileSync(paths.jobFile, 'utf8')), job);
  assert.equal(readFileSync(paths.stdoutLog, 'utf8'), '');
  assert.equal(readFileSync(paths.stderrLog, 'utf8'), '');
  assert.deepEqual(readdirSync(paths.outputDir), []);
  assert.equal(statSync(paths.outputDir).mode & 0o777, 0o777);
}));

void test('prepareAttempt on a folder a dead worker left: its leftovers are removed, the attempt starts afresh', () => withRoot(async (root) => {
  const paths = attemptPaths(root, 't', 'n', 1, 2);
  mkdirSync(path.join(paths.outputDir, 'figures'), { recursive: true });
  writeFileSync(path.join(paths.outputDir, '_node_anndata.h5ad'), 'half written');
  writeFileSync(path.join(paths.dir, 'outcome.json'), '{}');
  writeFileSync(paths.stderrLog, 'the old run');
  await prepareAttempt(paths, job);
  assert.deepEqual(readdirSync(paths.dir).sort(), ['job.json', 'output', 'stderr.log', 'stdout.log']);
  assert.deepEqual(readdirSync(paths.outputDir), []);
  assert.equal(readFileSync(paths.stderrLog, 'utf8'), '');
}));

void test('prepareAttempt beside another attempt of the same node leaves that one alone', () => withRoot(async (root) => {
  const first = attemptPaths(root, 't', 'n', 1, 1);
  await prepareAttempt(first, job);
  writeFileSync(path.join(first.dir, 'outcome.json'), '{"status":"failed"}');
  await prepareAttempt(attemptPaths(root, 't', 'n', 1, 2), job);
  assert.ok(existsSync(path.join(first.dir, 'outcome.json')));
}));

void test('result manifest figures: none named gives none; a real figure is kept; a missing one or one that escapes the folder is dropped with a warning', () => withRoot(async (root) => {
  const out = path.join(root, 'output');
  mkdirSync(path.join(out, 'figures'), { recursive: true });
  writeFileSync(path.join(out, 'figures', 'umap.png'), 'png');
  writeFileSync(path.join(root, 'outside.png'), 'png');
  symlinkSync(path.join(root, 'outside.png'), path.join(out, 'figures', 'escape.png'));
  const warnings: string[] = [];
  writeFileSync(path.join(out, 'result.json'), JSON.stringify({ summary: 's' }));
  assert.deepEqual((await readResultManifest(out, (m) => warnings.push(m))).figures, []);
  writeFileSync(path.join(out, 'result.json'), JSON.stringify({ summary: 's', figures: ['umap.png', 'figures/escape.png', 'gone.png'] }));
  assert.deepEqual((await readResultManifest(out, (m) => warnings.push(m))).figures, [path.join('figures', 'umap.png')]);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /figure "figures\/escape\.png" dropped/);
  assert.match(warnings[1]!, /figure "gone\.png" dropped/);
}));

void test('attempt folder names: a regular attempt, a local run with its tag, and names that are no attempt', () => {
  assert.equal(attemptFolderName(2, 3), '2-3');
  assert.equal(attemptFolderName(1, 1, '0a9f'), '1-1-0a9f');
  assert.throws(() => attemptFolderName(1, 1, 'X/..'), /local run tag "X\/\.\." is not lowercase hex/);
  assert.deepEqual(parseAttemptFolder('2-3'), { attempt: 2, activityAttempt: 3, localRun: null });
  assert.deepEqual(parseAttemptFolder('1-1-0a9f'), { attempt: 1, activityAttempt: 1, localRun: '0a9f' });
  for (const name of ['1', '1-', '0-1', '1-0', '1-1-', '1-1-XY', '1-1-0a-0b', 'a-1', '1-1.tmp', '']) assert.equal(parseAttemptFolder(name), null, name);
  for (const [a, k, tag] of [[1, 1, undefined], [7, 12, 'deadbeef']] as const) assert.deepEqual(parseAttemptFolder(attemptFolderName(a, k, tag)), { attempt: a, activityAttempt: k, localRun: tag ?? null });
});

void test('the attempt history of a local node that ran on two workers: the lost run first, then the one that finished; other runs and stray folders left out', () => withRoot(async (root) => {
  const lost = attemptPaths(root, 't', 'n', 1, 1, 'aaaa0001');
  await prepareAttempt(lost, job);
  const past = new Date(Date.now() - 60_000);
  utimesSync(lost.jobFile, past, past);
  const rerun = attemptPaths(root, 't', 'n', 1, 1, '0000bbbb');
  await prepareAttempt(rerun, job);
  const now = new Date().toISOString();
  await recordAttempt(rerun, { worker: 'B', attempt: 1, activityAttempt: 1, status: 'succeeded', failureType: null, exitCode: 0, memoryMB: 64, killMs: null, startedAt: now, endedAt: now });
  await prepareAttempt(attemptPaths(root, 't', 'n', 2, 1, 'cccc'), job);
  mkdirSync(path.join(path.dirname(lost.dir), '1-1.partial'));
  const history = await readAttemptHistory(root, 't', 'n', 1);
  assert.deepEqual(history.map((h) => `${h.attempt}:${h.outcome}@${h.worker}`), ['1:LOST@unknown', '1:COMPLETED@B']);
  assert.equal(history[0]?.startedAt, past.toISOString());
}));

void test('an outcome.json that cannot be read back is named for what it is, not as a lost worker', () => withRoot(async (root) => {
  const write = async (k: number, content: string | null) => {
    const p = attemptPaths(root, 't', 'n', 1, k);
    await prepareAttempt(p, job);
    if (content === null) mkdirSync(path.join(p.dir, 'outcome.json')); // EISDIR on read, even for root
    else writeFileSync(path.join(p.dir, 'outcome.json'), content);
  };
  await write(1, '{"worker":"A","attempt":1,');
  await write(2, JSON.stringify({ worker: 'A', attempt: 1, activityAttempt: 2, status: 'exploded' }));
  await write(3, null);
  const p4 = attemptPaths(root, 't', 'n', 1, 4);
  await prepareAttempt(p4, job);
  const history = await readAttemptHistory(root, 't', 'n', 1);
  assert.deepEqual(history.map((h) => `${h.attempt}:${h.outcome}`), ['1:LOST', '2:LOST', '3:LOST', '4:LOST']);
  assert.equal(history[0]?.error, 'outcome.json is not JSON (a partial write?)');
  assert.match(history[1]?.error ?? '', /^outcome\.json is not an attempt record: .*status/);
  assert.equal(history[2]?.error, 'outcome.json cannot be read (EISDIR)');
  assert.equal(history[3]?.error, 'no outcome recorded: the worker was lost mid-attempt');
}));
