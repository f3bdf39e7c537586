/**
 * The bare Temporal worker (bench/workflows/bare.ts, its no-op activity and its `work` activity)
 * as its own process, so bench/orchestration-overhead.ts runs it the way it runs a ragomics
 * worker: one process per worker, none sharing the benchmark client's event loop.
 *   node dist/bench/workflows/bare-worker.js   (TEMPORAL_ADDRESS, BARE_TASK_QUEUE, BARE_MAX_CONCURRENT, BARE_WORKSPACE, BARE_DISPATCH)
 * `work` runs the real `runNode` activity with the in-process executor, in BARE_WORKSPACE (a
 * folder of its own under the system's temporary folder when unset), as the pool does.
 * BARE_DISPATCH=ragomics gives the worker a ragomics worker's dispatch options (eager nodes,
 * workers/create-worker.ts `dispatchOptions`) instead of the SDK's defaults: a floor measured
 * with a worker tuned worse than ragomics's would be no floor.
 * Prints "worker started" once it polls; exits 0 on SIGINT/SIGTERM after the worker shut down.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { dispatchOptions } from '../../workers/create-worker';
import { createActivities } from '../../activities';
import { createInprocessExecutor } from '../../activities/executors/inprocess';
import type { BareActivities, BareWorkActivities } from './bare';

/** The no-op activity: sleeps `ms` (0 = returns at once) and returns its own start and end. */
const noop: BareActivities['noop'] = async (ms) => {
  const start = Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  return { start, end: Date.now() };
};

/**
 * The pool's work per node (bench/orchestration-overhead.ts `runInPool`): `runNode` on a `sleep`
 * node, in a tree named after the calling workflow, the node named after the activity (its id is
 * the workflow's sequence number, unique in the workflow).
 */
function workActivity(workspaceRoot: string): BareWorkActivities['work'] {
  const { runNode } = createActivities({ executor: createInprocessExecutor(), workspaceRoot, workerId: 'bare' });
  return async (ms, inputPath) => {
    const info = Context.current().info;
    if (!info.workflowExecution) throw new Error('work: called outside a workflow (its tree is named after the workflow)');
    const r = await runNode({
      treeId: info.workflowExecution.workflowId, runKey: 'bare', nodeId: `n${info.activityId}`, attempt: 1, timeoutSeconds: 60,
      block: { name: 'sleep', parameters: { seconds: ms / 1000 } }, inputPath,
    });
    return { start: Date.parse(r.startedAt), end: Date.parse(r.endedAt), outputPath: r.outputPath };
  };
}

async function main(): Promise<void> {
  const taskQueue = process.env.BARE_TASK_QUEUE;
  if (!taskQueue) throw new Error('BARE_TASK_QUEUE: not set (the task queue to poll)');
  const maxConcurrent = Number(process.env.BARE_MAX_CONCURRENT ?? 20);
  const dispatch = process.env.BARE_DISPATCH ?? 'sdk';
  if (dispatch !== 'sdk' && dispatch !== 'ragomics') throw new Error(`BARE_DISPATCH: "sdk" or "ragomics", got "${dispatch}"`);
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const worker = await Worker.create({
    connection, taskQueue, workflowsPath: require.resolve('./bare'), activities: { noop, work: workActivity(process.env.BARE_WORKSPACE || mkdtempSync(path.join(os.tmpdir(), 'ragomics-bare-'))) },
    maxConcurrentActivityTaskExecutions: maxConcurrent,
    ...(dispatch === 'ragomics' ? dispatchOptions({ eagerNodes: true, maxConcurrentNodes: maxConcurrent }) : {}),
  });
  // The SDK's runtime shuts its workers down on SIGINT/SIGTERM (Runtime's default shutdownSignals).
  process.stdout.write('worker started\n');
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bare worker: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
