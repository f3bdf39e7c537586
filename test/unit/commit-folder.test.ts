/** commitFolder (activities/publish.ts): a published folder appears whole or not at all, read-only, and a lost race leaves the winner untouched. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { commitFolder } from '../../activities/publish';

async function filled(dir: string, text: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'f.txt'), text);
  return dir;
}

async function withTemp(body: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'commit-folder-'));
  try {
    await body(root);
  } finally {
    // Read-only folders inside: writable again before removing.
    execFileSync('chmod', ['-R', 'u+w', root]);
    await rm(root, { recursive: true, force: true });
  }
}

void test('commitFolder: moves the staging folder into place under a parent it makes, and makes it read-only', () => withTemp(async (root) => {
  const staging = await filled(path.join(root, 'staging'), 'one');
  const final = path.join(root, 'a', 'b', 'final');
  assert.equal(await commitFolder(staging, final), 'committed');
  assert.equal(await readFile(path.join(final, 'f.txt'), 'utf8'), 'one');
  assert.equal((await stat(final)).mode & 0o777, 0o555);
  await assert.rejects(stat(staging), { code: 'ENOENT' });
}));

void test('commitFolder: a folder already in place wins; it is untouched and the staging folder is left to the caller', () => withTemp(async (root) => {
  const final = path.join(root, 'final');
  assert.equal(await commitFolder(await filled(path.join(root, 's1'), 'first'), final), 'committed');
  const second = await filled(path.join(root, 's2'), 'second');
  assert.equal(await commitFolder(second, final), 'exists');
  assert.equal(await readFile(path.join(final, 'f.txt'), 'utf8'), 'first');
  assert.equal(await readFile(path.join(second, 'f.txt'), 'utf8'), 'second');
}));

void test('commitFolder: parentMade skips the mkdir; any other error is thrown', () => withTemp(async (root) => {
  const final = path.join(root, 'missing-parent', 'final');
  await assert.rejects(commitFolder(await filled(path.join(root, 's'), 'x'), final, { parentMade: true }), { code: 'ENOENT' });
  await assert.rejects(commitFolder(path.join(root, 'no-such-staging'), path.join(root, 'final')), { code: 'ENOENT' });
}));
