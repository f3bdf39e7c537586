/** The SDK asks again while a tree answers `TreeLoading` (a new run reading its carried state). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { TreeHandle } from '../../client/sdk';

test('summary() asks again while the tree is loading, then returns the answer', async () => {
  const answers: unknown[] = [{ loading: true, treeId: 't' }, { loading: true, treeId: 't' }, { treeId: 't', state: 'RUNNING', version: 7 }];
  let asked = 0;
  const fake = { workflowId: 't', query: () => Promise.resolve(answers[asked++]) } as unknown as WorkflowHandle;
  const summary = await new TreeHandle(fake).summary();
  assert.equal(asked, 3);
  assert.deepEqual(summary, answers[2]);
});

test('timeline() pages only through real answers', async () => {
  const answers: unknown[] = [{ loading: true, treeId: 't' }, { treeId: 't', total: 1, offset: 0, entries: [{ node: 'a' }] }];
  let asked = 0;
  const fake = { workflowId: 't', query: () => Promise.resolve(answers[asked++]) } as unknown as WorkflowHandle;
  assert.deepEqual(await new TreeHandle(fake).timeline(), [{ node: 'a' }]);
});
