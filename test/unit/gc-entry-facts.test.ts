/**
 * `ragomics gc` reads each entry's `entry.json` through the cache entry's schema, field by field:
 * a field of another form (a torn write, a foreign file) is left out of the report without
 * losing the others, and the age then comes from the folder's mtime, never from a wrong value.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { collectGarbage } from '../../activities/cache/gc';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T00:00:00.000Z');
const ws = mkdtempSync(path.join(tmpdir(), 'ragomics-gc-facts-'));
after(() => rmSync(ws, { recursive: true, force: true }));

/** An entry folder of `key` holding `entry.json` = `meta` (a string is written as it is), its mtime `ageMs` before NOW. */
function entry(root: string, key: string, meta: unknown, ageMs: number): void {
  const dir = path.join(root, 'cache', 'entries', key);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, '_node_anndata.h5ad'), 'x'.repeat(10));
  writeFileSync(path.join(dir, 'entry.json'), typeof meta === 'string' ? meta : JSON.stringify(meta));
  const t = new Date(NOW - ageMs);
  utimesSync(dir, t, t);
}

void test('gc: entry.json fields of another form are left out one by one; the age then comes from the folder', async () => {
  const root = path.join(ws, 'facts');
  const good = 'a'.repeat(64), mixed = 'b'.repeat(64), torn = 'c'.repeat(64);
  const origin = { treeId: 'src.0a1b2c3d', nodeId: 'pca', attempt: 1 };
  entry(root, good, { key: good, createdAt: new Date(NOW - 10 * DAY).toISOString(), origin, outputSha256: '', bytes: 10, block: 'pca' }, 1 * DAY);
  // createdAt a number, origin of another form (attempt 0): both left out; block kept.
  entry(root, mixed, { key: mixed, createdAt: 12, origin: { ...origin, attempt: 0 }, block: 'hvg' }, 9 * DAY);
  entry(root, torn, '{"key": "ccc', 8 * DAY);
  const report = await collectGarbage({ root, olderThanMs: 7 * DAY, dryRun: true, now: NOW });
  const byKey = new Map(report.removed.map((e) => [e.key, e]));
  assert.deepEqual(report.kept, []);
  assert.deepEqual(byKey.get(good), { key: good, createdAt: new Date(NOW - 10 * DAY).toISOString(), ageSeconds: 10 * 86_400, bytes: byKey.get(good)!.bytes, maxLinks: 1, block: 'pca', origin });
  assert.deepEqual(byKey.get(mixed), { key: mixed, createdAt: null, ageSeconds: 9 * 86_400, bytes: byKey.get(mixed)!.bytes, maxLinks: 1, block: 'hvg' });
  assert.deepEqual(byKey.get(torn), { key: torn, createdAt: null, ageSeconds: 8 * 86_400, bytes: byKey.get(torn)!.bytes, maxLinks: 1 });
});
