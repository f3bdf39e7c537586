/**
 * Reading the server's pending node activities into node waits (client/slot-wait.ts), from
 * pending-activity records shaped as `describe()` returns them, and the node activity ids
 * they rely on. The same path against the real server: test/worker-slots.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import { nodeActivityId, nodeIdOfActivity } from '../../common/activity-ids';
import { mergeNodeActivityViews, nodeActivityViews } from '../../client/slot-wait';
import type { NodeStatus, TreeStatus } from '../../workflows/views';

const { PendingActivityState } = temporal.api.enums.v1;
const { PendingActivityInfo } = temporal.api.workflow.v1;
const ts = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
/** Through the wire format, as `describe()` hands them over (timestamps as Long). */
const wire = (infos: Record<string, unknown>[]) => infos.map((o) => PendingActivityInfo.decode(PendingActivityInfo.encode(PendingActivityInfo.fromObject(o)).finish()));
const NOW = Date.parse('2025-01-01T00:01:00Z');

void test('activity ids name their node and parse back; default sequence ids are not nodes', () => {
  assert.equal(nodeActivityId('qc.v2_a-1', 3), 'node:qc.v2_a-1:3');
  assert.equal(nodeIdOfActivity(nodeActivityId('qc.v2_a-1', 3)), 'qc.v2_a-1');
  assert.equal(nodeIdOfActivity('12'), null);
  assert.equal(nodeIdOfActivity('node::1'), null);
});

void test('pending node activities: SCHEDULED waits for a slot, a running retry delay is a back-off, STARTED gives the real start', () => {
  const views = nodeActivityViews(wire([
    { activityId: nodeActivityId('a', 1), state: PendingActivityState.PENDING_ACTIVITY_STATE_STARTED, lastStartedTime: ts(NOW - 5000), scheduledTime: ts(NOW - 9000), attempt: 1 },
    { activityId: nodeActivityId('b', 1), state: PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED, scheduledTime: ts(NOW - 9000), attempt: 1, activityOptions: { taskQueue: { name: 'other' } } },
    { activityId: nodeActivityId('c', 2), state: PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED, scheduledTime: ts(NOW - 9000), attempt: 2, nextAttemptScheduleTime: ts(NOW + 4000), lastFailure: { message: 'boom\ntrace' } },
    { activityId: nodeActivityId('d', 1), state: PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED, scheduledTime: ts(NOW - 1000), attempt: 3, nextAttemptScheduleTime: ts(NOW - 500) },
    { activityId: '7', state: PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED, scheduledTime: ts(NOW) },
  ]), 'tree-queue', NOW);
  assert.deepEqual([...views.keys()].sort(), ['a', 'b', 'c', 'd'], 'callbacks (sequence ids) are not nodes');
  assert.deepEqual(views.get('a'), { startedAt: new Date(NOW - 5000).toISOString() });
  assert.equal(views.get('b')?.wait?.kind, 'worker-slot');
  assert.equal(views.get('b')?.wait?.taskQueue, 'other', "the activity's own task queue");
  assert.match(views.get('b')?.wait?.reason ?? '', /^waiting for a worker slot on task queue "other": activity scheduled, not yet started/);
  assert.equal(views.get('b')?.wait?.since, new Date(NOW - 9000).toISOString());
  assert.equal(views.get('c')?.wait?.kind, 'retry-backoff');
  assert.match(views.get('c')?.wait?.reason ?? '', /attempt 2 is scheduled for 2025-01-01T00:01:04.000Z \(retry delay after: boom\)$/);
  assert.equal(views.get('d')?.wait?.kind, 'worker-slot', 'a retry whose delay is over waits for a slot again');
  assert.equal(views.get('d')?.wait?.taskQueue, 'tree-queue');
});

void test('merge: only RUNNING nodes change; a waiting node has no start; the status itself is untouched', () => {
  const n = (id: string, state: NodeStatus['state']): NodeStatus => ({ id, parentId: null, block: 'sleep', state, attempts: 1, queuedAt: 'q', startedAt: 'dispatched', endedAt: null, error: null });
  const status = { treeId: 't', nodes: [n('a', 'RUNNING'), n('b', 'RUNNING'), n('c', 'COMPLETED')] } as TreeStatus;
  const wait = { kind: 'worker-slot' as const, taskQueue: 'q', since: 's', attempt: 1, reason: 'r' };
  const merged = mergeNodeActivityViews(status, new Map([['a', { startedAt: 'real' }], ['b', { wait }], ['c', { wait }]]));
  assert.deepEqual(merged.nodes.map((x) => [x.id, x.startedAt, x.waitingFor?.kind ?? null]), [['a', 'real', null], ['b', null, 'worker-slot'], ['c', 'dispatched', null]]);
  assert.equal(merged.waitingForWorkerSlot, 1);
  assert.equal(status.nodes[1]?.startedAt, 'dispatched');
});
