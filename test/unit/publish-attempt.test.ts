/**
 * publishAttempt (activities/publish.ts) and readSmallText (activities/result-manifest.ts) after
 * issue 15's cuts of the handoff's file work: the manifest and the output are read through
 * handles in parallel (the output opened without following symlinks and without blocking on a
 * FIFO), node-result.json and the commit are synchronous, a folder's mode is set alongside its
 * walk. These are the guarantees those cuts must keep: what is hashed and refused, read-only
 * results, one published folder per attempt, the error types.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BlockCrashedError } from '../../activities/errors';
import { NODE_RESULT_FILE, OUTPUT_FILE, publishAttempt, publishedDir, readPublished, type RunFacts } from '../../activities/publish';
import { readResultManifest, readSmallText, UnreadableFileError } from '../../activities/result-manifest';
import { readRunnerFailure } from '../../activities/runner-output';
import { attemptPaths } from '../../activities/workspace';

const facts: RunFacts = {
  imageDigest: null, executor: 'inprocess', worker: 'w', startedAt: '2026-11-29T00:00:00.000Z', endedAt: '2026-11-29T00:00:01.000Z', activityAttempt: 1, peakMemoryMB: null,
};

function withRoot(body: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'ragomics-publish-'));
  return body(root).finally(() => {
    // Published folders are read-only: writable again before removing.
    execFileSync('chmod', ['-R', 'u+w', root]);
    rmSync(root, { recursive: true, force: true });
  });
}

/** An attempt's output folder as a runner leaves it: result.json, and `data` as the AnnData output unless null. */
function output(root: string, name: string, data: Buffer | string | null, manifest: unknown = { summary: 's', figures: ['umap.png'] }): string {
  const out = path.join(root, 'trees', 't', 'nodes', 'n', 'attempts', name, 'output');
  mkdirSync(path.join(out, 'figures', 'deeper'), { recursive: true });
  writeFileSync(path.join(out, 'figures', 'umap.png'), 'png');
  writeFileSync(path.join(out, 'figures', 'deeper', 'x.txt'), 'x');
  writeFileSync(path.join(out, 'result.json'), JSON.stringify(manifest));
  if (data !== null) writeFileSync(path.join(out, OUTPUT_FILE), data);
  return out;
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

for (const [what, bytes] of [['an empty', 0], ['a small', 100], ['a 64 KiB', 64 * 1024], ['a larger than the first read', 200 * 1024 + 7]] as const) {
  void test(`publishAttempt hashes ${what} output exactly; everything published is read-only`, () => withRoot(async (root) => {
    const data = Buffer.alloc(bytes, 7);
    if (bytes > 0) data[bytes - 1] = 1;
    const out = output(root, '1-1', data);
    const result = await publishAttempt({ root, treeId: 't', nodeId: 'n', attempt: 1, outputDir: out, facts });
    const final = publishedDir(root, 't', 'n', 1);
    assert.equal(result.outputSha256, sha(data));
    assert.equal(result.outputPath, path.join(final, OUTPUT_FILE));
    assert.deepEqual(result.figures, [path.join(final, 'figures', 'umap.png')]);
    assert.equal(result.reused, false);
    for (const f of [OUTPUT_FILE, 'result.json', NODE_RESULT_FILE, 'figures/umap.png', 'figures/deeper/x.txt']) assert.equal(statSync(path.join(final, f)).mode & 0o777, 0o444, f);
    for (const d of ['', 'figures', 'figures/deeper']) assert.equal(statSync(path.join(final, d)).mode & 0o777, 0o555, d || 'top');
    assert.deepEqual(JSON.parse(readFileSync(path.join(final, NODE_RESULT_FILE), 'utf8')), result);
    assert.deepEqual(await readPublished(root, 't', 'n', 1), { ...result, reused: true });
  }));
}

void test('publishAttempt without an AnnData output: a success without data (outputPath and outputSha256 empty)', () => withRoot(async (root) => {
  const result = await publishAttempt({ root, treeId: 't', nodeId: 'n', attempt: 1, outputDir: output(root, '1-1', null), facts });
  assert.equal(result.outputPath, '');
  assert.equal(result.outputSha256, '');
}));

void test('publishAttempt refuses an output that is a symlink, a folder or a FIFO (BlockCrashedError, nothing published, no hang)', () => withRoot(async (root) => {
  const target = path.join(root, 'elsewhere.h5ad');
  writeFileSync(target, 'not the node\'s');
  const cases: [string, (file: string) => void][] = [
    ['symlink', (f) => symlinkSync(target, f)],
    ['folder', (f) => mkdirSync(f)],
    ['fifo', (f) => execFileSync('mkfifo', [f])],
  ];
  for (const [name, make] of cases) {
    const out = output(root, `1-${name}`, null);
    make(path.join(out, OUTPUT_FILE));
    await assert.rejects(publishAttempt({ root, treeId: 't', nodeId: 'n', attempt: 1, outputDir: out, facts }), (e: unknown) => {
      assert.ok(e instanceof BlockCrashedError, name);
      assert.match(e.message, /is not a regular file$/);
      return true;
    });
    assert.equal(await readPublished(root, 't', 'n', 1), null, name);
  }
}));

void test('publishAttempt: a missing or malformed result.json is the failure reported, before a bad output', () => withRoot(async (root) => {
  const missing = output(root, '1-1', null);
  rmSync(path.join(missing, 'result.json'));
  symlinkSync(path.join(root, 'nowhere'), path.join(missing, OUTPUT_FILE));
  await assert.rejects(publishAttempt({ root, treeId: 't', nodeId: 'n', attempt: 1, outputDir: missing, facts }), (e: unknown) => e instanceof BlockCrashedError && /wrote no result\.json/.test(e.message));
  const malformed = output(root, '1-2', 'data', { shape: 'wide' });
  await assert.rejects(publishAttempt({ root, treeId: 't', nodeId: 'n', attempt: 1, outputDir: malformed, facts }), (e: unknown) => e instanceof BlockCrashedError && /result\.json is malformed/.test(e.message));
}));

void test('publishAttempt twice for one workflow attempt: the second returns the first one\'s stored result, which stays untouched', () => withRoot(async (root) => {
  const first = await publishAttempt({ root, treeId: 't', nodeId: 'n', attempt: 1, outputDir: output(root, '1-1', 'one'), facts });
  const secondOut = output(root, '1-2', 'two');
  const second = await publishAttempt({ root, treeId: 't', nodeId: 'n', attempt: 1, outputDir: secondOut, facts: { ...facts, activityAttempt: 2 } });
  assert.deepEqual(second, { ...first, reused: true });
  assert.equal(readFileSync(path.join(publishedDir(root, 't', 'n', 1), OUTPUT_FILE), 'utf8'), 'one');
  // The loser's staging folder is left where it was.
  assert.equal(readFileSync(path.join(secondOut, OUTPUT_FILE), 'utf8'), 'two');
}));

void test('readSmallText: a small file in one read, a file that fills the first read in full, a missing one or a FIFO as an error (no hang)', () => withRoot(async (root) => {
  writeFileSync(path.join(root, 'small'), 'héllo');
  assert.equal(await readSmallText(path.join(root, 'small')), 'héllo');
  for (const size of [64 * 1024, 64 * 1024 + 1, 300 * 1024]) {
    const text = 'ab'.repeat(size).slice(0, size);
    writeFileSync(path.join(root, 'big'), text);
    assert.equal(await readSmallText(path.join(root, 'big')), text, String(size));
  }
  await assert.rejects(readSmallText(path.join(root, 'gone')), { code: 'ENOENT' });
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
  // A positional read of a pipe: ESPIPE on Linux (EAGAIN where it is allowed and nothing was written).
  await assert.rejects(readSmallText(path.join(root, 'fifo')), (e: NodeJS.ErrnoException) => /^(ESPIPE|EAGAIN)$/.test(e.code ?? ''));
}));

void test('readSmallText never follows a link and reads at most its cap: a block cannot make the worker read a host file, a device or without bound', () => withRoot(async (root) => {
  writeFileSync(path.join(root, 'host-secret'), 'secret');
  symlinkSync(path.join(root, 'host-secret'), path.join(root, 'link'));
  await assert.rejects(readSmallText(path.join(root, 'link')), { code: 'ELOOP' });
  symlinkSync('/dev/zero', path.join(root, 'zero'));
  await assert.rejects(readSmallText(path.join(root, 'zero')), { code: 'ELOOP' });
  writeFileSync(path.join(root, 'large'), 'x'.repeat(200 * 1024));
  await assert.rejects(readSmallText(path.join(root, 'large'), 100 * 1024), (e: unknown) => e instanceof UnreadableFileError && /holds 204800 bytes, more than the 102400 read/.test(e.message));
  assert.equal((await readSmallText(path.join(root, 'large'), 200 * 1024)).length, 200 * 1024, 'at the cap: read');
  // result.json as a link: a crash that says why, not "wrote no result.json".
  const out = path.join(root, 'out');
  mkdirSync(out);
  symlinkSync('/dev/zero', path.join(out, 'result.json'));
  await assert.rejects(readResultManifest(out, () => undefined), (e: unknown) => e instanceof BlockCrashedError && /result\.json in .* cannot be read: it is a symbolic link$/.test(e.message));
}));

void test('readRunnerFailure: an error.json that is a FIFO or a link is ignored, not waited on or followed', () => withRoot(async (root) => {
  const paths = attemptPaths(root, 't', 'n', 1, 1);
  const { outputDir } = paths;
  mkdirSync(outputDir, { recursive: true });
  writeFileSync(paths.stderrLog, 'Traceback: boom\n');
  execFileSync('mkfifo', [path.join(outputDir, 'error.json')]);
  assert.deepEqual(await readRunnerFailure(paths), { stderrTail: 'Traceback: boom', runnerError: null });
  rmSync(path.join(outputDir, 'error.json'));
  writeFileSync(path.join(root, 'elsewhere.json'), JSON.stringify({ code: 64, type: 'X', message: 'from outside' }));
  symlinkSync(path.join(root, 'elsewhere.json'), path.join(outputDir, 'error.json'));
  assert.equal((await readRunnerFailure(paths)).runnerError, null);
  rmSync(path.join(outputDir, 'error.json'));
  writeFileSync(path.join(outputDir, 'error.json'), JSON.stringify({ code: 64, type: 'InvalidParameters', message: 'bad' }));
  assert.deepEqual((await readRunnerFailure(paths)).runnerError, { code: 64, type: 'InvalidParameters', message: 'bad' });
}));
