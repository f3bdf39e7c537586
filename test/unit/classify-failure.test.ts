/** A node's failure is classified from its type, and its details are read through the one schema. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure } from '@temporalio/common';
import { classifyFailure } from '../../workflows/classify-failure';
import { FailureTypes } from '../../common/failure-types';

const activityFailure = (cause: Error): ActivityFailure => new ActivityFailure('activity failed', 'runNode', 'n:1', RetryState.MAXIMUM_ATTEMPTS_REACHED, 'worker', cause);
const ours = {
  exitCode: 1, stderrTail: 'Traceback ...', logDir: '/ws/trees/t/nodes/n/attempts/1-1', memoryMB: 512,
  attemptHistory: [{ attempt: 1, startedAt: '2026-12-05T00:00:00.000Z', endedAt: '2026-12-05T00:00:01.000Z', outcome: 'FAILED' as const, worker: 'w1' }],
};

void test('a typed failure keeps the details a worker sent, and its type decides the state', () => {
  const f = classifyFailure(activityFailure(ApplicationFailure.create({ message: 'boom', type: FailureTypes.BlockCrashed, details: [ours] })));
  assert.deepEqual(f, { state: 'FAILED', type: FailureTypes.BlockCrashed, message: 'boom', details: ours });
  const killed = classifyFailure(activityFailure(ApplicationFailure.create({ message: 'gone', type: FailureTypes.BlockTimeout, details: [{ ...ours, exitCode: null, logDir: null }] })));
  assert.equal(killed.state, 'TIMEOUT');
  assert.equal(killed.details.exitCode, null);
  assert.equal(classifyFailure(activityFailure(ApplicationFailure.create({ message: 'x', type: FailureTypes.ExecutorUnavailable }))).state, 'LOST');
});

void test('details that are not a worker\'s failure details never reach the node record', () => {
  for (const details of [['a string'], [{ exitCode: 'one' }], [{ attemptHistory: [{ attempt: 'x' }] }], [42]]) {
    const f = classifyFailure(activityFailure(ApplicationFailure.create({ message: 'other code', type: 'SomethingElse', details })));
    assert.deepEqual(f.details, {}, JSON.stringify(details));
    assert.equal(f.state, 'FAILED');
  }
  // Unknown fields of otherwise valid details are dropped, not kept.
  const extra = classifyFailure(activityFailure(ApplicationFailure.create({ message: 'm', type: 'T', details: [{ stderrTail: 'e', containerId: 'abc' }] })));
  assert.deepEqual(extra.details, { stderrTail: 'e' });
});

void test('a timed-out attempt: a heartbeat timeout is a lost worker, start-to-close a TIMEOUT; heartbeat details are not failure details', () => {
  const beat = { containerId: 'c0ffee', pid: 12, progress: null, attemptDir: '/ws/a' };
  const lost = classifyFailure(activityFailure(new TimeoutFailure('timed out', beat, 'HEARTBEAT')));
  assert.deepEqual(lost, { state: 'LOST', type: 'Timeout:HEARTBEAT', message: 'worker lost: no heartbeat within the limit', details: {} });
  const late = classifyFailure(activityFailure(new TimeoutFailure('timed out', beat, 'START_TO_CLOSE')));
  assert.equal(late.state, 'TIMEOUT');
  assert.deepEqual(late.details, {});
});
