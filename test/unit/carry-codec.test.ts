/** Round trips of the compact continue-as-new encoding, and its size per node. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeNodes, encodeNodes } from '../../workflows/carry-codec';
import type { NodeRecord } from '../../workflows/node-record';

const T = 1_764_300_000_000;

function completed(i: number): NodeRecord {
  const dir = `/data/ws/trees/big-1/nodes/n${i}/published/attempt-1`;
  return {
    id: `n${i}`, parentId: i === 0 ? null : `n${Math.floor((i - 1) / 3)}`, dependencies: i === 0 ? [] : [`n${Math.floor((i - 1) / 3)}`],
    priority: 0, depth: 0, block: { name: 'sleep', parameters: { seconds: 0, fail: false, memoryMB: 0 } }, source: 'spec', state: 'COMPLETED',
    queuedAt: T + i, transitions: [['PENDING', T + i], ['WAITING', T + i], ['READY', T + i + 5], ['RUNNING', T + i + 9], ['COMPLETED', T + i + 40]],
    attempts: [{ n: 1, runIndex: 1, scheduledAt: T + i + 9, startedAt: T + i + 12, endedAt: T + i + 38, state: 'COMPLETED', worker: 'host-123' }],
    output: { outputDir: dir, outputPath: `${dir}/_node_anndata.h5ad`, sha256: 'a'.repeat(64), shape: [700, 765], summary: 'slept 0 s', figures: [], metrics: {}, imageDigest: 'sha256:abc' },
    repairs: 0, oomRetries: 0, lostRetries: 0,
  };
}

test('completed nodes round-trip exactly (metrics and figures are left on disk)', () => {
  const nodes = [completed(0), completed(1), completed(2)];
  assert.deepEqual(decodeNodes(JSON.parse(JSON.stringify(encodeNodes(nodes)))), nodes);
});

test('failed, cancelled and repaired nodes keep errors, reasons, extras and every attempt', () => {
  const failed: NodeRecord = {
    ...completed(5), id: 'bad', dependencies: ['n1', 'n0'], parentId: 'n1', state: 'FAILED', output: undefined, error: 'boom', repairs: 1, lostRetries: 2,
    timeout: 10, resources: { memoryMB: 512, memoryGrowthFactor: 2 }, patchedCode: 'def run(adata=None): return adata', taskQueue: 'bigmem',
    transitions: [['PENDING', T], ['WAITING', T], ['READY', T + 1], ['RUNNING', T + 2], ['RUNNING', T + 3, 'repair 1: patched code received'], ['FAILED', T + 9, 'boom']],
    attempts: [
      { n: 1, runIndex: 1, scheduledAt: T + 2, startedAt: T + 3, endedAt: null, state: 'LOST', worker: 'w1' },
      { n: 2, runIndex: 2, scheduledAt: T + 4, startedAt: T + 5, endedAt: T + 9, state: 'FAILED', worker: 'w2', error: 'boom', errorType: 'BlockCrashedError', exitCode: 70, memoryMB: 1024 },
    ],
  };
  delete (failed as Partial<NodeRecord>).output;
  const cancelled: NodeRecord = { ...completed(7), id: 'c', state: 'CANCELLED', attempts: [], output: undefined, error: 'dependency "bad" FAILED', transitions: [['PENDING', T], ['WAITING', T], ['CANCELLED', T + 9, 'dependency "bad" FAILED']] };
  delete (cancelled as Partial<NodeRecord>).output;
  const nodes = [completed(0), completed(1), failed, cancelled];
  assert.deepEqual(decodeNodes(JSON.parse(JSON.stringify(encodeNodes(nodes)))), nodes);
});

test('5,000 completed nodes encode well under the 2 MB payload limit', () => {
  const nodes = Array.from({ length: 5000 }, (_, i) => completed(i));
  const plain = JSON.stringify(nodes).length;
  const compact = JSON.stringify(encodeNodes(nodes)).length;
  console.log(`# 5000 nodes: plain ${(plain / 1024).toFixed(0)} KiB, encoded ${(compact / 1024).toFixed(0)} KiB (${(compact / 5000).toFixed(0)} B/node)`);
  assert.ok(compact < 1.5 * 1024 * 1024, `encoded size ${compact}`);
});
