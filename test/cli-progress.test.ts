/**
 * The live progress renderers of `run` / `watch` with a fake output stream: the TTY view is
 * redrawn in place (cursor up, clear) with one line per node, counts and a bar, and fits the
 * terminal; the plain renderer prints one line per node change. Nodes waiting for a worker
 * slot are shown as such, with the reason, in both and in `status`.
 */
import { afterEach, beforeEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createProgress, progressBar } from '../client/cli/progress';
import { renderStatusText, toContractStatus } from '../client/cli/status-view';
import type { LiveTreeStatus, NodeWait } from '../client/slot-wait';
import type { NodeStatus, TreeStatus } from '../workflows/views';

// The clock stands still in every test: the statuses are built "1.5 s ago" and rendered later,
// and the elapsed times asserted must not depend on how long that took on a loaded machine.
beforeEach(() => mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-01-01T12:00:00Z') }));
afterEach(() => mock.timers.reset());

class FakeOut extends Writable {
  text = '';
  constructor(readonly columns: number, readonly rows: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function status(states: NodeStatus['state'][], state: TreeStatus['state'] = 'RUNNING'): TreeStatus {
  const counts = { PENDING: 0, WAITING: 0, READY: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, TIMEOUT: 0 };
  const nodes = states.map((s, i): NodeStatus => {
    counts[s]++;
    return {
      id: `node-${i}`, parentId: i ? 'node-0' : null, block: 'sleep', state: s, attempts: 1, queuedAt: new Date(0).toISOString(),
      startedAt: s === 'PENDING' || s === 'WAITING' ? null : new Date(Date.now() - 1500).toISOString(),
      endedAt: s === 'COMPLETED' || s === 'FAILED' ? new Date().toISOString() : null, error: s === 'FAILED' ? 'boom\ntrace' : null,
    };
  });
  return {
    treeId: 't1', state, userRequest: '', paused: false, maxParallelJobs: 2, runningJobs: counts.RUNNING, queueSize: counts.READY, totalProcessed: 0,
    counts, totalNodes: nodes.length, offset: 0, nodes, rejected: [],
    metrics: { totalProcessed: 0, avgWaitTime: 0, avgExecutionTime: 0, successRate: 0, makespan: 3.2, criticalPathLength: 0, parallelEfficiency: 0, totalAttempts: 0, retries: 0 }, runs: 1,
  };
}

void test('TTY: redrawn in place, one line per node with state and elapsed time, counts and a bar', () => {
  const out = new FakeOut(100, 40);
  const p = createProgress(out, true);
  p.update(status(['COMPLETED', 'RUNNING', 'WAITING']));
  const first = out.text;
  assert.match(first, /tree t1 {2}RUNNING/);
  assert.match(first, /\[█{10}░{20}\] 33% {2}1\/3 completed · 1 running/);
  assert.match(first, /▶ node-1 +sleep +RUNNING +1\.\ds/);
  assert.match(first, /· node-2 +sleep +WAITING\n/);
  out.text = '';
  p.finish(status(['COMPLETED', 'COMPLETED', 'FAILED'], 'FAILED'));
  assert.ok(out.text.startsWith('\x1b[5F\x1b[J'), 'moves up over the 5 lines drawn before and clears');
  assert.match(out.text, /tree t1 FAILED: 2\/3 completed .* 1 failed/);
  assert.match(out.text, /\n {2}node-2 FAILED: boom\n/, 'failures listed with the first line of their error');
});

void test('TTY: lines never wrap and a tall tree is cut to the screen, running nodes first', () => {
  const out = new FakeOut(50, 10);
  const p = createProgress(out, true);
  p.update(status([...Array(30).fill('COMPLETED'), 'RUNNING', ...Array(5).fill('WAITING')] as NodeStatus['state'][]));
  const lines = out.text.replace('\x1b[J', '').trimEnd().split('\n');
  assert.ok(lines.every((l) => l.length <= 49), 'cut to the width');
  assert.equal(lines.length, 2 + 4, 'header, bar, 3 nodes and a "more" line in 10 rows');
  assert.match(lines[2] ?? '', /node-30/, 'the running node comes first');
  assert.match(lines[5] ?? '', /33 more node\(s\) not shown/);
  p.finish(status(Array(36).fill('COMPLETED') as NodeStatus['state'][], 'COMPLETED'));
});

void test('plain: one line per node change, nothing repeated, then a summary', () => {
  const out = new FakeOut(0, 0);
  const p = createProgress(out, false);
  p.update(status(['RUNNING', 'WAITING']));
  p.update(status(['RUNNING', 'WAITING']));
  p.finish(status(['COMPLETED', 'COMPLETED'], 'COMPLETED'));
  const lines = out.text.trimEnd().split('\n');
  assert.equal(lines[0], 'tree t1: 2 node(s), maxParallelJobs 2');
  assert.equal(lines.filter((l) => /node-0 RUNNING/.test(l)).length, 1);
  assert.equal(lines.filter((l) => /node-1 COMPLETED/.test(l)).length, 1);
  assert.match(lines[lines.length - 1] ?? '', /^tree t1 COMPLETED: 2\/2 completed/);
  assert.ok(!out.text.includes('\x1b['), 'no terminal escapes');
});

void test('progress bar', () => {
  assert.equal(progressBar(status(['COMPLETED', 'FAILED', 'RUNNING', 'READY']), 8), '[████░░░░] 50%');
});

/** node-1 dispatched (RUNNING) but not started by any worker: as the SDK's status merges it. */
function withSlotWait(s: TreeStatus): LiveTreeStatus {
  const wait: NodeWait = { kind: 'worker-slot', taskQueue: 'q1', since: new Date(Date.now() - 2000).toISOString(), attempt: 1, reason: 'waiting for a worker slot on task queue "q1": activity scheduled, not yet started' };
  return { ...s, waitingForWorkerSlot: 1, nodes: s.nodes.map((n) => (n.id === 'node-1' ? { ...n, startedAt: null, waitingFor: wait } : n)) };
}

void test('TTY: a node waiting for a worker slot says so, with its task queue, and the counts count it', () => {
  const out = new FakeOut(120, 40);
  const p = createProgress(out, true);
  p.update(withSlotWait(status(['RUNNING', 'RUNNING'])));
  assert.match(out.text, /2 running \(1 waiting for a worker slot\)/);
  assert.match(out.text, /◌ node-1 +sleep +RUNNING +waiting for a worker slot on "q1" 2\.\ds/);
  assert.match(out.text, /▶ node-0 +sleep +RUNNING +1\.\ds\n/);
  out.text = '';
  p.finish(status(['COMPLETED', 'COMPLETED'], 'COMPLETED'));
  assert.match(out.text, /1 node\(s\) were seen waiting for a worker slot .*task queue "q1".*maxParallelJobs 2; raise RAGOMICS_MAX_CONCURRENT_NODES or add workers/);
});

void test('plain: the wait is printed with its reason, then the start, then a summary line', () => {
  const out = new FakeOut(0, 0);
  const p = createProgress(out, false);
  p.update(withSlotWait(status(['RUNNING', 'RUNNING'])));
  p.update(withSlotWait(status(['RUNNING', 'RUNNING'])));
  p.update(status(['RUNNING', 'RUNNING']));
  p.finish(status(['COMPLETED', 'COMPLETED'], 'COMPLETED'));
  const lines = out.text.trimEnd().split('\n');
  assert.equal(lines.filter((l) => /node-1 RUNNING \(waiting for a worker slot on task queue "q1": activity scheduled, not yet started\)/.test(l)).length, 1);
  assert.equal(lines.filter((l) => /node-1 RUNNING \(started\)/.test(l)).length, 1);
  assert.equal(lines.filter((l) => /node-0 RUNNING/.test(l)).length, 1, 'node-0 never waited: one line');
  assert.match(lines[lines.length - 1] ?? '', /1 node\(s\) were seen waiting for a worker slot/);
});

void test('plain: no summary line about slots when no node waited', () => {
  const out = new FakeOut(0, 0);
  const p = createProgress(out, false);
  p.update(status(['RUNNING']));
  p.finish(status(['COMPLETED'], 'COMPLETED'));
  assert.doesNotMatch(out.text, /worker slot/);
});

void test('status: --json carries waitingFor per node and the count; the text view prints the reason', () => {
  const s = withSlotWait(status(['RUNNING', 'RUNNING', 'READY']));
  const json = toContractStatus(s);
  assert.equal(json.waitingForWorkerSlot, 1);
  assert.equal(json.nodes[0]?.waitingFor, null);
  assert.equal(json.nodes[1]?.waitingFor?.kind, 'worker-slot');
  assert.equal(json.nodes[1]?.startedAt, null, 'not started');
  assert.deepEqual(Object.keys(json.nodes[0] ?? {}).slice(0, 8), ['id', 'parentId', 'state', 'attempts', 'queuedAt', 'startedAt', 'endedAt', 'error'], "the contract's fields first");
  const text = renderStatusText(s);
  assert.match(text, /2 running \(1 waiting for a worker slot\)/);
  assert.match(text, /node-1 .*RUNNING.*\n {4}↳ waiting for a worker slot on task queue "q1": activity scheduled, not yet started; for 2\.\ds/);
  assert.match(text, /node-2 .*READY.*\n {4}↳ waiting for one of the tree's 2 slots \(maxParallelJobs; 2 running\)/);
});
