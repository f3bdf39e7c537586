/**
 * The CLI and the SDK outside the checkout, as a new user gets them: `npm pack` in the checkout,
 * `npm install -g --prefix <tmp>/prefix ./ragomics-*.tgz`, then everything from an EMPTY
 * directory outside the checkout, with HOME set to an empty temporary folder:
 * - the CLI's short commands load its one-file bundle (scripts/bundle-cli.js);
 * - `ragomics --version` prints the package's version; an unknown command and a missing spec
 *   file exit non-zero with one line;
 * - `ragomics worker --executor inprocess` from the package against the shared dev server
 *   (TEMPORAL_ADDRESS, from scripts/test.sh), `ragomics run tree.yaml`, `ragomics status`: COMPLETED,
 *   the worker loading the workflow bundle shipped in the package;
 * - `ragomics dev --executor local` starts its own dev server (a free port; its database under
 *   `$HOME/.ragomics/data`) and a worker running the package's Python runtime; a tree completes
 *   with its outputs under `$HOME/.ragomics/data/workspace`; `ragomics dev --stop` stops the server;
 * - `ragomics dev` with the Docker executor does the same, its `build-image.sh` finding the blocks
 *   image of the package's `blocks/` (the one scripts/test.sh built: checked by tag first, so no
 *   build starts here);
 * - a TypeScript file `import { RagomicsClient, … } from 'ragomics'` type-checks with the
 *   checkout's tsc against the installed package's declarations (a wrong call is a type error),
 *   and, compiled, lists and describes the tree with node.
 *
 * The pack runs in a copy of the checkout's files (a clean dist/, as in a fresh clone).
 * The tools (the `temporal` CLI, the local executor's Python venv) are the checkout's, passed as
 * RAGOMICS_TOOLS_DIR, so nothing is installed from PyPI here; npm installs from its cache
 * (`--prefer-offline`; `npm ci` filled it). Pack and install times are printed, never asserted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, toolsDir } from '../activities/executors/repo-root';
import { cliEntry } from '../client/cli-bundle';
import { uid } from './helpers/harness';
import { freePort, isAlive, removeTree, tempDir, waitForPidExit, waitUntil } from './helpers/processes';

const run = promisify(execFile);
const ROOT = repoRoot();
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const SHARED_ADDRESS = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';

const work = tempDir('ragomics-pack');
const prefix = path.join(work, 'prefix');
const home = path.join(work, 'home');
const empty = path.join(work, 'empty');
const pkgDir = path.join(prefix, 'lib', 'node_modules', 'ragomics');
const BIN = path.join(prefix, 'bin', 'ragomics');
const children: ChildProcess[] = [];
let devServerPidFile = '';

/**
 * The environment of every command run "as the user": this process's, minus what points into
 * the checkout or was set for the checkout's tests (the workflow bundle, the blocks image, the
 * local Python, a data folder), with the temporary HOME and the package's bin first on PATH.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') || k.startsWith('RAGOMICS_') || k.startsWith('TEMPORAL_')) continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: home,
    PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH ?? ''}`,
    RAGOMICS_TOOLS_DIR: toolsDir(),
    // Keeps the containers of this suite countable by scripts/test.sh's leftover check.
    ...(process.env.RAGOMICS_CONTAINER_SCOPE ? { RAGOMICS_CONTAINER_SCOPE: process.env.RAGOMICS_CONTAINER_SCOPE } : {}),
    ...extra,
  };
}

/** `ragomics ARGS` (the installed bin, found on PATH as a user would) in the empty directory. */
async function ragomics(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('ragomics', args, { cwd: empty, env: userEnv(env), timeout: 180_000, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** A long-running `ragomics ARGS` (worker, dev) in the empty directory; its output collected. */
function startRagomics(args: string[], env: Record<string, string>): { child: ChildProcess; log: () => string } {
  const child = spawn('ragomics', args, { cwd: empty, env: userEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  child.stdout?.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
  return { child, log: () => log };
}

/** Sends SIGTERM (the worker's graceful stop) and waits for the process to be gone. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null) return;
  child.kill('SIGTERM');
  assert.ok(await waitForPidExit(child.pid, 60_000), `ragomics pid ${child.pid} did not exit after SIGTERM`);
}

/** A two-node tree of sleep blocks, written in the empty directory. */
function writeTree(file: string, id: string): string {
  writeFileSync(path.join(empty, file), [
    `id: ${id}`,
    'userRequest: packed CLI outside the checkout',
    'nodes:',
    '  - id: first',
    '    block: { name: sleep, parameters: { seconds: 0.2 } }',
    '  - id: second',
    '    parentId: first',
    '    block: { name: sleep, parameters: { seconds: 0.2 } }',
    '',
  ].join('\n'));
  return file;
}

/** `worker started` fields of a worker's JSON log, once it has logged them. */
function workerStarted(log: string): Record<string, unknown> | undefined {
  const line = log.split('\n').find((l) => l.includes('"msg":"worker started"'));
  return line ? JSON.parse(line) as Record<string, unknown> : undefined;
}

before(async () => {
  mkdirSync(home);
  mkdirSync(empty);
  // The user's npm with its own cache (the real HOME): only the CLI runs with the empty HOME.
  const npmEnv = { ...process.env };
  for (const k of Object.keys(npmEnv)) if (k.startsWith('npm_')) delete npmEnv[k];
  // `npm pack` runs prepack (tsc, then the CLI and workflow bundles), which writes dist/. Packing a copy of
  // the checkout's files (git's tracked and untracked-but-not-ignored ones, as they are now; its
  // node_modules linked) builds from a clean dist/, like a fresh clone, and never rewrites the
  // dist/ other test files are loading from.
  const src = path.join(work, 'src');
  const { stdout: listed } = await run('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { maxBuffer: 1 << 26 });
  for (const f of listed.split('\0').filter(Boolean)) {
    if (!existsSync(path.join(ROOT, f))) continue; // deleted, not yet committed
    mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    copyFileSync(path.join(ROOT, f), path.join(src, f));
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'), 'dir');
  const t0 = performance.now();
  const { stdout: packOut } = await run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: src, env: npmEnv, timeout: 600_000, maxBuffer: 1 << 24 });
  const tPack = performance.now() - t0;
  const tgz = readdirSync(work).find((f) => /^ragomics-.*\.tgz$/.test(f));
  assert.ok(tgz, `npm pack wrote no ragomics-*.tgz (stdout: ${packOut.trim()})`);
  const t1 = performance.now();
  await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', `./${tgz}`], { cwd: work, env: npmEnv, timeout: 600_000, maxBuffer: 1 << 24 });
  const tInstall = performance.now() - t1;
  const { stdout: du } = await run('du', ['-sm', prefix]);
  console.log(`npm pack (prepack: clean build + workflow bundle): ${(tPack / 1000).toFixed(1)} s; ${tgz} ${(readFileSync(path.join(work, tgz)).length / 1024).toFixed(0)} KiB`);
  console.log(`npm install -g --prefer-offline: ${(tInstall / 1000).toFixed(1)} s; installed ${du.split('\t')[0]} MB`);
});

after(async () => {
  for (const child of children) if (child.pid !== undefined && child.exitCode === null && isAlive(child.pid)) child.kill('SIGKILL');
  // The dev server `ragomics dev` started runs in its own session: stop it if a test did not.
  if (devServerPidFile && existsSync(devServerPidFile)) {
    const pid = Number(readFileSync(devServerPidFile, 'utf8').trim());
    if (pid > 0 && isAlive(pid)) {
      process.kill(pid, 'SIGKILL');
      await waitForPidExit(pid, 10_000);
    }
  }
  await removeTree(work);
});

describe('the packed package, installed outside the checkout', { concurrency: false }, () => {
  test('the tarball holds the runtime, not the tests: dist without test/bench/maps, the blocks runtime, the scripts dev needs, the workflow bundle', () => {
    assert.ok(existsSync(BIN), `npm put the ragomics command in ${path.dirname(BIN)}`);
    const has = (rel: string) => existsSync(path.join(pkgDir, rel));
    for (const rel of ['bin/ragomics.js', 'dist/client/cli.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/workflow-bundle.js',
      'blocks/runtime/ragomics_runner/__main__.py', 'blocks/catalog.json', 'blocks/Dockerfile', 'scripts/lib.sh', 'scripts/ensure-temporal.sh',
      'scripts/stop-temporal.sh', 'scripts/register-search-attributes.js', 'scripts/build-image.sh', 'dist/common/search-attributes.js', 'README.md']) {
      assert.ok(has(rel), `${rel} is in the package`);
    }
    for (const rel of ['dist/test', 'dist/bench', 'dist/examples', 'test', 'blocks/tests', '.data', '.tools']) assert.ok(!has(rel), `${rel} is not in the package`);
    // The CLI's one-file bundle ships with the manifest of what it was made from, and the
    // installed package (no package-lock.json there) loads its short commands from it.
    assert.deepEqual(cliEntry(pkgDir, {}), { file: path.join(pkgDir, 'dist', 'client', 'cli.bundle.js'), reason: null });
    const maps = readdirSync(path.join(pkgDir, 'dist'), { recursive: true }).map(String).filter((f) => f.endsWith('.map'));
    assert.deepEqual(maps, [], 'no source maps (their sources are not shipped)');
    // The inputs of the blocks image's content hash (scripts/build-image.sh) are the checkout's,
    // byte for byte: the installed package builds (or finds) the same image.
    const hashInputs = ['Dockerfile', '.dockerignore', 'requirements.txt', 'catalog.json', 'build-ca/README.md',
      ...readdirSync(path.join(ROOT, 'blocks', 'runtime'), { recursive: true }).map((f) => path.join('runtime', String(f)))
        .filter((f) => !f.includes('__pycache__') && !f.endsWith('.pyc') && !path.basename(f).startsWith('.') && statSync(path.join(ROOT, 'blocks', f)).isFile())];
    for (const f of hashInputs) {
      assert.ok(readFileSync(path.join(pkgDir, 'blocks', f)).equals(readFileSync(path.join(ROOT, 'blocks', f))), `blocks/${f} is shipped unchanged`);
    }
  });

  test('--version prints the package version; an unknown command and a missing file exit non-zero with one line', async () => {
    const v = await ragomics(['--version']);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), VERSION);

    const unknown = await ragomics(['frobnicate']);
    assert.notEqual(unknown.code, 0);
    assert.equal(unknown.stderr.trim().split('\n').length, 1, `one line: ${unknown.stderr}`);
    assert.match(unknown.stderr, /frobnicate/);

    const missing = await ragomics(['run', 'no-such-tree.yaml']);
    assert.equal(missing.code, 2, 'invalid input: exit 2 (CONTRACT.md)');
    assert.equal(missing.stderr.trim().split('\n').length, 1, `one line: ${missing.stderr}`);
    assert.match(missing.stderr, /no-such-tree\.yaml/);
  });

  test('worker --executor inprocess from the package + run + status against the shared dev server', async () => {
    const taskQueue = uid('pack-worker');
    const treeId = uid('pack-tree');
    const env = { TEMPORAL_ADDRESS: SHARED_ADDRESS, RAGOMICS_TASK_QUEUE: taskQueue };
    const worker = startRagomics(['worker', '--executor', 'inprocess'], env);
    try {
      const started = await waitUntil('the installed worker to start', () => {
        if (worker.child.exitCode !== null) throw new Error(`the worker exited ${worker.child.exitCode}: ${worker.log()}`);
        return workerStarted(worker.log());
      }, 90_000);
      assert.equal(started.workflows, path.join(pkgDir, 'dist', 'workflow-bundle.js'), 'the worker loads the bundle shipped in the package');
      assert.equal(started.workspace, path.join(home, '.ragomics', 'data', 'workspace'), 'state goes to ~/.ragomics/data, not into the package');

      const res = await ragomics(['run', writeTree('tree.yaml', treeId), '--json'], env);
      assert.equal(res.code, 0, `run: ${res.stderr}`);
      assert.equal((JSON.parse(res.stdout) as { state: string }).state, 'COMPLETED');

      const status = await ragomics(['status', treeId], env);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`tree ${treeId}: COMPLETED`));
      assert.match(status.stdout, /first\s+sleep\s+COMPLETED/);
      assert.match(status.stdout, /second\s+sleep\s+COMPLETED/);

      await sdkListsAndDescribes(treeId, env);
    } finally {
      await stop(worker.child);
    }
  });

  test('dev --executor local from an empty directory: its own dev server and state under ~/.ragomics, a tree completes, dev --stop stops the server', async () => {
    const { log } = await devRound('local', 'pack-dev-local');
    assert.doesNotMatch(log, /\[build-image\]/, 'no blocks image is needed for the local executor');
  });

  test('dev with the Docker executor (the default): the package\'s build-image.sh finds the blocks image of its blocks/, a tree runs in containers', async () => {
    // The package's blocks/ hashes to the image the checkout built (scripts/test.sh's "blocks
    // image" step): checked first, so this test never starts a build of its own.
    const pkgTag = (await run('bash', [path.join(pkgDir, 'scripts', 'build-image.sh'), '--print-tag'], { env: userEnv() })).stdout.trim();
    const checkoutTag = (await run('bash', [path.join(ROOT, 'scripts', 'build-image.sh'), '--print-tag'])).stdout.trim();
    assert.equal(pkgTag, checkoutTag, 'the package\'s blocks image is the checkout\'s');
    await run('docker', ['image', 'inspect', '--format', '{{.Id}}', checkoutTag], { timeout: 30_000 }).catch(() => {
      assert.fail(`${checkoutTag} is not on this Docker engine; scripts/test.sh builds it (scripts/build-image.sh)`);
    });
    // KEEP_OLD_IMAGES: even a build would then remove no older blocks image of the shared engine.
    const { log } = await devRound('docker', 'pack-dev-docker', { KEEP_OLD_IMAGES: '1000' });
    assert.match(log, new RegExp(`\\[build-image\\] ${pkgTag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is up to date`));
    assert.equal(readFileSync(path.join(home, '.ragomics', 'data', 'blocks-image'), 'utf8').trim(), pkgTag, 'the tag is recorded in ~/.ragomics/data, where the worker reads it');
  });
});

/**
 * One `ragomics dev --executor EXECUTOR` from the empty directory, on free ports: it starts its
 * own dev server (database under ~/.ragomics/data/temporal) and a worker; a tree runs to
 * COMPLETED with its outputs under ~/.ragomics/data/workspace; the worker stops on SIGTERM, the
 * server outlives it, and `ragomics dev --stop` stops the server. Returns dev's output.
 */
async function devRound(executor: 'local' | 'docker', name: string, extraEnv: Record<string, string> = {}): Promise<{ log: string }> {
  const port = await freePort();
  const uiPort = await freePort();
  const taskQueue = uid(name);
  const treeId = uid(`${name}-tree`);
  const dataDir = path.join(home, '.ragomics', 'data');
  devServerPidFile = path.join(dataDir, 'temporal', 'server.pid');
  const devEnv = { TEMPORAL_PORT: String(port), TEMPORAL_UI_PORT: String(uiPort), RAGOMICS_TASK_QUEUE: taskQueue, ...extraEnv };
  const dev = startRagomics(['dev', '--executor', executor], devEnv);
  try {
    const started = await waitUntil(`ragomics dev --executor ${executor} to start its server and worker`, () => {
      if (dev.child.exitCode !== null) throw new Error(`ragomics dev exited ${dev.child.exitCode}: ${dev.log()}`);
      return workerStarted(dev.log());
    }, 120_000);
    assert.equal(started.address, `127.0.0.1:${port}`);
    assert.equal(started.executor, executor);
    assert.equal(started.workflows, path.join(pkgDir, 'dist', 'workflow-bundle.js'), 'the worker loads the bundle shipped in the package');
    assert.ok(dev.log().includes(`State: ${dataDir}\n`), `dev names its data folder ${dataDir}: ${dev.log()}`);
    assert.ok(existsSync(path.join(dataDir, 'temporal', 'ragomics.db')), 'the dev server database is under ~/.ragomics/data/temporal');

    const env = { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, RAGOMICS_TASK_QUEUE: taskQueue };
    const res = await ragomics(['run', writeTree(`${name}.yaml`, treeId), '--json'], env);
    assert.equal(res.code, 0, `run: ${res.stderr}\n${dev.log()}`);
    assert.equal((JSON.parse(res.stdout) as { state: string }).state, 'COMPLETED');
    const status = await ragomics(['status', treeId, '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { state: string; nodes: { id: string; state: string; outputPath?: string }[] };
    assert.equal(s.state, 'COMPLETED');
    assert.deepEqual(s.nodes.map((n) => [n.id, n.state]), [['first', 'COMPLETED'], ['second', 'COMPLETED']]);
    for (const n of s.nodes) {
      assert.ok(n.outputPath?.startsWith(path.join(dataDir, 'workspace') + path.sep), `${n.id}'s output is under ~/.ragomics/data/workspace: ${n.outputPath}`);
      assert.ok(n.outputPath !== undefined && existsSync(n.outputPath), `${n.outputPath} exists`);
    }
  } finally {
    await stop(dev.child);
  }
  const serverPid = Number(readFileSync(devServerPidFile, 'utf8').trim());
  assert.ok(isAlive(serverPid), 'the dev server outlives the dev worker (start or reuse)');
  const stopped = await ragomics(['dev', '--stop'], devEnv);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.ok(await waitForPidExit(serverPid, 30_000), `dev --stop stopped the server (pid ${serverPid})`);
  return { log: dev.log() };
}

/**
 * The SDK from the package, as another service uses it: a TypeScript file importing from
 * 'ragomics' in the empty directory (linked to the global install, as `npm link ragomics`
 * does), type-checked by the checkout's tsc (strict, node16 resolution: the package's `exports`
 * and `types`), compiled, then run with node to list and describe `treeId`.
 */
async function sdkListsAndDescribes(treeId: string, env: Record<string, string>): Promise<void> {
  const modules = path.join(empty, 'node_modules');
  if (!existsSync(path.join(modules, 'ragomics'))) {
    mkdirSync(modules, { recursive: true });
    symlinkSync(pkgDir, path.join(modules, 'ragomics'), 'dir');
  }
  writeFileSync(path.join(empty, 'describe-tree.ts'), `
import { RagomicsClient, InvalidInputError, validateSpec, type TreeStatus, type TreeSpecInput } from 'ragomics';

async function main(treeId: string): Promise<void> {
  const rc = await RagomicsClient.connect();
  try {
    const listed = await rc.listTrees(\`RagomicsTreeId = "\${treeId}"\`, 10);
    const status: TreeStatus = await rc.getTree(treeId).status();
    const good: TreeSpecInput = { nodes: [{ id: 'x', block: { name: 'sleep' } }] };
    const bad: unknown = { ...good, nodes: [{ id: 'x', block: { name: 'no_such_block' } }] };
    let rejected = '';
    try { validateSpec(bad); } catch (e) { if (e instanceof InvalidInputError) rejected = e.name; }
    console.log(JSON.stringify({ listed: listed.map((t) => t.treeId), state: status.state, nodes: status.nodes.map((n) => [n.id, n.state]), rejected }));
  } finally {
    await rc.close();
  }
}

void main(process.argv[2] ?? '');
`);
  // A wrong call must be a type error: the declarations are real types, not \`any\`.
  writeFileSync(path.join(empty, 'wrong-call.ts'), `
import { RagomicsClient } from 'ragomics';
export async function wrong(rc: RagomicsClient): Promise<void> {
  // @ts-expect-error getTree takes a tree id string
  rc.getTree(42);
  // @ts-expect-error no such method
  await rc.startTreeNow();
}
`);
  writeFileSync(path.join(empty, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'node16', moduleResolution: 'node16', strict: true, outDir: 'out', rootDir: '.',
      types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')], skipLibCheck: true,
    },
    files: ['describe-tree.ts', 'wrong-call.ts'],
  }));
  const tsc = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: empty, env: userEnv(), timeout: 180_000 }).catch((e: { stdout?: string; stderr?: string }) => {
    throw new Error(`tsc rejected the SDK example: ${e.stdout ?? ''}${e.stderr ?? ''}`);
  });
  assert.equal(tsc.stdout.trim(), '');
  const listed = await waitUntil(`the tree ${treeId} in the SDK's list (visibility is eventually consistent)`, async () => {
    const { stdout } = await run(process.execPath, [path.join('out', 'describe-tree.js'), treeId], { cwd: empty, env: userEnv(env), timeout: 60_000 });
    const out = JSON.parse(stdout) as { listed: string[]; state: string; nodes: [string, string][]; rejected: string };
    return out.listed.includes(treeId) ? out : undefined;
  }, 30_000, 500);
  assert.equal(listed.state, 'COMPLETED');
  assert.deepEqual(listed.nodes, [['first', 'COMPLETED'], ['second', 'COMPLETED']]);
  assert.equal(listed.rejected, 'InvalidInputError', 'the SDK\'s errors are importable and recognised by type');
}
