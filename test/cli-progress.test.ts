/**
 * The live progress renderers of `run` / `watch` with a fake output stream: the TTY view is
 * redrawn in place (cursor up, clear) with one line per node, counts and a bar, and fits the
 * terminal; the plain renderer prints one line per node change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createProgress, progressBar } from '../client/cli/progress';
import type { NodeStatus, TreeStatus } from '../workflows/views';

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
