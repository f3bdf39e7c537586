/**
 * Runs a worker until SIGINT/SIGTERM: installs the Temporal runtime (JSON logs, Prometheus
 * metrics when `RAGOMICS_METRICS_PORT` is set), creates the worker and runs it. On SIGTERM the
 * SDK stops polling at once, lets running nodes finish for `RAGOMICS_SHUTDOWN_GRACE` seconds,
 * then cancels them (their containers are killed and removed), and the process exits.
 */
import { Runtime } from '@temporalio/worker';
import type { DockerExecutor } from '../activities/executors/docker';
import { resolveConnection } from '../client/connection';
import { createRagomicsWorker } from './create-worker';
import { startOrphanSweeper } from './orphans';
import { loadWorkerConfig, nodeCapIsSet, type WorkerConfigInput } from './config';
import { createJsonLogger } from './logging';

let runtimeInstalled = false;

/** Runs a worker with the configuration from `overrides` and the environment; resolves after shutdown. */
export async function runWorker(overrides: WorkerConfigInput = {}): Promise<void> {
  const config = loadWorkerConfig(overrides);
  const logger = createJsonLogger(config.logLevel);
  if (!runtimeInstalled) {
    Runtime.install({
      logger,
      telemetryOptions: config.metricsPort > 0 ? { metrics: { prometheus: { bindAddress: `0.0.0.0:${config.metricsPort}` } } } : undefined,
    });
    runtimeInstalled = true;
  }
  const resolved = resolveConnection({ address: config.address, namespace: config.namespace });
  const { worker, connection, executor, workflows } = await createRagomicsWorker(config, logger);
  // Containers of workers that die while this one runs are removed once Temporal gives up on them.
  const stopSweeper = executor.kind === 'docker' && config.orphanSweepSeconds > 0
    ? startOrphanSweeper({
      docker: (executor as DockerExecutor).docker,
      connectionOptions: resolved.connectionOptions,
      namespace: resolved.namespace,
      intervalMs: config.orphanSweepSeconds * 1000,
      isActive: (id) => (executor as DockerExecutor).activeContainers().has(id),
      // Each with its name (the attempt it ran, for a pool member too) and the worker it belonged to.
      onRemoved: (removed) => logger.warn(`removed ${removed.length} container(s) left by dead workers`, {
        containers: removed.map((c) => ({ id: c.Id.slice(0, 12), name: c.Names?.[0]?.replace(/^\//, '') ?? null, worker: c.Labels['ragomics.worker'] ?? null, state: c.State })),
      }),
      onError: (err) => logger.warn(`orphan container sweep failed: ${(err as Error).message}`),
    })
    : null;
  // The cap decides how many nodes of all trees on the queue run at once: say which one is in force and why.
  const capOrigin = nodeCapIsSet(overrides)
    ? 'set by --max-concurrent-nodes or RAGOMICS_MAX_CONCURRENT_NODES'
    : `the default for the ${config.executor} executor; set RAGOMICS_MAX_CONCURRENT_NODES or --max-concurrent-nodes to change it`;
  logger.info('worker started', {
    taskQueue: config.taskQueue, executor: config.executor, workerId: config.workerId, maxConcurrentNodes: config.maxConcurrentNodes, warmPool: config.warmPool,
    nodeSlots: `up to ${config.maxConcurrentNodes} node(s) at once, over all trees (${capOrigin}); a tree runs at most min(its maxParallelJobs, free worker slots on task queue "${config.taskQueue}")`,
    address: resolved.address, workspace: config.workspace, workflows, metrics: config.metricsPort > 0 ? `http://0.0.0.0:${config.metricsPort}/metrics` : 'off',
  });
  try {
    await worker.run();
  } finally {
    // worker.run() resolves once every running attempt ended: the warm pool's idle runtimes go now.
    await executor.close?.();
    await stopSweeper?.();
    await connection.close();
    logger.info('worker stopped', { workerId: config.workerId });
  }
}
