/**
 * The CLI's one-file bundle (scripts/bundle-cli.js, client/cli-bundle.ts): bin/ragomics.js loads
 * it for short commands while it matches the compiled files it was made from, and the compiled
 * modules otherwise (an edit, a lost file, another package-lock.json, a missing or foreign
 * manifest, RAGOMICS_CLI_BUNDLE=0, RAGOMICS_DEBUG, `worker`/`dev`); both give the same answers.
 * The checks of the choice run on a fixture package; the rest runs the project's own build (made
 * by `npm run build`, which scripts/test.sh runs) in real child processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLE_FILE, LOCK_FILES, MANIFEST_FILE, MANIFEST_VERSION, bundleDigests, cliEntry } from '../../client/cli-bundle';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'ragomics.js');

/**
 * A package with two own files, a bundle, its manifest and npm's two lock files; `installed` puts
 * it in a node_modules folder (as npm installs a package) without lock files.
 */
function fixture(installed = false): { top: string; root: string; dir: string; write: (rel: string, text: string) => void } {
  const top = mkdtempSync(path.join(os.tmpdir(), 'ragomics-bundle-'));
  const root = installed ? path.join(top, 'node_modules', 'ragomics') : top;
  const dir = path.join(root, 'dist', 'client');
  const write = (rel: string, text: string): void => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  };
  write('dist/client/cli.js', 'exports.main = () => 1;\n');
  write('dist/common/schemas.js', 'exports.x = 1;\n');
  write(`dist/client/${BUNDLE_FILE}`, 'exports.main = () => 2;\n');
  if (!installed) {
    write('package-lock.json', '{"lockfileVersion":3}\n');
    write('node_modules/.package-lock.json', '{"lockfileVersion":3,"packages":{}}\n');
  }
  const files = ['dist/client/cli.js', 'dist/common/schemas.js'];
  write(`dist/client/${MANIFEST_FILE}`, JSON.stringify({ version: MANIFEST_VERSION, files, ...bundleDigests(root, files) }));
  return { top, root, dir, write };
}

function withFixture(fn: (f: ReturnType<typeof fixture>) => void, installed = false): void {
  const f = fixture(installed);
  try {
    fn(f);
  } finally {
    rmSync(f.top, { recursive: true, force: true });
  }
}

const BUNDLED = (root: string): string => path.join(root, 'dist', 'client', BUNDLE_FILE);
const COMPILED = (root: string): string => path.join(root, 'dist', 'client', 'cli.js');

void test('cli bundle: used while its files and the lock files match; an edit of the same length, a lost file, another or a lost lock file turn it off', () => {
  withFixture(({ dir }) => {
    const manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as { locks: Record<string, string> };
    assert.deepEqual(Object.keys(manifest.locks).sort(), [...LOCK_FILES].sort(), 'both lock files recorded');
  });
  withFixture(({ root }) => assert.deepEqual(cliEntry(root, {}), { file: BUNDLED(root), reason: null }));
  withFixture(({ root, write }) => {
    write('dist/common/schemas.js', 'exports.x = 2;\n'); // same length, other content
    const e = cliEntry(root, {});
    assert.equal(e.file, COMPILED(root));
    assert.match(e.reason ?? '', /compiled files changed/);
  });
  withFixture(({ root }) => {
    rmSync(path.join(root, 'dist', 'common', 'schemas.js'));
    const e = cliEntry(root, {});
    assert.equal(e.file, COMPILED(root));
    assert.match(e.reason ?? '', /is gone/);
  });
  withFixture(({ root, write }) => {
    write('package-lock.json', '{"lockfileVersion":2}\n');
    const e = cliEntry(root, {});
    assert.equal(e.file, COMPILED(root));
    assert.match(e.reason ?? '', /^package-lock\.json changed/);
  });
  // npm rewrites node_modules/.package-lock.json on every install (also --no-save, npm link).
  withFixture(({ root, write }) => {
    write('node_modules/.package-lock.json', '{"lockfileVersion":3,"packages":{"x":{}}}\n');
    assert.match(cliEntry(root, {}).reason ?? '', /^node_modules\/\.package-lock\.json changed/);
  });
  // A checkout whose lock file is gone is not an installed package: its dependencies are unknown.
  withFixture(({ root }) => {
    rmSync(path.join(root, 'package-lock.json'));
    assert.match(cliEntry(root, {}).reason ?? '', /^package-lock\.json changed/);
  });
});

void test('cli bundle: an installed package (in a node_modules folder, no lock files) uses its bundle while its own files match', () => {
  withFixture(({ root }) => assert.deepEqual(cliEntry(root, {}), { file: BUNDLED(root), reason: null }), true);
  withFixture(({ root, write }) => {
    write('dist/client/cli.js', 'exports.main = () => 3;\n');
    assert.match(cliEntry(root, {}).reason ?? '', /compiled files changed/);
  }, true);
});

void test('cli bundle: no manifest, a foreign one, or no bundle file: the compiled modules, with the reason; never a throw', () => {
  withFixture(({ root, dir }) => {
    rmSync(path.join(dir, MANIFEST_FILE));
    assert.match(cliEntry(root, {}).reason ?? '', /no cli\.bundle\.json/);
  });
  for (const bad of ['not json', '{"version":1,"files":[],"own":"x","lock":null}', '{"version":2,"files":[3],"own":"x","locks":{}}', '{"version":2,"files":[],"own":"x","locks":{"a":1}}', 'null']) {
    withFixture(({ root, dir }) => {
      writeFileSync(path.join(dir, MANIFEST_FILE), bad);
      const e = cliEntry(root, {});
      assert.equal(e.file, COMPILED(root), bad);
      assert.ok(e.reason, bad);
    });
  }
  withFixture(({ root, dir }) => {
    rmSync(path.join(dir, BUNDLE_FILE));
    assert.match(cliEntry(root, {}).reason ?? '', /cli\.bundle\.js is gone/);
  });
  // A path that cannot be read as the package at all.
  assert.equal(cliEntry('/nonexistent/ragomics', {}).file, COMPILED('/nonexistent/ragomics'));
});

void test('cli bundle: RAGOMICS_CLI_BUNDLE=0/off and RAGOMICS_DEBUG turn it off; RAGOMICS_DEBUG=0 does not', () => {
  withFixture(({ root }) => {
    for (const env of [{ RAGOMICS_CLI_BUNDLE: '0' }, { RAGOMICS_CLI_BUNDLE: 'OFF' }, { RAGOMICS_DEBUG: '1' }]) {
      const e = cliEntry(root, env);
      assert.equal(e.file, COMPILED(root), JSON.stringify(env));
      assert.ok(e.reason, JSON.stringify(env));
    }
    assert.equal(cliEntry(root, { RAGOMICS_DEBUG: '0', RAGOMICS_CLI_BUNDLE: '1' }).file, BUNDLED(root));
  });
});

/**
 * Runs bin/ragomics.js with `args`; returns its exit code, output, and whether it loaded the
 * bundle and the compiled cli.js (from the module cache at exit, written by a --require hook).
 */
function runBin(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string; bundle: boolean; compiled: boolean } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ragomics-bundle-run-'));
  try {
    const hook = path.join(dir, 'hook.js');
    const out = path.join(dir, 'loaded.json');
    writeFileSync(hook, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.keys(require.cache))));\n`);
    const childEnv: NodeJS.ProcessEnv = { ...process.env, RAGOMICS_COMPILE_CACHE: '0', ...env };
    delete childEnv.NODE_OPTIONS;
    if (env.RAGOMICS_DEBUG === undefined) delete childEnv.RAGOMICS_DEBUG;
    if (env.RAGOMICS_CLI_BUNDLE === undefined) delete childEnv.RAGOMICS_CLI_BUNDLE;
    const r = spawnSync(process.execPath, ['--require', hook, BIN, ...args], { env: childEnv, encoding: 'utf8', timeout: 60_000 });
    assert.ifError(r.error); // e.g. the timeout: said as such, not as a missing file below
    const loaded = JSON.parse(readFileSync(out, 'utf8')) as string[];
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, bundle: loaded.includes(BUNDLED(ROOT)), compiled: loaded.includes(COMPILED(ROOT)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void test('cli bundle: the build made a bundle that matches it, and bin/ragomics.js loads it (not the compiled cli.js) for a short command', () => {
  assert.deepEqual(cliEntry(ROOT, {}), { file: BUNDLED(ROOT), reason: null }, 'npm run build (scripts/test.sh) makes the bundle after tsc');
  const r = runBin(['--version']);
  assert.deepEqual([r.status, r.stderr, r.bundle, r.compiled], [0, '', true, false]);
  const off = runBin(['--version'], { RAGOMICS_CLI_BUNDLE: '0' });
  assert.deepEqual([off.status, off.stdout, off.bundle, off.compiled], [0, r.stdout, false, true]);
  // `worker` and `dev` run for hours and load the worker, which is not in the bundle.
  for (const command of ['worker', 'dev']) {
    const r2 = runBin([command, '--help']);
    assert.deepEqual([r2.status, r2.bundle, r2.compiled], [0, false, true], command);
    assert.match(r2.stdout, new RegExp(`^Usage: ragomics ${command} `), command);
  }
});

void test('cli bundle: a real command gives the same answer, exit code and error type from the bundle as from the compiled modules', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ragomics-bundle-spec-'));
  try {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'nodes:\n  - id: a\n    block: { name: nosuchblock }\n');
    const ok = path.join(dir, 'ok.yaml');
    writeFileSync(ok, 'nodes:\n  - id: a\n    block: { name: sleep, parameters: { seconds: 0 } }\n');
    // An invalid spec (the spec and block checks: zod, yaml, the catalog): exit 2, one line naming the field.
    // A valid one with no server to reach (the client and grpc-js, whose error is recognised by type): exit 3.
    for (const [spec, code, line] of [[bad, 2, /^error: .*bad\.yaml:3:14: nodes\[0\]\.block\.name: unknown block "nosuchblock"/], [ok, 3, /^error: cannot reach the Temporal server at 127\.0\.0\.1:1 /]] as const) {
      const env = { TEMPORAL_ADDRESS: '127.0.0.1:1' };
      const bundled = runBin(['run', spec], env);
      const compiled = runBin(['run', spec], { ...env, RAGOMICS_CLI_BUNDLE: '0' });
      assert.deepEqual([bundled.bundle, compiled.bundle], [true, false]);
      assert.equal(bundled.status, code, bundled.stderr);
      assert.match(bundled.stderr, line);
      assert.equal(bundled.stderr.trim().split('\n').length, 1, 'one line');
      assert.deepEqual([compiled.status, compiled.stdout, compiled.stderr], [bundled.status, bundled.stdout, bundled.stderr]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('cli bundle: each relative require() left in the bundle (the worker, kept out) resolves from the bundle\'s folder', () => {
  const code = readFileSync(BUNDLED(ROOT), 'utf8');
  const relative = [...code.matchAll(/\brequire\("(\.{1,2}\/[^"]+)"\)/g)].map((m) => m[1]!);
  assert.deepEqual(relative, ['../workers/main.js'], 'only the worker is required by a relative path');
  for (const rel of relative) assert.ok(existsSync(path.join(ROOT, 'dist', 'client', rel)), `${rel} exists next to the bundle`);
});
