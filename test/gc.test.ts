/**
 * `ragomics gc` over a content-addressed store laid out exactly as activities/cache/store.ts lays
 * it out (entries of real files, 0555/0444, hard links into a tree workspace folder), in a
 * temporary workspace:
 *   - an entry is kept while a tree workspace holds a link to it, and removed once none does;
 *   - kept when younger than --older-than, removed when older and unlinked (files in
 *     sub-folders included in its bytes);
 *   - --dry-run lists the same entries with their total bytes and changes nothing;
 *   - stale staging folders (older than an hour) and an interrupted gc's trash go, young
 *     staging and names that are not keys stay;
 *   - a tree linking a file while gc moves the entry gets the entry back (library hook);
 *   - refused while a tree RUNS (a real one whose node sleeps until cancelled): exit 2, one
 *     line, nothing removed; --dry-run still reports and says a real run would be refused;
 *   - a bad --older-than, a missing workspace: exit 2; Temporal unreachable: exit 3; nothing changed.
 *
 * The "no tree runs" cases need a namespace where no other test file runs trees (the dev server
 * is shared), so this file uses its own namespace `ragomics-gc-test` (registered here, with the
 * search attributes, through scripts/register-search-attributes.js).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { collectGarbage } from '../activities/cache/gc';
import { RagomicsClient } from '../client/sdk';
import { ROOT, assertFailsOneLine as assertFails, ragomics } from './helpers/cli';
import { TEMPORAL_ADDRESS, sleepNode, uid, waitFor, withWorker } from './helpers/harness';

// A namespace of this run's own: gc refuses while any tree of its namespace runs, so a suite run
// beside this one on the same (reused) server must not share it, nor see its trees terminated.
const NAMESPACE = `ragomics-gc-test-${process.pid}-${randomUUID().slice(0, 8)}`;
const DAY = 86_400_000;
const ws = mkdtempSync(path.join(tmpdir(), 'ragomics-gc-'));
after(() => rmSync(ws, { recursive: true, force: true }));
after(async () => {
  // The server keeps a namespace until it is deleted: this run's goes with it.
  const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
  try {
    await connection.operatorService.deleteNamespace({ namespace: NAMESPACE });
  } catch (e) {
    // Clean-up only: what the tests checked holds either way, so say it and go on.
    console.warn(`# gc test: namespace ${NAMESPACE} not deleted: ${(e as Error).message}`);
  } finally {
    await connection.close();
  }
});
const env = { TEMPORAL_NAMESPACE: NAMESPACE };

before(async () => {
  const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
  try {
    await connection.workflowService.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs(DAY) });
  } finally {
    await connection.close();
  }
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'register-search-attributes.js'), TEMPORAL_ADDRESS, NAMESPACE], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
});

/** A fresh workspace root for one test. */
function workspace(name: string): string {
  const root = path.join(ws, name);
  mkdirSync(root, { recursive: true });
  return root;
}

/** 64 hex digits from a letter. */
const key = (c: string) => c.repeat(64);

/**
 * An entry as the store publishes it: files (0444) in `cache/entries/<key>/` (0555, sub-folders
 * too) and `entry.json`; `linkedBy` hard-links every data file into that tree folder's published
 * attempt, as a cache hit does.
 */
function makeEntry(root: string, k: string, ageMs: number, files: Record<string, string>, linkedBy?: string): { dir: string; bytes: number } {
  const dir = path.join(root, 'cache', 'entries', k);
  const meta = JSON.stringify({ key: k, createdAt: new Date(Date.now() - ageMs).toISOString(), origin: { treeId: 'src.0a1b2c3d', nodeId: 'pca', attempt: 1 }, outputSha256: 'f'.repeat(64), bytes: 0, block: 'pca' });
  let bytes = meta.length;
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
    bytes += content.length;
    if (linkedBy) {
      const target = path.join(root, 'trees', linkedBy, 'nodes', 'pca', 'published', 'attempt-1', name);
      mkdirSync(path.dirname(target), { recursive: true });
      linkSync(path.join(dir, name), target);
    }
  }
  writeFileSync(path.join(dir, 'entry.json'), meta);
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) chmodSync(path.join(e.parentPath, e.name), e.isDirectory() ? 0o555 : 0o444);
  chmodSync(dir, 0o555);
  return { dir, bytes };
}

/** A staging (or trash) folder holding one file, its mtime `ageMs` ago. */
function makeFolder(root: string, rel: string, ageMs: number, content = 'partial'): string {
  const dir = path.join(root, 'cache', rel);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, '_node_anndata.h5ad'), content);
  const t = new Date(Date.now() - ageMs);
  utimesSync(dir, t, t);
  return dir;
}

/** Every path below `root` with its size and link count: equal snapshots = nothing changed. */
function snapshot(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true }).map((e) => {
    const p = path.join(e.parentPath, e.name);
    const st = statSync(p);
    return `${path.relative(root, p)} ${e.isDirectory() ? 'dir' : `${st.size}B x${st.nlink}`}`;
  }).sort();
}


interface JsonReport {
  dryRun: boolean;
  removed: { key: string; bytes: number }[];
  removedBytes: number;
  kept: { key: string; reason: string }[];
  skipped: { name: string; reason: string }[];
  staging: { removed: string[]; bytes: number };
  trash: { removed: string[]; bytes: number };
  runningTrees: string[];
}

test('gc: linked and young entries stay, old unlinked ones go; dry run reports the same bytes and changes nothing; staging and trash leftovers', { timeout: 120_000 }, async () => {
  const root = workspace('main');
  const old = makeEntry(root, key('a'), 10 * DAY, { '_node_anndata.h5ad': 'a'.repeat(1000), 'node-result.json': '{}' });
  const oldNested = makeEntry(root, key('d'), 30 * DAY, { '_node_anndata.h5ad': 'd'.repeat(2500), 'figures/pca.png': 'p'.repeat(300) });
  makeEntry(root, key('b'), 10 * DAY, { '_node_anndata.h5ad': 'b'.repeat(700) }, 't2.11111111');
  makeEntry(root, key('c'), 3 * DAY, { '_node_anndata.h5ad': 'c'.repeat(500) });
  makeFolder(root, 'staging/stale', 2 * 3_600_000, 'x'.repeat(40));
  makeFolder(root, 'staging/fresh', 60_000);
  makeFolder(root, `trash/${key('e')}.deadbeef`, 0, 'y'.repeat(10));
  mkdirSync(path.join(root, 'cache', 'entries', 'not-a-key'));

  const before = snapshot(root);
  const dry = await ragomics(['gc', '--older-than', '7d', '--dry-run', '--json', '--workspace', root], env);
  assert.equal(dry.code, 0, dry.stderr);
  const d = JSON.parse(dry.stdout) as JsonReport;
  assert.equal(d.dryRun, true);
  assert.deepEqual(d.removed.map((e) => [e.key, e.bytes]), [[key('a'), old.bytes], [key('d'), oldNested.bytes]]);
  assert.equal(d.removedBytes, old.bytes + oldNested.bytes);
  assert.deepEqual(d.kept.map((e) => [e.key, e.reason]), [[key('b'), 'linked'], [key('c'), 'young']]);
  assert.deepEqual(d.skipped, [{ name: 'not-a-key', reason: 'not an entry key (64 hex digits)' }]);
  assert.deepEqual([d.staging, d.trash], [{ removed: ['stale'], bytes: 40 }, { removed: [`${key('e')}.deadbeef`], bytes: 10 }]);
  assert.deepEqual(d.runningTrees, []);
  const human = await ragomics(['gc', '--dry-run', '--workspace', root], env);
  assert.equal(human.code, 0, human.stderr);
  assert.ok(human.stdout.includes(`  would remove 2 entries, ${((old.bytes + oldNested.bytes) / 1024).toFixed(1)} KB; kept 2 (1 held by a tree workspace, 1 younger)\n`), human.stdout);
  assert.deepEqual(snapshot(root), before, 'a dry run changes nothing');

  const real = await ragomics(['gc', '--older-than', '7d', '--json', '--workspace', root], env);
  assert.equal(real.code, 0, real.stderr);
  const r = JSON.parse(real.stdout) as JsonReport;
  assert.deepEqual([r.dryRun, r.removed.map((e) => e.key), r.removedBytes], [false, [key('a'), key('d')], old.bytes + oldNested.bytes]);
  assert.deepEqual(readdirSync(path.join(root, 'cache', 'entries')).sort(), [key('b'), key('c'), 'not-a-key']);
  assert.deepEqual(readdirSync(path.join(root, 'cache', 'staging')), ['fresh']);
  assert.deepEqual(readdirSync(path.join(root, 'cache', 'trash')), [], 'nothing left in the trash');
  const treeFile = path.join(root, 'trees', 't2.11111111', 'nodes', 'pca', 'published', 'attempt-1', '_node_anndata.h5ad');
  assert.equal(readFileSync(treeFile, 'utf8'), 'b'.repeat(700), 'the tree\'s output is untouched');
  assert.equal(statSync(path.join(root, 'cache', 'entries', key('b'))).mode & 0o777, 0o555, 'a kept entry keeps its mode');

  // The tree workspace lets go of b (its folder removed): b is now unreferenced and old, so it goes.
  unlinkSync(treeFile);
  const again = JSON.parse((await ragomics(['gc', '--json', '--workspace', root], env)).stdout) as JsonReport;
  assert.deepEqual(again.removed.map((e) => e.key), [key('b')]);
  assert.deepEqual(again.kept.map((e) => [e.key, e.reason]), [[key('c'), 'young']]);
  // --older-than 0s: even the young one goes.
  assert.deepEqual((JSON.parse((await ragomics(['gc', '--older-than', '0s', '--json', '--workspace', root], env)).stdout) as JsonReport).removed.map((e) => e.key), [key('c')]);
});

test('gc (library): a tree that links a file while gc moves the entry gets the entry back', async () => {
  const root = workspace('race');
  makeEntry(root, key('a'), 10 * DAY, { '_node_anndata.h5ad': 'a'.repeat(100) });
  const holder = path.join(root, 'trees', 't9.22222222', 'nodes', 'n', 'published', 'attempt-1');
  mkdirSync(holder, { recursive: true });
  const report = await collectGarbage({
    root, olderThanMs: 7 * DAY,
    // Between the check and the deletion, a hit links the file (from where it now is).
    afterRename: (_k, trashDir) => linkSync(path.join(trashDir, '_node_anndata.h5ad'), path.join(holder, '_node_anndata.h5ad')),
  });
  assert.deepEqual(report.removed, []);
  assert.deepEqual(report.kept.map((e) => [e.key, e.reason]), [[key('a'), 'linked-during-gc']]);
  assert.equal(statSync(path.join(root, 'cache', 'entries', key('a'), '_node_anndata.h5ad')).nlink, 2, 'the entry is back, shared with the tree');
  assert.equal(statSync(path.join(root, 'cache', 'entries', key('a'))).mode & 0o777, 0o555);
  assert.deepEqual(readdirSync(path.join(root, 'cache', 'trash')), []);
});

test('gc is refused while a tree runs (exit 2, one line, nothing removed); a dry run still reports; after the tree ends gc runs', { timeout: 180_000 }, async () => {
  const root = workspace('refused');
  makeEntry(root, key('a'), 10 * DAY, { '_node_anndata.h5ad': 'a'.repeat(100) });
  makeFolder(root, 'staging/stale', 2 * 3_600_000);
  await withWorker({ namespace: NAMESPACE }, async ({ taskQueue }) => {
    const rc = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, namespace: NAMESPACE, taskQueue });
    try {
      const tree = await rc.startTree({ id: uid('gc-busy'), nodes: [sleepNode('forever', 3600)] });
      await waitFor(async () => (await tree.status()).nodes[0]?.state === 'RUNNING');
      // Visibility is what gc reads: wait until the tree shows there as running.
      await waitFor(async () => (await rc.listTrees('ExecutionStatus = "Running"')).some((t) => t.treeId === tree.treeId));
      const before = snapshot(root);
      assertFails(await ragomics(['gc', '--workspace', root], env), 2,
        `error: gc refused: 1 tree(s) running (${tree.treeId}) might reuse a cached result; nothing was removed. Run gc when no tree runs (ragomics list --query 'ExecutionStatus = "Running"')`);
      assertFails(await ragomics(['gc', '--json', '--older-than', '0s', '--workspace', root], env), 2, /^error: gc refused: 1 tree\(s\) running/);
      const dry = await ragomics(['gc', '--dry-run', '--workspace', root], env);
      assert.equal(dry.code, 0, dry.stderr);
      assert.ok(dry.stdout.includes('would remove 1 entry') && dry.stdout.endsWith(`note: a real gc would be refused now: tree(s) running (${tree.treeId})\n`), dry.stdout);
      assert.deepEqual(snapshot(root), before, 'nothing changed while the tree ran');

      await tree.cancel('gc test over');
      assert.equal((await tree.result()).state, 'CANCELLED');
      await waitFor(async () => (await rc.listTrees('ExecutionStatus = "Running"')).length === 0);
      const ok = await ragomics(['gc', '--json', '--workspace', root], env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual((JSON.parse(ok.stdout) as JsonReport).removed.map((e) => e.key), [key('a')]);
    } finally {
      await rc.close();
    }
  });
});

test('gc bad input: --older-than not an age, a missing workspace (exit 2); Temporal unreachable (exit 3); nothing changed', { timeout: 120_000 }, async () => {
  const root = workspace('bad');
  makeEntry(root, key('a'), 10 * DAY, { '_node_anndata.h5ad': 'a' });
  const before = snapshot(root);
  for (const bad of ['7', 'week', '-1d', '1.5h']) {
    assertFails(await ragomics(['gc', '--older-than', bad, '--workspace', root], env), 2,
      `error: --older-than: "${bad}" is not an age such as 7d, 12h, 30m, 90s or 1w2d (an integer and a unit s, m, h, d or w, repeated)`);
  }
  assertFails(await ragomics(['gc', '--workspace', path.join(root, 'nope')], env), 2, `error: --workspace: no workspace folder at ${path.join(root, 'nope')}`);
  // Not given: the variable, or the default, is named instead of a flag the user never typed.
  assertFails(await ragomics(['gc'], { ...env, RAGOMICS_WORKSPACE: path.join(root, 'nope') }), 2,
    `error: RAGOMICS_WORKSPACE: no workspace folder at ${path.join(root, 'nope')} (no tree has run with it here yet; give the workers' one with --workspace or RAGOMICS_WORKSPACE)`);
  assertFails(await ragomics(['gc', '--workspace', root], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' }), 3, /^error: .*127\.0\.0\.1:1/);
  assert.deepEqual(snapshot(root), before);
});
