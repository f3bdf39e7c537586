/**
 * Test harness: every test file talks to the one Temporal dev server that `scripts/test.sh`
 * started (TEMPORAL_ADDRESS), runs its own worker on a unique task queue, and loads the workflow
 * bundle built once per run (RAGOMICS_WORKFLOW_BUNDLE).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { DefaultLogger, Runtime, type WorkerOptions } from '@temporalio/worker';
import { RagomicsClient } from '../../client/sdk';
import { loadWorkerConfig, type WorkerConfigInput } from '../../workers/config';
import { createRagomicsWorker, type RagomicsWorker } from '../../workers/create-worker';

/** Address of the shared test server. */
export const TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';

// Tests fail on assertions, not on log lines: keep the SDK quiet unless something is broken.
// RAGOMICS_TEST_LOG_LEVEL=INFO shows the worker's logs when debugging a test.
Runtime.install({ logger: new DefaultLogger((process.env.RAGOMICS_TEST_LOG_LEVEL as 'INFO' | undefined) ?? 'ERROR') });

/** A unique id with a readable prefix (tree ids, task queues). */
export function uid(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** What a test body gets from {@link withWorker}. */
export interface WorkerContext {
  client: RagomicsClient;
  taskQueue: string;
  workspace: string;
  rw: RagomicsWorker;
}

/**
 * Runs `body` with a fresh worker on a unique task queue and a temporary workspace; shuts the
 * worker down and removes the workspace afterwards (also when `body` throws).
 */
export async function withWorker<T>(config: WorkerConfigInput, body: (ctx: WorkerContext) => Promise<T>, extra: Partial<WorkerOptions> = {}, tracing?: { exporter?: SpanExporter }): Promise<T> {
  const taskQueue = config.taskQueue ?? uid('tq');
  const workspace = config.workspace ?? mkdtempSync(path.join(tmpdir(), 'ragomics-ws-'));
  const cfg = loadWorkerConfig({ address: TEMPORAL_ADDRESS, executor: 'inprocess', maxConcurrentNodes: 20, logLevel: 'WARN', workerId: uid('worker'), ...config, taskQueue, workspace });
  const rw = await createRagomicsWorker(cfg, undefined, extra, tracing);
  const client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
  try {
    return await rw.worker.runUntil(body({ client, taskQueue, workspace, rw }));
  } finally {
    await client.close();
    await rw.connection.close();
    if (!config.workspace) rmSync(workspace, { recursive: true, force: true });
  }
}

/** The workflow code for replay: the prebuilt bundle when there is one, else the sources. */
export function workflowSource(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const bundle = process.env.RAGOMICS_WORKFLOW_BUNDLE ?? path.join(__dirname, '..', '..', 'workflow-bundle.js');
  return existsSync(bundle) ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('../../workflows') };
}

/** A sleep node for scheduling tests. */
export function sleepNode(id: string, seconds: number, extra: Record<string, unknown> = {}) {
  const { fail, ...rest } = extra as { fail?: boolean };
  return { id, block: { name: 'sleep' as const, parameters: { seconds, ...(fail ? { fail: true } : {}) } }, ...rest };
}

/** Largest number of intervals overlapping at any instant (ends count before starts at equal times). */
export function maxConcurrency(intervals: ReadonlyArray<{ start: number; end: number }>): number {
  const events: [number, number][] = [];
  for (const i of intervals) events.push([i.start, 1], [i.end, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0, max = 0;
  for (const [, d] of events) max = Math.max(max, (cur += d));
  return max;
}

/** Polls `check` every 100 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`condition not reached within ${timeoutMs} ms`);
}
