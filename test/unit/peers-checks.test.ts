/**
 * The peers benchmark (bench/peers.ts) records a row only when its checks pass: every task ran
 * once, no child before its parent's end, never more tasks at once than slots, task files well
 * formed. These tests hold the checks to rejecting each kind of wrong run, and the workloads to
 * the shapes BENCHMARKS.md section 10 describes.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bestTreeSeconds, handoffsMs, makespanMs, processCount, readTaskFiles, verifyRun, workloads, type Interval, type Workload } from '../../bench/peers/shapes';

const chainOf3: Workload = { key: 'chain', slots: 1, nodes: [{ id: 'a', parent: null, seconds: 0.1 }, { id: 'b', parent: 'a', seconds: 0.1 }, { id: 'c', parent: 'b', seconds: 0.1 }] };
const fanOf3: Workload = { key: 'fan', slots: 2, nodes: [{ id: 'r', parent: null, seconds: 0 }, { id: 'x', parent: 'r', seconds: 0 }, { id: 'y', parent: 'r', seconds: 0 }] };
const iv = (entries: [string, number, number][]) => new Map<string, Interval>(entries.map(([id, start, end]) => [id, { start, end }]));

describe('peers workloads', () => {
  void test('ten 0.5 s tasks in a chain, the reference tree at 3 slots against 4.12 s, 200 tasks at 10 slots', () => {
    const [chain, tree, fan] = workloads();
    assert.equal(chain!.nodes.length, 10);
    assert.equal(chain!.slots, 1);
    assert.ok(chain!.nodes.every((n, i) => n.seconds === 0.5 && n.parent === (i ? `c${i - 1}` : null)));
    assert.equal(tree!.slots, 3);
    assert.deepEqual(tree!.nodes.slice(0, 3).map((n) => n.seconds), [0.39, 0.35, 1.74]);
    assert.equal(bestTreeSeconds().toFixed(2), '4.12');
    assert.equal(fan!.nodes.length, 200);
    assert.equal(fan!.slots, 10);
    assert.equal(fan!.nodes.filter((n) => n.parent === 'root').length, 199);
  });
});

describe('peers run checks', () => {
  void test('a correct run passes and comes back in the workload order', () => {
    const out = verifyRun('e', chainOf3, iv([['c', 300, 400], ['a', 0, 100], ['b', 100, 200]]));
    assert.deepEqual(out.map((x) => x.start), [0, 100, 300]);
    assert.equal(makespanMs(out), 400);
    assert.deepEqual(handoffsMs(out), [0, 100]);
  });

  void test('a task that did not run is named', () => {
    assert.throws(() => verifyRun('snakemake', chainOf3, iv([['a', 0, 100], ['b', 100, 200]])), /snakemake, chain: 1 of 3 task\(s\) did not run \(c\)/);
  });

  void test('a task the workload does not have is rejected', () => {
    assert.throws(() => verifyRun('e', chainOf3, iv([['a', 0, 100], ['b', 100, 200], ['c', 200, 300], ['d', 300, 400]])), /4 task intervals for 3 tasks/);
  });

  void test('a child that started before its parent ended is rejected (1 ms of rounding allowed)', () => {
    assert.throws(() => verifyRun('e', chainOf3, iv([['a', 0, 100], ['b', 90, 190], ['c', 200, 300]])), /task b started 10\.0 ms before its parent a ended/);
    assert.doesNotThrow(() => verifyRun('e', chainOf3, iv([['a', 0, 100], ['b', 99.5, 200], ['c', 200, 300]])));
  });

  void test('a task shorter than its sleep, or ending before its start, is rejected', () => {
    assert.throws(() => verifyRun('e', chainOf3, iv([['a', 0, 50], ['b', 100, 200], ['c', 200, 300]])), /task a ran 50 ms, shorter than its 0.1 s sleep/);
    assert.throws(() => verifyRun('e', fanOf3, iv([['r', 0, 0], ['x', 10, 5], ['y', 10, 20]])), /task x ended before it started/);
  });

  void test('more tasks at once than slots is rejected', () => {
    const tooWide: Workload = { ...fanOf3, slots: 1 };
    assert.throws(() => verifyRun('e', tooWide, iv([['r', 0, 1], ['x', 2, 10], ['y', 5, 12]])), /2 tasks ran at once on 1 slot/);
    assert.doesNotThrow(() => verifyRun('e', fanOf3, iv([['r', 0, 1], ['x', 2, 10], ['y', 5, 12]])));
  });
});

describe('task files', () => {
  void test('read with their pids; a malformed one, or one a task wrote twice, is named', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'peers-test-'));
    try {
      writeFileSync(path.join(dir, 'a.t'), 'a 1000.5 1100.25 42\n');
      writeFileSync(path.join(dir, 'b.t'), 'b 1200 1300 42\n');
      writeFileSync(path.join(dir, 'ignored.txt'), 'not a task file');
      const got = readTaskFiles(dir);
      assert.deepEqual(got.get('a'), { start: 1000.5, end: 1100.25, pid: 42 });
      assert.equal(processCount([...got.values()]), 1);
      assert.equal(processCount([{ start: 0, end: 1 }]), null);
      writeFileSync(path.join(dir, 'c.t'), 'c 1200 1300\n');
      assert.throws(() => readTaskFiles(dir), /c\.t: not "<id> <start ms> <end ms> <pid>" of task c/);
      writeFileSync(path.join(dir, 'c.t'), 'd 1200 1300 7\n');
      assert.throws(() => readTaskFiles(dir), /c\.t: not .* of task c/);
      // task.py appends, so a task run twice leaves two lines: refused, not read as one run.
      writeFileSync(path.join(dir, 'c.t'), 'c 1200 1300 7\nc 1400 1500 8\n');
      assert.throws(() => readTaskFiles(dir), /c\.t: task c ran 2 times/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
