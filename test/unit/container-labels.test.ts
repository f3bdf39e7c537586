/** Container labels: the scope label follows RAGOMICS_CONTAINER_SCOPE (the suite's leftover check filters on it). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCOPE_ENV, SCOPE_LABEL, containerLabels } from '../../activities/executors/docker-spec';
import type { ExecJob } from '../../activities/executors/types';

const job = { treeId: 't', nodeId: 'n', attempt: 1, activityAttempt: 2, workerId: 'w' } as ExecJob;

void test('containers carry ragomics.scope only when RAGOMICS_CONTAINER_SCOPE is set', () => {
  const saved = process.env[SCOPE_ENV];
  try {
    delete process.env[SCOPE_ENV];
    assert.deepEqual(containerLabels(job), {
      'ragomics.managed': 'true', 'ragomics.tree': 't', 'ragomics.node': 'n', 'ragomics.attempt': '1', 'ragomics.activity-attempt': '2', 'ragomics.worker': 'w',
    });
    process.env[SCOPE_ENV] = 'suite-1';
    assert.equal(containerLabels(job)[SCOPE_LABEL], 'suite-1');
  } finally {
    if (saved === undefined) delete process.env[SCOPE_ENV];
    else process.env[SCOPE_ENV] = saved;
  }
});
