/**
 * The checks `runNode` makes before an attempt starts (activities/run-node.ts), synchronous since
 * issue 15: the published attempt (a retry returns it and runs nothing), then the input(s). The
 * order of their failures and their types must not change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities/run-node';
import { createInprocessExecutor } from '../../activities/executors/inprocess';
import { NODE_RESULT_FILE, publishedDir, readPublished, readPublishedSync } from '../../activities/publish';
import { FailureTypes } from '../../common/failure-types';
import { nodeInput, runNode } from '../fixtures/executor/helpers';

function withRoot(body: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'ragomics-run-node-'));
  return body(root).finally(() => {
    execFileSync('chmod', ['-R', 'u+w', root]);
    rmSync(root, { recursive: true, force: true });
  });
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(() => null, (x: unknown) => x);
  assert.ok(e instanceof ApplicationFailure, `an ApplicationFailure, got ${String(e)}`);
  return e;
}

void test('runNode input checks: a missing input, a folder and a non-.h5ad path are InputMissing before any workspace exists; a symlinked input runs', () => withRoot(async (root) => {
  const activities = createActivities({ executor: createInprocessExecutor(), workspaceRoot: root, workerId: 'w' });
  mkdirSync(path.join(root, 'folder.h5ad'));
  const cases: [string, string, RegExp][] = [
    ['missing', path.join(root, 'gone.h5ad'), /input ".*gone\.h5ad" does not exist or is not a file \(was the parent's output published\?\)/],
    ['folder', path.join(root, 'folder.h5ad'), /input ".*folder\.h5ad" does not exist or is not a file/],
    ['suffix', path.join(root, 'x.csv'), /input ".*x\.csv" is not an \.h5ad file/],
  ];
  for (const [nodeId, inputPath, message] of cases) {
    const f = await failure(runNode(activities, nodeInput('t', { nodeId, inputPath })));
    assert.equal(f.type, FailureTypes.InputMissing, nodeId);
    assert.match(f.message, message);
    assert.equal(existsSync(path.join(root, 'trees', 't', 'nodes', nodeId, 'attempts')), false, `${nodeId}: no attempt folder`);
  }
  writeFileSync(path.join(root, 'real.h5ad'), 'x');
  symlinkSync(path.join(root, 'real.h5ad'), path.join(root, 'link.h5ad'));
  const ok = await runNode(activities, nodeInput('t', { nodeId: 'linked', inputPath: path.join(root, 'link.h5ad') }));
  assert.equal(ok.reused, false);
  // Multi-input: the first failing input in input order is named.
  const inputs = [{ key: 'a', path: path.join(root, 'real.h5ad') }, { key: 'b', path: path.join(root, 'nope.h5ad') }, { key: 'c', path: path.join(root, 'x.csv') }];
  const m = await failure(runNode(activities, nodeInput('t', { nodeId: 'multi', inputs })));
  assert.equal(m.type, FailureTypes.InputMissing);
  assert.match(m.message, /^input "b" ".*nope\.h5ad" does not exist/);
}));

void test('runNode retry of a published attempt returns the stored result and runs nothing, even when its input is gone since', () => withRoot(async (root) => {
  const activities = createActivities({ executor: createInprocessExecutor(), workspaceRoot: root, workerId: 'w' });
  writeFileSync(path.join(root, 'in.h5ad'), 'x');
  const first = await runNode(activities, nodeInput('t', { inputPath: path.join(root, 'in.h5ad') }));
  rmSync(path.join(root, 'in.h5ad'));
  const again = await runNode(activities, nodeInput('t', { inputPath: path.join(root, 'in.h5ad') }), 2);
  assert.equal(again.reused, true);
  assert.equal(again.outputSha256, first.outputSha256);
  assert.deepEqual(readdirSync(path.join(root, 'trees', 't', 'nodes', 'n1', 'attempts')), ['1-1'], 'no folder for the retry');
  assert.deepEqual(readPublishedSync(root, 't', 'n1', 1), await readPublished(root, 't', 'n1', 1));
  assert.equal(readPublishedSync(root, 't', 'n1', 2), null);
}));

void test('runNode: an unreadable published result is a plain (retryable) error, reported before a missing input', () => withRoot(async (root) => {
  const activities = createActivities({ executor: createInprocessExecutor(), workspaceRoot: root, workerId: 'w' });
  const dir = publishedDir(root, 't', 'n1', 1);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, NODE_RESULT_FILE), '{ not json');
  const e = await runNode(activities, nodeInput('t', { inputPath: path.join(root, 'gone.h5ad') })).then(() => null, (x: unknown) => x);
  assert.ok(e instanceof SyntaxError, `the parse error, got ${String(e)}`);
  assert.throws(() => readPublishedSync(root, 't', 'n1', 1), SyntaxError);
}));
