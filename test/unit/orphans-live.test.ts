/** Which pending activities keep their worker's containers from the orphan sweep (workers/orphans.ts `liveWorkersIn`). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import { liveWorkersIn } from '../../workers/orphans';

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
