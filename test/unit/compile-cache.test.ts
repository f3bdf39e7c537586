/**
 * The CLI's V8 code cache (client/compile-cache.ts): a second run compiles from the cache and
 * behaves as Node's own loading does (`import()`, `require.resolve`, stack lines and columns); an
 * edited source of the same length is never served stale; damaged or foreign data is only a
 * miss; a failed command writes nothing; an unsafe or disabled folder, or no home folder, turns
 * the cache off without failing the command. Each case runs real child processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileCacheDir } from '../../client/compile-cache';

const HOOK = path.resolve(__dirname, '..', '..', 'client', 'compile-cache.js');
const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'ragomics.js');

interface Outcome { value: string; where: string; first: string; resolved: string; hits: number; misses: number; reason: string | null; dir: string | null }

/** The child's environment: no NODE_OPTIONS of the caller (e.g. --enable-source-maps turns the cache off). */
function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  // The caller's choices of how bin/ragomics.js loads the CLI: each test sets its own.
  for (const k of ['RAGOMICS_CLI_BUNDLE', 'RAGOMICS_DEBUG']) if (!(k in extra)) delete env[k];
  return env;
}

/**
 * A fixture program: enables the cache, then loads a module that uses import() (through dyn.js),
 * require and require.resolve, and reports stack lines (one on line 1: columns there depend on
 * how the module was wrapped). `exit` makes it end with that code; `noHome` makes os.homedir() throw.
 */
function fixture(): { dir: string; cache: string; run: (env?: NodeJS.ProcessEnv) => Outcome } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ragomics-cc-'));
  const cache = path.join(dir, 'cache');
  writeFileSync(path.join(dir, 'main.js'), [
    `if (process.env.FIXTURE_NO_HOME) require('node:os').homedir = () => { throw new Error('no home folder'); };`,
    `const st = require(${JSON.stringify(HOOK)}).enableCompileCache('t');`,
    `const m = require('./mod.js');`,
    `m.run().then((value) => {`,
    `  console.log(JSON.stringify({ value, where: m.where(), first: m.first(), resolved: m.resolved(), hits: st.hits, misses: st.misses, reason: st.reason, dir: st.dir }));`,
    `  process.exitCode = Number(process.env.FIXTURE_EXIT ?? 0);`,
    `});`,
  ].join('\n'));
  writeFileSync(path.join(dir, 'mod.js'), [
    `'use strict'; exports.first = () => new Error('line 1').stack.split('\\n')[1];`,
    `exports.run = async () => (await require('./dyn.js').load()) + require('./dep.js').value;`,
    `exports.where = () => new Error('here').stack.split('\\n')[1];`,
    `exports.resolved = () => require.resolve('./dep.js');`,
  ].join('\n'));
  // A module with a dynamic import() is left to Node's own loader (client/compile-cache.ts says why).
  writeFileSync(path.join(dir, 'dyn.js'), `exports.load = async () => (await import('./esm.mjs')).value;\n`);
  writeFileSync(path.join(dir, 'dep.js'), `exports.value = 'A1';\n`);
  writeFileSync(path.join(dir, 'esm.mjs'), `export const value = 'esm-';\n`);
  const run = (env: NodeJS.ProcessEnv = {}): Outcome => {
    const r = spawnSync(process.execPath, [path.join(dir, 'main.js')], { env: childEnv({ RAGOMICS_COMPILE_CACHE: cache, ...env }), encoding: 'utf8' });
    assert.equal(r.stderr, '', 'nothing on stderr');
    return JSON.parse(r.stdout) as Outcome;
  };
  return { dir, cache, run };
}

const entries = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.bin')).sort();

void test('compile cache: the first run writes an entry per module, the second compiles every one from them and behaves as Node\'s own loading', () => {
  const f = fixture();
  try {
    const plain = f.run({ RAGOMICS_COMPILE_CACHE: '0' });
    const first = f.run();
    assert.equal(first.reason, null);
    assert.equal(first.dir, compileCacheDir({ RAGOMICS_COMPILE_CACHE: f.cache }, 't'));
    assert.deepEqual([first.hits, first.misses], [0, 2], 'mod.js and dep.js compiled; dyn.js (import()) and esm.mjs left to Node');
    assert.equal(entries(first.dir!).length, 2);
    assert.deepEqual(readdirSync(first.dir!).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left');
    const second = f.run();
    assert.deepEqual([second.hits, second.misses], [2, 0]);
    assert.equal(second.value, 'esm-A1', 'import() and require work from cached code');
    assert.equal(second.resolved, path.join(f.dir, 'dep.js'));
    // Stack lines, line 1's columns included, as Node's own loading gives them.
    assert.match(plain.first, /mod\.js:1:\d+\)?$/);
    assert.deepEqual([first.first, first.where, second.first, second.where], [plain.first, plain.where, plain.first, plain.where]);
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
    const again = f.run();
    assert.deepEqual([again.value, again.hits, again.misses], ['esm-B2', 2, 0], 'the entry was rewritten for the new source');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

void test('compile cache: damaged data behind an intact header, or another module\'s data, is a miss; the module loads and its entry is rewritten', () => {
  const f = fixture();
  try {
    const dir = f.run().dir!;
    const [a, b] = entries(dir).map((n) => path.join(dir, n));
    // Damage: flip bytes in V8's data (its SHA-256 in the header no longer matches).
    const damaged = readFileSync(a!);
    for (let i = 80; i < damaged.length; i += 97) damaged[i] = damaged[i]! ^ 0xff;
    writeFileSync(a!, damaged);
    const hb = readFileSync(b!);
    const orig = f.run(); // a was damaged: rewritten at exit
    assert.deepEqual([orig.value, orig.hits, orig.misses], ['esm-A1', 1, 1]);
    // Foreign: b's header keeps b's source digest but carries a's data with a's data digest, so
    // every check of ours passes and V8 itself must reject it (another source).
    const fresh = readFileSync(a!);
    writeFileSync(b!, Buffer.concat([hb.subarray(0, 32), fresh.subarray(32)]));
    const foreign = f.run();
    assert.deepEqual([foreign.value, foreign.hits, foreign.misses], ['esm-A1', 1, 1], 'V8 rejected data made for another source');
    const healed = f.run();
    assert.deepEqual([healed.hits, healed.misses], [2, 0], 'both entries rewritten');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

void test('compile cache: a command that ends with a non-zero exit code writes no entry', () => {
  const f = fixture();
  try {
    const failed = f.run({ FIXTURE_EXIT: '2' });
    assert.equal(failed.misses, 2);
    assert.deepEqual(entries(failed.dir!), []);
    assert.equal(f.run().misses, 2, 'the next successful run compiles and writes them');
    assert.equal(f.run().hits, 2);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

void test('compile cache: off with RAGOMICS_COMPILE_CACHE=0, without a home folder, and in or under a folder others can write to; the command still runs', () => {
  const f = fixture();
  try {
    for (const v of ['0', 'off', 'OFF']) {
      const off = f.run({ RAGOMICS_COMPILE_CACHE: v });
      assert.equal(off.reason, 'RAGOMICS_COMPILE_CACHE is off');
      assert.deepEqual([off.dir, off.hits, off.misses, off.value], [null, 0, 0, 'esm-A1']);
    }
    const homeless = f.run({ RAGOMICS_COMPILE_CACHE: '', XDG_CACHE_HOME: '', FIXTURE_NO_HOME: '1' });
    assert.deepEqual([homeless.dir, homeless.reason, homeless.value], [null, 'no compile cache: no home folder', 'esm-A1']);

    const dir = compileCacheDir({ RAGOMICS_COMPILE_CACHE: f.cache }, 't')!;
    f.run();
    chmodSync(dir, 0o777);
    const unsafe = f.run();
    assert.equal(unsafe.reason, `${dir} is writable by others`);
    assert.deepEqual([unsafe.dir, unsafe.hits, unsafe.value], [null, 0, 'esm-A1'], 'entries in a folder others can write to are not read');

    const shared = path.join(f.dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777); // writable by all and not sticky: anyone could swap the folders below
    const under = f.run({ RAGOMICS_COMPILE_CACHE: path.join(shared, 'cc') });
    assert.equal(under.reason, `${shared} (above the cache folder) is writable by others`);
    chmodSync(shared, 0o1777); // sticky, like /tmp: only owners can rename or remove what is in it
    assert.equal(f.run({ RAGOMICS_COMPILE_CACHE: path.join(shared, 'cc') }).reason, null);
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

void test('compile cache: `ragomics --version` through bin/ragomics.js writes its entries once, then runs from them unchanged (the compiled modules, and the CLI bundle)', () => {
  const bundle = path.resolve(__dirname, '..', '..', 'client', 'cli.bundle.js');
  for (const [label, extra, atLeast] of [['compiled modules', { RAGOMICS_CLI_BUNDLE: '0' }, 100], ['bundle', {}, 1]] as const) {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'ragomics-cc-cli-'));
    try {
      const env = childEnv({ RAGOMICS_COMPILE_CACHE: cache, ...extra });
      const first = execFileSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' });
      const dir = compileCacheDir(env, '--version')!;
      const written = entries(dir);
      assert.ok(written.length > atLeast, `${label}: the CLI's modules cached (${written.length} entries)`);
      const bundleEntry = `${createHash('sha256').update(bundle).digest('hex').slice(0, 40)}.bin`;
      assert.equal(written.includes(bundleEntry), label === 'bundle', `${label}: an entry for cli.bundle.js only when it is loaded`);
      const stamps = written.map((n) => statSync(path.join(dir, n)).mtimeMs);
      const second = spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' });
      assert.deepEqual([second.status, second.stdout, second.stderr], [0, first, ''], `${label}: the same output, and no warning on stderr`);
      // A miss is rewritten at exit: entries left as they were mean every module was a hit.
      assert.deepEqual(entries(dir), written);
      assert.deepEqual(written.map((n) => statSync(path.join(dir, n)).mtimeMs), stamps, `${label}: no entry rewritten: every module compiled from its entry`);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
});
