/**
 * The bare Temporal worker (bench/workflows/bare.ts and its no-op activity) as its own process,
 * so bench/orchestration-overhead.ts runs it the way it runs a ragomics worker: one process per
 * worker, none sharing the benchmark client's event loop.
 *   node dist/bench/workflows/bare-worker.js   (TEMPORAL_ADDRESS, BARE_TASK_QUEUE, BARE_MAX_CONCURRENT)
 * Prints "worker started" once it polls; exits 0 on SIGINT/SIGTERM after the worker shut down.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import type { BareActivities } from './bare';

/** The no-op activity: sleeps `ms` (0 = returns at once) and returns its own start and end. */
const noop: BareActivities['noop'] = async (ms) => {
  const start = Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  return { start, end: Date.now() };
};

async function main(): Promise<void> {
  const taskQueue = process.env.BARE_TASK_QUEUE;
  if (!taskQueue) throw new Error('BARE_TASK_QUEUE: not set (the task queue to poll)');
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const worker = await Worker.create({
    connection, taskQueue, workflowsPath: require.resolve('./bare'), activities: { noop },
    maxConcurrentActivityTaskExecutions: Number(process.env.BARE_MAX_CONCURRENT ?? 20),
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
