/**
 * Failover (issue 13, item 4): a real `ragomics worker` process SIGKILLed while it runs a node.
 * With the project's defaults (the spec's `heartbeatTimeout`, the workers' heartbeat interval and
 * sticky timeout), the node runs again on the other worker process and the tree completes; the
 * node that had completed before the kill never runs again. The failover time is printed, not
 * asserted (BENCHMARKS.md has the measured figures: bench/failover.ts). The run itself is
 * bench/failover-run.ts, so the test and the benchmark measure the same thing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFailover } from '../bench/failover-run';
import { uid } from './helpers/harness';
import { removeTree, tempDir } from './helpers/processes';

const ADDRESS = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
/** Every bound of the run: worker start, the node reaching RUNNING, the tree's end after the kill. */
const WAIT_MS = 90_000;
/**
 * The interrupted node's length: far above the time B takes to start on a loaded machine (the run
 * checks the node is still A's when B is ready, and fails saying so otherwise).
 */
const NODE_SECONDS = 30;

void test('a worker SIGKILLed while it runs a node: the node runs again on the other worker, nothing finished re-runs', { timeout: 4 * WAIT_MS + 60_000 }, async (t) => {
  const dir = tempDir('failover');
  try {
    const r = await runFailover({ address: ADDRESS, taskQueue: uid('failover-test'), nodeSeconds: NODE_SECONDS, dir, waitMs: WAIT_MS });
    const line = `failover with the defaults: the node's new attempt started on the other worker ${(r.failoverMs / 1000).toFixed(1)} s after the SIGKILL `
      + `(heartbeat timeout recorded at ${(r.detectMs / 1000).toFixed(1)} s, the workflow task that learned of it started at ${(r.workflowTaskMs / 1000).toFixed(1)} s`
      + `${r.stickyTimedOut ? ', after timing out on the dead worker\'s sticky queue' : ''}); the tree ended ${(r.treeEndMs / 1000).toFixed(1)} s after the kill`;
    t.diagnostic(line);
    console.log(line);

    assert.equal(r.treeState, 'COMPLETED');
    // Attempt 1: lost on A, by the heartbeat timeout (no other timeout or failure).
    assert.equal(r.timeoutType, 'HEARTBEAT');
    assert.equal(r.lostAttemptWorker, r.workerA, 'the timed-out attempt was the one A had started');
    const facts = `attempts ${JSON.stringify(r.attempts)}\nactivity events, ms after the kill:\n${r.activityEvents.join('\n')}\n${r.workerLogs}`;
    // The run's attempts: lost on A, then completed on B. Once in CI (59169b5, under the whole
    // suite's load) a second attempt was lost too, 43 s after the first, and the third completed
    // on B; the cause was not recorded then (it is now: the facts below). Any stall of B or of the
    // server longer than the heartbeat timeout loses an attempt that way, and Temporal re-runs it
    // like any lost attempt, which is the behaviour under test; so LOST attempts are allowed
    // between the two, and printed with the history that explains them.
    const states = r.attempts.map((a) => a.state);
    assert.ok(states.length >= 2 && states[0] === 'LOST' && states.at(-1) === 'COMPLETED' && states.slice(1, -1).every((s) => s === 'LOST'), facts);
    if (states.length > 2) t.diagnostic(`${states.length - 2} more attempt(s) lost after the first; ${facts}`);
    // The completing attempt: on B, which also took the workflow task that re-ran the node.
    assert.equal(r.attempts.at(-1)!.worker, r.workerB, facts);
    assert.equal(r.workflowTaskWorker, r.workerB, facts);
    // The node completed before the kill ran once, on A.
    assert.deepEqual(r.firstAttempts.map((a) => [a.attempt, a.state, a.worker]), [[1, 'COMPLETED', r.workerA]]);
    // The re-run began after the kill (a start time from before it would be the old attempt's).
    assert.ok(r.failoverMs > 0, `the new attempt started after the kill (${r.failoverMs} ms)`);
  } finally {
    await removeTree(dir);
  }
});
