/**
 * The pieces of the failover figures that need no server: the heartbeat interval an attempt
 * uses for a given heartbeat timeout, and how the failover benchmark reads a Temporal server's
 * Prometheus counters (which operations count as writes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heartbeatInterval } from '../../activities/run-node';
import { delta, parsePrometheus, persistenceByOperation, rpcCount, writes, WRITE_OPERATION } from '../../bench/prometheus';

void test('heartbeat interval: the worker\'s, or a third of a shorter heartbeat timeout', () => {
  assert.equal(heartbeatInterval(2000, 30_000), 2000);
  assert.equal(heartbeatInterval(2000, 6000), 2000);
  assert.equal(heartbeatInterval(2000, 3000), 1000, 'three beats per timeout: one late beat is not a lost worker');
  assert.equal(heartbeatInterval(2000, undefined), 2000, 'no heartbeat timeout: the worker\'s interval');
  assert.equal(heartbeatInterval(2000, 0), 2000);
});

const METRICS = `# HELP persistence_requests persistence_requests counter
# TYPE persistence_requests counter
persistence_requests{namespace="default",operation="UpdateWorkflowExecution",service_name="history"} 120
persistence_requests{namespace="system",operation="UpdateWorkflowExecution",service_name="history"} 5
persistence_requests{namespace="default",operation="GetWorkflowExecution",service_name="history"} 40
persistence_requests{namespace="default",operation="AppendHistoryNodes",service_name="history"} 7
persistence_requests{namespace="default",operation="RangeCompleteTimerTasks",service_name="history"} 3
service_requests{namespace="default",operation="RecordActivityTaskHeartbeat",service_name="frontend"} 60
service_requests{namespace="default",operation="RecordActivityTaskHeartbeat",service_name="history"} 60
service_requests{namespace="default",operation="PollActivityTaskQueue",service_name="frontend"} 9
`;

void test('prometheus: persistence calls summed per operation over services and namespaces; reads are not writes', () => {
  const samples = parsePrometheus(METRICS);
  const ops = persistenceByOperation(samples);
  assert.equal(ops.get('UpdateWorkflowExecution'), 125);
  assert.equal(ops.get('GetWorkflowExecution'), 40);
  assert.equal(writes({ byOperation: ops, heartbeatRpcs: 0 }), 125 + 7 + 3);
  assert.ok(!WRITE_OPERATION.test('GetTasks'));
  assert.ok(WRITE_OPERATION.test('CreateWorkflowExecution'));
});

void test('prometheus: heartbeat RPCs are counted once, at the frontend, when services are labelled', () => {
  assert.equal(rpcCount(parsePrometheus(METRICS), 'RecordActivityTaskHeartbeat'), 60);
  assert.equal(rpcCount(parsePrometheus('service_requests{operation="RecordActivityTaskHeartbeat"} 4\n'), 'RecordActivityTaskHeartbeat'), 4);
});

void test('prometheus: the increase between two readings, per operation', () => {
  const a = { byOperation: new Map([['UpdateWorkflowExecution', 100], ['GetTasks', 5]]), heartbeatRpcs: 10 };
  const b = { byOperation: new Map([['UpdateWorkflowExecution', 160], ['GetTasks', 5], ['CreateTasks', 2]]), heartbeatRpcs: 40 };
  const d = delta(a, b);
  assert.deepEqual([...d.byOperation], [['UpdateWorkflowExecution', 60], ['CreateTasks', 2]]);
  assert.equal(d.heartbeatRpcs, 30);
  assert.equal(writes(d), 62);
});
