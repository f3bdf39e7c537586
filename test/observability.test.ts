/**
 * Observability on the real server: OpenTelemetry spans for the tree workflow and each node
 * activity (tracing plugin), Prometheus metrics from the worker's runtime, and JSON log lines
 * carrying the tree id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { sleepNode, uid, waitFor, withWorker, TEMPORAL_ADDRESS } from './helpers/harness';
import { formatLogEntry } from '../workers/logging';
import { RagomicsClient } from '../client/sdk';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { repoRoot } from '../activities/executors/repo-root';
import { freePort } from './helpers/processes';

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

/** How long a worker may take to log "worker started" (seconds when healthy; generous for a loaded machine). */
const READY_MS = 60_000;
/** How long a worker may take to exit after SIGTERM before it is SIGKILLed (it drains nothing here). */
const STOP_GRACE_MS = 15_000;

/** Ends `child`: SIGTERM, and SIGKILL if it has not exited within `graceMs`; resolves once it is gone. */
async function stopChild(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)))]);
  clearTimeout(timer);
  if (inTime) return;
  child.kill('SIGKILL');
  await exited;
}

/**
 * Starts `ragomics worker` serving metrics on a port the OS picked (bound to port 0 and released);
 * if another process took that port in between, the worker exits at start with EADDRINUSE
 * (os error 98; a child process reports it only as text) and is started again on another port,
 * up to 3 times. Resolves once the worker logged "worker started".
 */
async function startMetricsWorker(taskQueue: string): Promise<{ child: ChildProcess; port: number; logs: () => string }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(repoRoot(), 'bin', 'ragomics.js'), 'worker', '--executor', 'inprocess'], {
      env: { ...process.env, TEMPORAL_ADDRESS, RAGOMICS_TASK_QUEUE: taskQueue, RAGOMICS_METRICS_PORT: String(port), RAGOMICS_WORKSPACE: path.join(tmpdir(), taskQueue) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let logs = '';
    const outcome = await new Promise<'ready' | 'exited' | 'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), READY_MS);
      child.stderr!.on('data', (c: Buffer) => {
        logs += c.toString('utf8');
        if (logs.includes('"msg":"worker started"')) {
          clearTimeout(timer);
          resolve('ready');
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve('exited');
      });
    });
    if (outcome === 'ready') return { child, port, logs: () => logs };
    await stopChild(child);
    if (outcome === 'exited' && /Address already in use|os error 98/.test(logs) && attempt < 3) {
      console.log(`# metrics port ${port} was taken meanwhile; another one (attempt ${attempt + 1})`);
      continue;
    }
    throw new Error(`the metrics worker ${outcome === 'timeout' ? `did not log "worker started" within ${READY_MS} ms` : `exited before it was ready (code ${child.exitCode})`} on port ${port}: ${logs.slice(-2000)}`);
  }
}

test('metrics: a worker with RAGOMICS_METRICS_PORT serves Prometheus metrics', { timeout: READY_MS * 3 + STOP_GRACE_MS + 120_000 }, async () => {
  const taskQueue = uid('metrics');
  const { child, port, logs } = await startMetricsWorker(taskQueue);
  try {
    const client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    try {
      const tree = await client.startTree({ id: uid('metrics'), nodes: [sleepNode('a', 0.05)] });
      assert.equal((await tree.result()).state, 'COMPLETED');
      // A deterministic node is looked up in the cache first (a miss, counted), then fails: the in-process executor runs only sleep.
      // Any bytes will do as its input: the key hashes the file, and the executor never reads it.
      const inputDir = mkdtempSync(path.join(tmpdir(), 'ragomics-metrics-'));
      const inputDataPath = path.join(inputDir, 'input.h5ad');
      writeFileSync(inputDataPath, 'not read\n');
      try {
        const cacheable = await client.startTree({ id: uid('metrics-cache'), inputDataPath, nodes: [{ id: 'norm', block: { name: 'normalize' } }] });
        assert.equal((await cacheable.result()).state, 'FAILED');
      } finally {
        rmSync(inputDir, { recursive: true, force: true });
      }
    } finally {
      await client.close();
    }
    let text = '';
    await waitFor(async () => {
      text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
      return /temporal_activity_execution_latency|temporal_workflow_completed/.test(text) && /ragomics_cache_misses/.test(text);
    });
    assert.match(text, /task_queue="[^"]*metrics-/);
    // The cache counters are the runtime's own metrics, on the same endpoint (activities/cache/metrics.ts).
    assert.match(text, /^ragomics_cache_misses\w*\{[^}]*\} 1$/m);
    console.log(`# ${text.split('\n').find((l) => l.startsWith('ragomics_cache_misses'))}`);
    // Worker logs are JSON lines: every complete one parses (the worker still runs, so the text
    // after the last newline may be a line it is still writing).
    const complete = logs().split('\n').slice(0, -1).filter(Boolean);
    const started = complete.map((l) => JSON.parse(l) as { msg: string; taskQueue?: string }).find((l) => l.msg === 'worker started');
    assert.equal(started?.taskQueue, taskQueue);
  } finally {
    await stopChild(child);
    rmSync(path.join(tmpdir(), taskQueue), { recursive: true, force: true });
  }
});

test('JSON log lines lift the tree id to the top level', () => {
  const line = formatLogEntry({ level: 'INFO', message: 'attempt published', timestampNanos: 1_764_300_000_000_000_000n, meta: { workflowId: 'tree-1', nodeId: 'qc', attempt: 1 } });
  assert.deepEqual(JSON.parse(line), { ts: '2025-11-28T03:20:00.000Z', level: 'INFO', msg: 'attempt published', treeId: 'tree-1', workflowId: 'tree-1', nodeId: 'qc', attempt: 1 });
});
