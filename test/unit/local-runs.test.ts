/**
 * The worker's registry of local node runs (activities/local-runs.ts): what its shutdown relies
 * on to stop them after the grace period.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalRuns, WorkerShutdownError } from '../../activities/local-runs';

void test('stopAll aborts every run with a WorkerShutdownError and resolves once each has called done()', async () => {
  const runs = new LocalRuns();
  const one = runs.start();
  const two = runs.start();
  assert.equal(runs.size, 2);
  const ended: string[] = [];
  one.signal.addEventListener('abort', () => setImmediate(() => { ended.push('one'); one.done(); }));
  two.signal.addEventListener('abort', () => setTimeout(() => { ended.push('two'); two.done(); }, 20));
  const result = await runs.stopAll(10_000);
  assert.deepEqual(result, { stopped: 2, notEnded: 0 });
  assert.deepEqual(ended, ['one', 'two'], 'stopAll waited for both');
  assert.ok(one.signal.reason instanceof WorkerShutdownError);
  assert.equal(runs.size, 0);
});

void test('a run that never ends is counted after the wait gives up; a run started after stopAll is aborted at once; done() twice is harmless', async () => {
  const runs = new LocalRuns();
  const stuck = runs.start();
  assert.deepEqual(await runs.stopAll(10), { stopped: 1, notEnded: 1 });
  assert.ok(stuck.signal.aborted);
  const late = runs.start();
  assert.ok(late.signal.aborted && late.signal.reason instanceof WorkerShutdownError);
  late.done();
  late.done();
  stuck.done();
  assert.equal(runs.size, 0);
});

void test('with no run in progress stopAll resolves at once', async () => {
  assert.deepEqual(await new LocalRuns().stopAll(60_000), { stopped: 0, notEnded: 0 });
});
