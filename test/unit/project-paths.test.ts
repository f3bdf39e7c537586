/** The one way to find the checkout, and the one place deciding the blocks image. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { blocksImageTagFile, resolveBlocksImage } from '../../activities/executors/blocks-image';
import { packageVersion, repoRoot } from '../../activities/executors/repo-root';
import { PROJECT_ROOT } from '../../workers/config';

void test('repoRoot is the folder of ragomics\' package.json, from dist/ as from source; --version reads it', () => {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { name: string; version: string };
  assert.equal(pkg.name, 'ragomics');
  assert.equal(packageVersion(), pkg.version);
  assert.equal(PROJECT_ROOT, repoRoot());
  assert.ok(!path.relative(repoRoot(), __dirname).startsWith('..'), 'this compiled test lies inside the checkout');
});

void test('the blocks image: the configured one wins, else the recorded tag, else ragomics/blocks:latest', () => {
  assert.equal(resolveBlocksImage('mine:1'), 'mine:1');
  let recorded = '';
  try {
    recorded = readFileSync(blocksImageTagFile(), 'utf8').trim();
  } catch {
    // not built in this checkout
  }
  assert.equal(resolveBlocksImage(''), recorded || 'ragomics/blocks:latest');
});
