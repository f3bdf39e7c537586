/**
 * Determinism guard: the recorded histories under test/fixtures/histories replay against the
 * current workflow code. A change that would break running trees (new commands, reordered
 * activities, different timers) makes this fail; guard such changes with `patched()`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { workflowSource } from './helpers/harness';
import { repoRoot } from '../activities/executors/repo-root';

const DIR = path.join(repoRoot(), 'test', 'fixtures', 'histories');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

test('recorded histories exist for every scenario', () => {
  assert.ok(files.length >= 5, `found ${files.length} histories`);
});

for (const file of files) {
  test(`replays ${file}`, async () => {
    const history = JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as unknown;
    await Worker.runReplayHistory({ ...workflowSource(), replayName: file }, history);
  });
}
