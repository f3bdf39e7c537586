/**
 * Observability on the real server: OpenTelemetry spans for the tree workflow and each node
 * activity (tracing plugin), Prometheus metrics from the worker's runtime, and JSON log lines
 * carrying the tree id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { sleepNode, uid, waitFor, withWorker, TEMPORAL_ADDRESS } from './helpers/harness';
import { formatLogEntry } from '../workers/logging';
import { RagomicsClient } from '../client/sdk';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { repoRoot } from '../activities/executors/repo-root';

test('tracing: one span for the tree workflow and one per node activity', { timeout: 120_000 }, async () => {
  const exporter = new InMemorySpanExporter();
  await withWorker({}, async ({ client }) => {
    const tree = await client.startTree({ id: uid('traced'), nodes: [sleepNode('a', 0.05), sleepNode('b', 0.05, { parentId: 'a' })] });
    assert.equal((await tree.result()).state, 'COMPLETED');
  }, {}, { exporter });
  await waitFor(async () => exporter.getFinishedSpans().some((s) => s.name.startsWith('RunWorkflow:')));
  const names = exporter.getFinishedSpans().map((s) => s.name);
  assert.ok(names.includes('RunWorkflow:analysisTree'), names.join(', '));
  assert.equal(names.filter((n) => n === 'RunActivity:runNode').length, 2, names.join(', '));
});

test('metrics: a worker with RAGOMICS_METRICS_PORT serves Prometheus metrics', { timeout: 60_000 }, async () => {
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const taskQueue = uid('metrics');
  const child = spawn(process.execPath, [path.join(repoRoot(), 'bin', 'ragomics.js'), 'worker', '--executor', 'inprocess'], {
    env: { ...process.env, TEMPORAL_ADDRESS, RAGOMICS_TASK_QUEUE: taskQueue, RAGOMICS_METRICS_PORT: String(port), RAGOMICS_WORKSPACE: path.join(tmpdir(), taskQueue) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let logs = '';
  child.stderr.on('data', (c) => (logs += c));
  try {
    const client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    const tree = await client.startTree({ id: uid('metrics'), nodes: [sleepNode('a', 0.05)] });
    assert.equal((await tree.result()).state, 'COMPLETED');
    await client.close();
    let text = '';
    await waitFor(async () => {
      text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
      return /temporal_activity_execution_latency|temporal_workflow_completed/.test(text);
    });
    assert.match(text, /task_queue="[^"]*metrics-/);
    // Worker logs are JSON lines.
    const started = logs.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; taskQueue?: string }).find((l) => l.msg === 'worker started');
    assert.equal(started?.taskQueue, taskQueue);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

test('JSON log lines lift the tree id to the top level', () => {
  const line = formatLogEntry({ level: 'INFO', message: 'attempt published', timestampNanos: 1_764_300_000_000_000_000n, meta: { workflowId: 'tree-1', nodeId: 'qc', attempt: 1 } });
  assert.deepEqual(JSON.parse(line), { ts: '2025-11-28T03:20:00.000Z', level: 'INFO', msg: 'attempt published', treeId: 'tree-1', workflowId: 'tree-1', nodeId: 'qc', attempt: 1 });
});
