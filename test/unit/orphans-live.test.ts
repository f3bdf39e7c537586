/** Which pending activities keep their worker's containers from the orphan sweep (workers/orphans.ts `liveWorkersIn`), and which pollers keep a local run's (`localRunVerdict`). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import { liveWorkersIn, localRunVerdict } from '../../workers/orphans';

const S = temporal.api.enums.v1.PendingActivityState;

void test('a worker is live while it runs an attempt: started, or started with a cancel or pause requested', () => {
  const live = liveWorkersIn([
    { state: S.PENDING_ACTIVITY_STATE_STARTED, lastWorkerIdentity: 'w-started' },
    { state: S.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED, lastWorkerIdentity: 'w-cancelling' },
    { state: S.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED, lastWorkerIdentity: 'w-pausing' },
  ]);
  assert.deepEqual([...live].sort(), ['w-cancelling', 'w-pausing', 'w-started']);
});

void test('a scheduled retry or a paused activity names the worker of an ended attempt: not live', () => {
  const live = liveWorkersIn([
    { state: S.PENDING_ACTIVITY_STATE_SCHEDULED, lastWorkerIdentity: 'w-timed-out' },
    { state: S.PENDING_ACTIVITY_STATE_PAUSED, lastWorkerIdentity: 'w-paused' },
    { state: S.PENDING_ACTIVITY_STATE_UNSPECIFIED, lastWorkerIdentity: 'w-unknown' },
    { lastWorkerIdentity: 'w-no-state' },
    { state: S.PENDING_ACTIVITY_STATE_STARTED, lastWorkerIdentity: '' },
    { state: S.PENDING_ACTIVITY_STATE_STARTED },
  ]);
  assert.deepEqual([...live], []);
});

void test('a local run\'s container is kept while its worker polls the tree\'s task queue, removed once it does not, kept when the server cannot say', () => {
  const pollers = new Set(['w-a', 'w-b']);
  assert.equal(localRunVerdict('w-a', pollers), 'keep');
  assert.equal(localRunVerdict('w-dead', pollers), 'remove');
  assert.equal(localRunVerdict(null, pollers), 'remove', 'no worker label: nobody owns it');
  assert.equal(localRunVerdict('w-dead', new Set()), 'remove');
  assert.equal(localRunVerdict('w-dead', 'unknown'), 'keep');
});
