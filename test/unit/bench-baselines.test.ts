/**
 * The benchmarks' baselines are only as good as their own correctness: the in-process pool
 * (bench/baseline/job-pool.ts) must respect dependencies and its cap and start work as soon as
 * it may, and the schedule bounds of the reference tree (bench/schedule-quality.ts) must be the
 * ones the issue states, computed rather than copied.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { runPool, type PoolJob } from '../../bench/baseline/job-pool';
import { REFERENCE_TREE, bestSchedule, criticalPath, levelByLevel } from '../../bench/schedule-quality';
import { maxConcurrency } from '../helpers/harness';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('in-process pool (benchmark baseline)', () => {
  void test('respects dependencies and never runs more than maxParallelJobs at once', async () => {
    const jobs: PoolJob<string>[] = Array.from({ length: 30 }, (_, i) => ({
      id: `j${i}`,
      dependencies: i < 3 ? [] : [`j${i % 3}`, `j${Math.floor(i / 2)}`].filter((d, k, a) => a.indexOf(d) === k && d !== `j${i}`),
      run: async () => { await sleep(5 + (i % 4) * 3); return `r${i}`; },
    }));
    const run = await runPool(jobs, { maxParallelJobs: 4 });
    assert.equal([...run.states.values()].filter((s) => s === 'COMPLETED').length, 30);
    for (const j of jobs) for (const d of j.dependencies ?? []) {
      assert.ok(run.intervals.get(d)!.end <= run.intervals.get(j.id)!.start, `${j.id} started before its dependency ${d} ended`);
    }
    assert.ok(maxConcurrency([...run.intervals.values()]) <= 4);
    assert.equal(run.results.get('j7'), 'r7');
  });

  void test('a failed job cancels its dependents and the rest still runs', async () => {
    const run = await runPool<number>([
      { id: 'a', run: () => Promise.reject(new Error('boom')) },
      { id: 'b', dependencies: ['a'], run: async () => 1 },
      { id: 'c', run: async () => 2 },
    ], { maxParallelJobs: 2 });
    assert.equal(run.states.get('a'), 'FAILED');
    assert.equal(run.states.get('b'), 'CANCELLED');
    assert.equal(run.states.get('c'), 'COMPLETED');
  });

  void test('a dependent starts as soon as its dependency ends, not at a level barrier', async () => {
    // "slow" ends only once "child" has started (or after 5 s, should it never start): a pool with
    // a level barrier would start "child" after "slow" ended. The order of events decides, not
    // how long anything took.
    const events: string[] = [];
    let childStarted: () => void = () => undefined;
    const started = new Promise<void>((r) => (childStarted = r));
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((r) => (timer = setTimeout(r, 5000)));
    await runPool<null>([
      { id: 'slow', run: async () => { await Promise.race([started, giveUp]); events.push('slow ends'); return null; } },
      { id: 'fast', run: async () => null },
      { id: 'child', dependencies: ['fast'], run: async () => { events.push('child starts'); childStarted(); return null; } },
    ], { maxParallelJobs: 3 });
    clearTimeout(timer);
    assert.deepEqual(events, ['child starts', 'slow ends'], 'child waited for the slow sibling');
  });
});

describe('reference tree bounds (bench/schedule-quality.ts)', () => {
  void test('critical path 37.9 units and best 3-slot schedule 41.2 units, as the issue states', () => {
    assert.equal(criticalPath(REFERENCE_TREE), 37.9);
    const best = bestSchedule(REFERENCE_TREE, 3);
    assert.equal(best.makespan, 41.2);
    assert.equal(best.order.length, REFERENCE_TREE.length);
  });

  void test('level by level: 42.5 units with unbounded slots; 43.6 when the four deepest nodes share 3 slots', () => {
    assert.equal(levelByLevel(REFERENCE_TREE, null), 42.5);
    assert.equal(levelByLevel(REFERENCE_TREE, 3), 43.6);
  });

  void test('the best schedule of a trivial case is its obvious value', () => {
    const chain = [{ id: 'a', parent: null, units: 1 }, { id: 'b', parent: 'a', units: 2 }];
    assert.equal(bestSchedule(chain, 3).makespan, 3);
    const four = ['a', 'b', 'c', 'd'].map((id) => ({ id, parent: null, units: 1 }));
    assert.equal(bestSchedule(four, 2).makespan, 2);
    assert.equal(bestSchedule(four, 3).makespan, 2);
  });
});
