/**
 * Which attempt's job file gives a node's block in a crate (client/crate/collect.ts jobBlock):
 * the published attempt's (it holds repaired code), for regular attempt folders and for a local
 * activity's tagged ones (activities/workspace.ts attemptFolderName).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jobBlock } from '../../client/crate/collect';
import { attemptFolderName } from '../../activities/workspace';

function writeJob(nodeDir: string, folder: string, code: string): void {
  const dir = path.join(nodeDir, 'attempts', folder);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'job.json'), JSON.stringify({ block: { code, requirements: [] } }));
}

function withNodeDir(body: (nodeDir: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'ragomics-crate-job-'));
  return body(root).finally(() => rmSync(root, { recursive: true, force: true }));
}

void test('the published attempt\'s job gives the block, for regular and for tagged local folders; else the newest attempt\'s', () => withNodeDir(async (nodeDir) => {
  writeJob(nodeDir, attemptFolderName(1, 1), 'def run(adata=None):\n    return "first"\n');
  writeJob(nodeDir, attemptFolderName(2, 1, 'aaaa0001'), 'def run(adata=None):\n    return "repaired, lost run"\n');
  writeJob(nodeDir, attemptFolderName(2, 1, 'bbbb0002'), 'def run(adata=None):\n    return "repaired, lost run"\n');
  writeJob(nodeDir, attemptFolderName(3, 1, 'cccc0003'), 'def run(adata=None):\n    return "newest"\n');
  mkdirSync(path.join(nodeDir, 'attempts', 'not-an-attempt'));
  const code = (b: Awaited<ReturnType<typeof jobBlock>>): string | null => (b && 'code' in b ? b.code : null);
  assert.match(code(await jobBlock(nodeDir, { attempt: 2, activityAttempt: 1 })) ?? '', /repaired/);
  assert.match(code(await jobBlock(nodeDir, { attempt: 1, activityAttempt: 1 })) ?? '', /first/);
  assert.match(code(await jobBlock(nodeDir, null)) ?? '', /newest/, 'nothing published: the newest attempt');
  assert.equal(await jobBlock(path.join(nodeDir, 'gone'), null), null);
}));
