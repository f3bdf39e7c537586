/** The one way to find the checkout (or installed package) and its state folders, and the one place deciding the blocks image. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blocksImageTagFile, readBlocksImageTag, resolveBlocksImage } from '../../activities/executors/blocks-image';
import { ExecutorUnavailableError } from '../../activities/errors';
import { dataDir, isInstalledPackage, packageVersion, repoRoot, toolsDir } from '../../activities/executors/repo-root';
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

void test('the blocks image tag: missing means never built; one that cannot be read is an error naming the file, not the default image', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tag-'));
  const saved = process.env.RAGOMICS_DATA_DIR;
  try {
    process.env.RAGOMICS_DATA_DIR = dir;
    const file = blocksImageTagFile();
    assert.equal(file, path.join(dir, 'blocks-image'));
    assert.equal(resolveBlocksImage(''), 'ragomics/blocks:latest');
    await assert.rejects(readBlocksImageTag(file), (e: unknown) => e instanceof ExecutorUnavailableError && e.message === `no blocks image recorded in ${file}; build the blocks image first`);
    // A folder where the tag file should be: EISDIR, whoever runs the test (root reads any file).
    mkdirSync(file);
    assert.throws(() => resolveBlocksImage(''), { message: `cannot read the blocks image tag in ${file}: EISDIR` });
    await assert.rejects(readBlocksImageTag(file), (e: unknown) => e instanceof ExecutorUnavailableError && e.message === `cannot read the blocks image tag in ${file}: EISDIR`);
  } finally {
    if (saved === undefined) delete process.env.RAGOMICS_DATA_DIR;
    else process.env.RAGOMICS_DATA_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('state: RAGOMICS_DATA_DIR / RAGOMICS_TOOLS_DIR win; else .data/.tools in a checkout; else $RAGOMICS_HOME (default ~/.ragomics) when installed', () => {
  const checkout = path.join(path.sep, 'src', 'ragomics');
  const installed = path.join(path.sep, 'usr', 'lib', 'node_modules', 'ragomics');
  assert.equal(isInstalledPackage(checkout), false);
  assert.equal(isInstalledPackage(installed), true);
  // A folder merely named like node_modules is not one.
  assert.equal(isInstalledPackage(path.join(path.sep, 'src', 'my_node_modules', 'ragomics')), false);

  const home = os.homedir();
  assert.equal(dataDir({}, checkout), path.join(checkout, '.data'));
  assert.equal(toolsDir({}, checkout), path.join(checkout, '.tools'));
  assert.equal(dataDir({}, installed), path.join(home, '.ragomics', 'data'));
  assert.equal(toolsDir({}, installed), path.join(home, '.ragomics', 'tools'));
  assert.equal(dataDir({ RAGOMICS_HOME: '/srv/rg' }, installed), path.join('/srv/rg', 'data'));
  assert.equal(toolsDir({ RAGOMICS_HOME: '/srv/rg' }, installed), path.join('/srv/rg', 'tools'));
  // RAGOMICS_HOME is the installed package's home only: a checkout keeps its own folders.
  assert.equal(dataDir({ RAGOMICS_HOME: '/srv/rg' }, checkout), path.join(checkout, '.data'));
  for (const root of [checkout, installed]) {
    assert.equal(dataDir({ RAGOMICS_DATA_DIR: '/var/rg', RAGOMICS_HOME: '/srv/rg' }, root), '/var/rg');
    assert.equal(toolsDir({ RAGOMICS_TOOLS_DIR: '/opt/rg-tools' }, root), '/opt/rg-tools');
  }
  // Relative settings are taken from the working directory, as a shell user means them.
  assert.equal(dataDir({ RAGOMICS_DATA_DIR: 'state' }, installed), path.resolve('state'));
});

void test('scripts/lib.sh applies the same rule as repo-root.ts to DATA_DIR and TOOLS_DIR', () => {
  const lib = path.join(repoRoot(), 'scripts', 'lib.sh');
  const dirs = (env: Record<string, string>): string[] => execFileSync('bash', ['-c', `source "${lib}"; echo "$DATA_DIR"; echo "$TOOLS_DIR"; echo "$RAGOMICS_INSTALLED"`], {
    env: { PATH: process.env.PATH ?? '', HOME: '/home/someone', ...env }, encoding: 'utf8',
  }).trim().split('\n');
  // This checkout (not under node_modules).
  assert.deepEqual(dirs({}), [path.join(realpathSync(repoRoot()), '.data'), path.join(realpathSync(repoRoot()), '.tools'), '0']);
  assert.deepEqual(dirs({ RAGOMICS_DATA_DIR: '/var/rg', RAGOMICS_TOOLS_DIR: '/opt/t' }), ['/var/rg', '/opt/t', '0']);
  // The same scripts inside an installed package's folder: a copy under .../node_modules/ragomics.
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ragomics-libsh-'));
  try {
    const pkgScripts = path.join(tmp, 'lib', 'node_modules', 'ragomics', 'scripts');
    mkdirSync(pkgScripts, { recursive: true });
    copyFileSync(lib, path.join(pkgScripts, 'lib.sh'));
    const installed = (env: Record<string, string>): string[] => execFileSync('bash', ['-c', `source "${path.join(pkgScripts, 'lib.sh')}"; echo "$DATA_DIR"; echo "$TOOLS_DIR"; echo "$RAGOMICS_INSTALLED"`], {
      env: { PATH: process.env.PATH ?? '', HOME: '/home/someone', ...env }, encoding: 'utf8',
    }).trim().split('\n');
    assert.deepEqual(installed({}), ['/home/someone/.ragomics/data', '/home/someone/.ragomics/tools', '1']);
    assert.deepEqual(installed({ RAGOMICS_HOME: '/srv/rg' }), ['/srv/rg/data', '/srv/rg/tools', '1']);
    assert.deepEqual(installed({ RAGOMICS_HOME: '/srv/rg', RAGOMICS_DATA_DIR: '/var/rg' }), ['/var/rg', '/srv/rg/tools', '1']);
    // And the TypeScript side answers the same for that folder.
    const root = path.dirname(pkgScripts);
    assert.equal(dataDir({ HOME: '/home/someone', RAGOMICS_HOME: '/srv/rg' }, root), '/srv/rg/data');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
