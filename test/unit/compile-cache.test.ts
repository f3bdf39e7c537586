/**
 * The CLI's V8 code cache (client/compile-cache.ts): a second run compiles from the cache and
 * behaves the same (`import()`, `require.resolve`, stack traces), an edited source of the same
 * length is never served stale, a corrupt entry is only a miss, and an unsafe or disabled folder
 * turns the cache off without failing the command. Each case runs real child processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileCacheDir } from '../../client/compile-cache';

const HOOK = path.resolve(__dirname, '..', '..', 'client', 'compile-cache.js');
const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'ragomics.js');

interface Outcome { value: string; where: string; resolved: string; hits: number; misses: number; reason: string | null; dir: string | null }

/** A fixture program: enables the cache, then loads a module that uses import(), require and require.resolve. */
function fixture(): { dir: string; cache: string; run: (env?: NodeJS.ProcessEnv) => Outcome } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ragomics-cc-'));
  const cache = path.join(dir, 'cache');
  writeFileSync(path.join(dir, 'main.js'), [
    `const st = require(${JSON.stringify(HOOK)}).enableCompileCache('t');`,
    `const m = require('./mod.js');`,
    `m.run().then((value) => console.log(JSON.stringify({ value, where: m.where(), resolved: m.resolved(), hits: st.hits, misses: st.misses, reason: st.reason, dir: st.dir })));`,
  ].join('\n'));
  writeFileSync(path.join(dir, 'mod.js'), [
    `'use strict';`,
    `exports.run = async () => (await require('./dyn.js').load()) + require('./dep.js').value;`,
    `exports.where = () => new Error('here').stack.split('\\n')[1];`,
    `exports.resolved = () => require.resolve('./dep.js');`,
  ].join('\n'));
  // A module with a dynamic import() is left to Node's own loader (client/compile-cache.ts says why).
  writeFileSync(path.join(dir, 'dyn.js'), `exports.load = async () => (await import('./esm.mjs')).value;\n`);
  writeFileSync(path.join(dir, 'dep.js'), `exports.value = 'A1';\n`);
  writeFileSync(path.join(dir, 'esm.mjs'), `export const value = 'esm-';\n`);
  const run = (env: NodeJS.ProcessEnv = {}): Outcome => JSON.parse(execFileSync(process.execPath, [path.join(dir, 'main.js')], {
    env: { ...process.env, RAGOMICS_COMPILE_CACHE: cache, ...env }, encoding: 'utf8',
  })) as Outcome;
  return { dir, cache, run };
}

void test('compile cache: the first run writes an entry per module, the second compiles every one from them, with the same behaviour (import(), require.resolve, stack lines)', () => {
  const f = fixture();
  try {
    const first = f.run();
    assert.equal(first.reason, null);
    assert.equal(first.dir, compileCacheDir({ RAGOMICS_COMPILE_CACHE: f.cache }, 't'));
    assert.deepEqual([first.hits, first.misses], [0, 2], 'mod.js and dep.js compiled; dyn.js (import()) and esm.mjs left to Node');
    assert.equal(readdirSync(first.dir!).filter((n) => n.endsWith('.bin')).length, 2);
    const second = f.run();
    assert.deepEqual([second.hits, second.misses], [2, 0]);
    assert.equal(second.value, 'esm-A1', 'import() and require work from cached code');
    assert.equal(second.resolved, path.join(f.dir, 'dep.js'));
    assert.match(second.where, new RegExp(`${path.join(f.dir, 'mod.js').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:`), 'stack traces name the file and line');
    assert.deepEqual({ ...second, hits: 0, misses: 0 }, { ...first, hits: 0, misses: 0 });
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

void test('compile cache: an edited module of the same length is compiled afresh, never served from its old entry', () => {
  const f = fixture();
  try {
    f.run();
    writeFileSync(path.join(f.dir, 'dep.js'), `exports.value = 'B2';\n`); // same length as 'A1'
    const after = f.run();
    assert.equal(after.value, 'esm-B2');
    assert.deepEqual([after.hits, after.misses], [1, 1]);
    assert.deepEqual([f.run().hits, f.run().misses], [2, 0], 'the entry was rewritten for the new source');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

void test('compile cache: an entry whose data V8 rejects is a miss, and the module still loads', () => {
  const f = fixture();
  try {
    const first = f.run();
    for (const name of readdirSync(first.dir!)) {
      const file = path.join(first.dir!, name);
      const buf = readFileSync(file);
      buf.fill(0x5a, 32); // keep the digest, spoil V8's data
      writeFileSync(file, buf);
    }
    const spoiled = f.run();
    assert.equal(spoiled.value, 'esm-A1');
    assert.deepEqual([spoiled.hits, spoiled.misses], [0, 2]);
    assert.deepEqual([f.run().hits, f.run().misses], [2, 0], 'rewritten at exit');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

void test('compile cache: off with RAGOMICS_COMPILE_CACHE=0, and off (the command still runs) in a folder others can write to', () => {
  const f = fixture();
  try {
    for (const v of ['0', 'off', 'OFF']) {
      const off = f.run({ RAGOMICS_COMPILE_CACHE: v });
      assert.equal(off.reason, 'RAGOMICS_COMPILE_CACHE is off');
      assert.deepEqual([off.dir, off.hits, off.misses, off.value], [null, 0, 0, 'esm-A1']);
    }
    const dir = compileCacheDir({ RAGOMICS_COMPILE_CACHE: f.cache }, 't')!;
    f.run();
    chmodSync(dir, 0o777);
    const unsafe = f.run();
    assert.equal(unsafe.reason, `${dir} is writable by others`);
    assert.deepEqual([unsafe.dir, unsafe.hits, unsafe.value], [null, 0, 'esm-A1'], 'entries in a folder others can write to are not read');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

void test('compile cache: one folder per command, per Node version and architecture; other scopes fall back to "_"', () => {
  const base = path.resolve('/x/cc');
  const node = `node-${process.version}-${process.arch}`;
  assert.equal(compileCacheDir({ RAGOMICS_COMPILE_CACHE: base }, 'run'), path.join(base, node, 'run'));
  assert.equal(compileCacheDir({ RAGOMICS_COMPILE_CACHE: base }, '--version'), path.join(base, node, '_'));
  assert.equal(compileCacheDir({ RAGOMICS_COMPILE_CACHE: base }, '../etc'), path.join(base, node, '_'));
  assert.equal(compileCacheDir({ XDG_CACHE_HOME: '/xdg' }, 'status'), path.join('/xdg', 'ragomics', 'compile-cache', node, 'status'));
  assert.equal(compileCacheDir({}, 'status'), path.join(os.homedir(), '.cache', 'ragomics', 'compile-cache', node, 'status'));
});

void test('compile cache: `ragomics --version` twice through bin/ragomics.js, the second from the entries the first wrote', () => {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'ragomics-cc-cli-'));
  try {
    const env = { ...process.env, RAGOMICS_COMPILE_CACHE: cache };
    const first = execFileSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' });
    const dir = compileCacheDir(env, '--version')!;
    const entries = readdirSync(dir).filter((n) => n.endsWith('.bin'));
    assert.ok(entries.length > 100, `the CLI's modules cached (${entries.length} entries)`);
    const second = spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' });
    assert.deepEqual([second.status, second.stdout, second.stderr], [0, first, ''], 'the same output, and no warning on stderr');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
