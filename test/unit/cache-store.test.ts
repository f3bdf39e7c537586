/**
 * Unit tests of the content-addressed store (activities/cache/store.ts) on a real file system:
 * entries are hard links (same inode, no copy), a hit links them into the hitting tree with its
 * own node-result.json, a corrupt entry is moved aside and never used, a lost publish race is
 * fine. And the input hashing (activities/cache/input-hash.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { publishAttempt, publishedDir, sha256File } from '../../activities/publish';
import { entryDir, lookupCache, publishToCache, ENTRY_FILE } from '../../activities/cache/store';
import { inputSha256 } from '../../activities/cache/input-hash';
import { CacheEntrySchema, NodeResultSchema } from '../../common/schemas';
import { tempWorkspace } from '../helpers/workspace-dir';

const KEY = 'c'.repeat(64);

function workspace(t: { after(fn: () => void): void }): string {
  return tempWorkspace(t, 'ragomics-cache-');
}

/** Publishes a fake attempt (AnnData bytes, a figure, result.json) of `tree`/`node` and returns its result. */
async function published(root: string, tree: string, node: string, data = 'anndata bytes') {
  const out = path.join(root, 'scratch', `${tree}-${node}`, 'output');
  const figs = path.join(out, 'figures');
  mkdirSync(figs, { recursive: true });
  writeFileSync(path.join(out, '_node_anndata.h5ad'), data);
  writeFileSync(path.join(figs, 'umap.png'), 'png');
  writeFileSync(path.join(out, 'result.json'), JSON.stringify({ summary: 'did it', shape: [10, 5], metrics: { n: 1 }, figures: ['figures/umap.png'] }));
  return publishAttempt({
    root, treeId: tree, nodeId: node, attempt: 1, outputDir: out,
    facts: { imageDigest: 'img', executor: 'docker', worker: 'w1', startedAt: new Date().toISOString(), endedAt: new Date().toISOString(), activityAttempt: 1, peakMemoryMB: 10, cacheKey: KEY },
  });
}

test('publish, then a hit in another tree: same inodes, its own node-result.json with cached, cachedFrom and cacheKey', async (t) => {
  const root = workspace(t);
  const first = await published(root, 't1.aaaa', 'norm');
  assert.equal(first.cacheKey, KEY);
  const outcome = await publishToCache({ root, key: KEY, publishedDir: first.outputDir, origin: { treeId: 't1.aaaa', nodeId: 'norm', attempt: 1 }, outputSha256: first.outputSha256, block: 'normalize' });
  assert.equal(outcome, 'published');
  const dir = entryDir(root, KEY);
  assert.equal(statSync(dir).mode & 0o777, 0o555);
  const entry = CacheEntrySchema.parse(JSON.parse(readFileSync(path.join(dir, ENTRY_FILE), 'utf8')));
  assert.deepEqual(entry.origin, { treeId: 't1.aaaa', nodeId: 'norm', attempt: 1 });
  assert.equal(entry.outputSha256, first.outputSha256);
  assert.ok(entry.bytes > 0);
  assert.equal(statSync(path.join(dir, '_node_anndata.h5ad')).ino, statSync(first.outputPath).ino, 'the entry holds a hard link, not a copy');
  assert.equal(await publishToCache({ root, key: KEY, publishedDir: first.outputDir, origin: { treeId: 'x', nodeId: 'y', attempt: 1 }, outputSha256: first.outputSha256, block: 'normalize' }), 'exists');

  const hit = await lookupCache({ root, key: KEY, treeId: 't2.bbbb', nodeId: 'n2', attempt: 1, worker: 'w2', activityAttempt: 1 });
  assert.ok(hit);
  const r = hit.result;
  assert.equal(r.cached, true);
  assert.equal(r.cacheKey, KEY);
  assert.deepEqual(r.cachedFrom, { treeId: 't1.aaaa', nodeId: 'norm', attempt: 1 });
  assert.equal(r.outputDir, publishedDir(root, 't2.bbbb', 'n2', 1));
  assert.equal(r.outputSha256, first.outputSha256);
  assert.equal(r.summary, 'did it');
  assert.deepEqual(r.figures, [path.join(r.outputDir, 'figures', 'umap.png')]);
  assert.equal(statSync(r.outputPath).ino, statSync(first.outputPath).ino, 'the hitting tree reads the same file');
  assert.equal(statSync(r.figures[0]!).ino, statSync(first.figures[0]!).ino);
  assert.equal(statSync(r.outputDir).mode & 0o777, 0o555);
  const stored = NodeResultSchema.parse(JSON.parse(readFileSync(path.join(r.outputDir, 'node-result.json'), 'utf8')));
  assert.equal(stored.cached, true);
  assert.deepEqual(stored.cachedFrom, r.cachedFrom);
  assert.ok(!existsSync(path.join(r.outputDir, ENTRY_FILE)), 'entry.json stays in the cache');
  // A retried lookup of the same attempt returns the published result.
  const again = await lookupCache({ root, key: KEY, treeId: 't2.bbbb', nodeId: 'n2', attempt: 1, worker: 'w2', activityAttempt: 2 });
  assert.equal(again?.result.reused, true);
  assert.equal(again?.result.cached, true);
  // No staging folders are left.
  assert.deepEqual(readdirSync(path.join(root, 'cache', 'staging')), []);
  assert.deepEqual(readdirSync(path.dirname(r.outputDir)), ['attempt-1']);
});

test('a missing entry is a miss; a corrupt one (data overwritten, entry.json broken) is moved aside and never used', async (t) => {
  const root = workspace(t);
  assert.equal(await lookupCache({ root, key: KEY, treeId: 't', nodeId: 'n', attempt: 1, worker: 'w', activityAttempt: 1 }), null);
  const first = await published(root, 't1.aaaa', 'norm', 'original bytes');
  await publishToCache({ root, key: KEY, publishedDir: first.outputDir, origin: { treeId: 't1.aaaa', nodeId: 'norm', attempt: 1 }, outputSha256: first.outputSha256, block: 'normalize' });
  const data = path.join(entryDir(root, KEY), '_node_anndata.h5ad');
  chmodSync(data, 0o644);
  writeFileSync(data, 'tampered bytes');
  const warnings: string[] = [];
  const miss = await lookupCache({ root, key: KEY, treeId: 't2.bbbb', nodeId: 'n2', attempt: 1, worker: 'w', activityAttempt: 1, warn: (m) => warnings.push(m) });
  assert.equal(miss, null);
  assert.ok(!existsSync(entryDir(root, KEY)), 'the corrupt entry is gone from entries/');
  const aside = readdirSync(path.join(root, 'cache', 'corrupt'));
  assert.equal(aside.filter((f) => f.startsWith(KEY) && !f.endsWith('.reason')).length, 1);
  assert.match(readFileSync(path.join(root, 'cache', 'corrupt', aside.find((f) => f.endsWith('.reason'))!), 'utf8'), /has sha256/);
  assert.match(warnings.join('\n'), /corrupt.*moved aside/);
  assert.ok(!existsSync(publishedDir(root, 't2.bbbb', 'n2', 1)), 'nothing was linked into the hitting tree');

  // entry.json that is not an entry.
  const second = await published(root, 't3.cccc', 'norm', 'other bytes');
  await publishToCache({ root, key: KEY, publishedDir: second.outputDir, origin: { treeId: 't3.cccc', nodeId: 'norm', attempt: 1 }, outputSha256: second.outputSha256, block: 'normalize' });
  const ej = path.join(entryDir(root, KEY), ENTRY_FILE);
  chmodSync(entryDir(root, KEY), 0o755);
  chmodSync(ej, 0o644);
  writeFileSync(ej, '{"key": 1}');
  assert.equal(await lookupCache({ root, key: KEY, treeId: 't4.dddd', nodeId: 'n', attempt: 1, worker: 'w', activityAttempt: 1 }), null);
  assert.ok(!existsSync(entryDir(root, KEY)));
});

test('losing the publish race is fine: the first entry stays, the loser leaves no staging folder', async (t) => {
  const root = workspace(t);
  const a = await published(root, 't1.aaaa', 'norm', 'same');
  const b = await published(root, 't2.bbbb', 'norm', 'same');
  const outcomes = await Promise.all([a, b].map((r, i) => publishToCache({ root, key: KEY, publishedDir: r.outputDir, origin: { treeId: `t${i + 1}`, nodeId: 'norm', attempt: 1 }, outputSha256: r.outputSha256, block: 'normalize' })));
  assert.deepEqual([...outcomes].sort(), ['exists', 'published']);
  assert.deepEqual(readdirSync(path.join(root, 'cache', 'staging')), []);
  assert.ok(await lookupCache({ root, key: KEY, treeId: 't9.zzzz', nodeId: 'n', attempt: 1, worker: 'w', activityAttempt: 1 }));
});

test('input hashes: a published output takes the sha256 of its node-result.json; other files are hashed once per content version', async (t) => {
  const root = workspace(t);
  const r = await published(root, 't1.aaaa', 'norm');
  assert.equal(await inputSha256(r.outputPath), r.outputSha256);
  const file = path.join(root, 'input.h5ad');
  writeFileSync(file, 'root input v1');
  // A whole-millisecond mtime, so setting it again below restores it exactly.
  const mtime = new Date(Date.now() - 60_000);
  utimesSync(file, mtime, mtime);
  const h1 = await inputSha256(file);
  assert.equal(h1, await sha256File(file));
  // Same (dev, ino, size, mtime): the memo answers, even though the bytes changed behind its back.
  writeFileSync(file, 'root input v2');
  utimesSync(file, mtime, mtime);
  assert.equal(await inputSha256(file), h1, 'memoised by (dev, ino, size, mtime)');
  // A new mtime is a new version: hashed again.
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  assert.equal(await inputSha256(file), await sha256File(file));
  assert.notEqual(await inputSha256(file), h1);
  await assert.rejects(inputSha256(path.join(root, 'missing.h5ad')), /ENOENT/);
});
