/**
 * Test harness: every test file talks to the one Temporal dev server that `scripts/test.sh`
 * started (TEMPORAL_ADDRESS), runs its own worker on a unique task queue, and loads the workflow
 * bundle built once per run (RAGOMICS_WORKFLOW_BUNDLE). Tests wait for states, never for time:
 * {@link waitFor} a state, and a {@link NodeGate} for nodes whose end the test decides.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { DefaultLogger, Runtime, type WorkerOptions } from '@temporalio/worker';
import type { BlockExecutor } from '../../activities/executors/types';
import { RagomicsClient } from '../../client/sdk';
import { loadWorkerConfig, type WorkerConfigInput } from '../../workers/config';
import { createRagomicsWorker, type RagomicsWorker } from '../../workers/create-worker';
import { repoRoot } from '../../activities/executors/repo-root';

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
  /** Holds chosen nodes running until the test releases them (see {@link NodeGate}). */
  gate: NodeGate;
}

/**
 * Nodes whose end the test decides. A held node's attempt starts as usual (the workflow sees it
 * RUNNING, the activity runs), then waits inside the executor until {@link NodeGate.release}
 * (or until the attempt is cancelled or times out) before the real executor runs its block. So a
 * test can say "Child1 ends now, Child2 later" instead of choosing sleep lengths and hoping the
 * machine keeps to them. Nodes are named by id, in every tree of the worker.
 */
export class NodeGate {
  private readonly held = new Map<string, { open: Promise<void>; release: () => void; started: Promise<void>; markStarted: () => void }>();

  /** From now on, attempts of these nodes wait for {@link release}. */
  hold(...nodeIds: string[]): void {
    for (const id of nodeIds) {
      if (this.held.has(id)) continue;
      let release: () => void = () => undefined;
      let markStarted: () => void = () => undefined;
      const open = new Promise<void>((r) => (release = r));
      const started = new Promise<void>((r) => (markStarted = r));
      this.held.set(id, { open, release, started, markStarted });
    }
  }

  /** Lets the held node's attempt go on to run its block (and so end). */
  release(...nodeIds: string[]): void {
    for (const id of nodeIds) this.entry(id).release();
  }

  /** Releases every held node (a test that failed half-way must not keep the worker from shutting down). */
  releaseAll(): void {
    for (const e of this.held.values()) e.release();
  }

  /** Resolves once an attempt of the held node has started and is waiting (or ran). */
  started(nodeId: string): Promise<void> {
    return this.entry(nodeId).started;
  }

  /** Wraps `executor.run` (the activities look it up per attempt, so this takes effect at once). */
  install(executor: BlockExecutor): void {
    const run = executor.run.bind(executor);
    executor.run = async (job, ctl) => {
      const gate = this.held.get(job.nodeId);
      if (!gate) return run(job, ctl);
      const startedAt = new Date();
      gate.markStarted();
      // An abort (cancel, timeout) ends the wait; the executor then sees the aborted signal.
      await Promise.race([gate.open, new Promise<void>((r) => (ctl.signal.aborted ? r() : ctl.signal.addEventListener('abort', () => r(), { once: true })))]);
      // The attempt ran from the start of the wait: that is when the timeline shows it starting.
      return { ...(await run(job, ctl)), startedAt };
    };
  }

  private entry(nodeId: string) {
    const e = this.held.get(nodeId);
    if (!e) throw new Error(`node "${nodeId}" is not held by the gate (call gate.hold first)`);
    return e;
  }
}

/**
 * Runs `body` with a fresh worker on a unique task queue and a temporary workspace; shuts the
 * worker down and removes the workspace afterwards (also when `body` throws).
 */
export async function withWorker<T>(config: WorkerConfigInput, body: (ctx: WorkerContext) => Promise<T>, extra: Partial<WorkerOptions> = {}, tracing?: { exporter?: SpanExporter }): Promise<T> {
  const taskQueue = config.taskQueue ?? uid('tq');
  const workspace = config.workspace ?? mkdtempSync(path.join(tmpdir(), 'ragomics-ws-'));
  // Everything from here on is inside the try: a failure to create the worker or to connect the
  // client must not leak the worker's connection, the client or the temporary workspace.
  let rw: RagomicsWorker | undefined;
  let client: RagomicsClient | undefined;
  try {
    const cfg = loadWorkerConfig({ address: TEMPORAL_ADDRESS, executor: 'inprocess', maxConcurrentNodes: 20, logLevel: 'WARN', workerId: uid('worker'), ...config, taskQueue, workspace });
    rw = await createRagomicsWorker(cfg, undefined, extra, tracing);
    const gate = new NodeGate();
    gate.install(rw.executor);
    client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    const ctx: WorkerContext = { client, taskQueue, workspace, rw, gate };
    return await rw.worker.runUntil(body(ctx).finally(() => gate.releaseAll()));
  } finally {
    // After runUntil the worker has shut down and its attempts ended: drain the warm pool, as
    // `ragomics worker` does (workers/main.ts), so no pooled runtime outlives the test.
    await rw?.executor.close?.();
    await client?.close();
    await rw?.connection.close();
    if (!config.workspace) rmSync(workspace, { recursive: true, force: true });
  }
}

/** The workflow code for replay: the prebuilt bundle when there is one, else the sources. */
export function workflowSource(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const bundle = process.env.RAGOMICS_WORKFLOW_BUNDLE ?? path.join(repoRoot(), 'dist', 'workflow-bundle.js');
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

/**
 * Polls `check` every 100 ms until it holds; throws after `timeoutMs`. The default is generous on
 * purpose: it only bounds how long a failing test hangs, and a 2-core box running several suites
 * can take seconds for a state a quiet one reaches in milliseconds.
 */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`condition not reached within ${timeoutMs} ms`);
}
