/**
 * The crate's reading of `node-result.json` (client/crate/collect.ts readPublishedFacts): each
 * field in its schema's form, read on its own, since a worker of any version wrote the file.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readPublishedFacts } from '../../client/crate/collect';

const ws = mkdtempSync(path.join(tmpdir(), 'ragomics-crate-facts-'));
after(() => rmSync(ws, { recursive: true, force: true }));

/** `published/attempt-<n>` holding `node-result.json` = `content` (a string is written as it is). */
function folder(name: string, attempt: number, content: unknown): string {
  const dir = path.join(ws, name, 'published', `attempt-${attempt}`);
  mkdirSync(dir, { recursive: true });
  if (content !== undefined) writeFileSync(path.join(dir, 'node-result.json'), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

void test('crate facts: every field of a current node-result.json', async () => {
  const from = { treeId: 'src.0a1b2c3d', nodeId: 'pca', attempt: 1 };
  const dir = folder('current', 2, { imageDigest: 'sha256:' + 'a'.repeat(64), executor: 'docker', worker: 'w1', summary: 'PCA', cached: true, cachedFrom: from, cacheKey: 'k', activityAttempt: 3 });
  assert.deepEqual(await readPublishedFacts(dir), {
    attempt: 2, activityAttempt: 3, imageDigest: 'sha256:' + 'a'.repeat(64), executor: 'docker', worker: 'w1', summary: 'PCA', cached: true, cachedFrom: from, cacheKey: 'k',
  });
});

void test('crate facts: a field missing or of another form is empty, the others are kept; a torn or absent file gives none', async () => {
  // An older worker: no cache fields, no activityAttempt; a cacheKey and a cachedFrom of another form.
  const dir = folder('old', 1, { executor: 'local', worker: 'w2', summary: 'QC', cacheKey: 5, cachedFrom: { treeId: 't' }, imageDigest: '' });
  assert.deepEqual(await readPublishedFacts(dir), {
    attempt: 1, activityAttempt: 1, imageDigest: null, executor: 'local', worker: 'w2', summary: 'QC', cached: false, cachedFrom: null, cacheKey: null,
  });
  assert.equal(await readPublishedFacts(folder('torn', 1, '{"summary": "Q')), null);
  assert.equal(await readPublishedFacts(folder('array', 1, '[1, 2]')), null);
  assert.equal(await readPublishedFacts(folder('absent', 1, undefined)), null);
});
