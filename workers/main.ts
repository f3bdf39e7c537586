/**
 * Runs a worker until SIGINT/SIGTERM: installs the Temporal runtime (JSON logs, Prometheus
 * metrics when `RAGOMICS_METRICS_PORT` is set), creates the worker and runs it. On SIGTERM the
 * SDK stops polling at once, lets running nodes finish for `RAGOMICS_SHUTDOWN_GRACE` seconds,
 * then cancels them (their containers are killed and removed), and the process exits. Nodes of
 * trees with `localActivities` get the same grace, then are stopped by this module (the SDK
 * would wait for them without bound): they run again on another worker, as after a crash.
 */
import { Runtime, type Logger } from '@temporalio/worker';
import type { LocalRuns } from '../activities/local-runs';
import type { DockerExecutor } from '../activities/executors/docker';
import { resolveConnection } from '../client/connection';
import { createRagomicsWorker } from './create-worker';
import { startOrphanSweeper, unjudgedWarning } from './orphans';
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
  const { worker, connection, executor, workflows, localRuns } = await createRagomicsWorker(config, logger);
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
      onError: (err, treeIds) => (treeIds ? logger.warn(...unjudgedWarning(err, treeIds)) : logger.warn(`orphan container sweep failed: ${(err as Error).message}`)),
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
  const graceStop = stopLocalRunsAfterGrace(localRuns, config.shutdownGraceSeconds, logger);
  let forced = false;
  try {
    forced = await Promise.race([worker.run().then(() => false), graceStop.forced]);
  } finally {
    graceStop.cancel();
    // worker.run() resolves once every running attempt ended: the warm pool's idle runtimes go now.
    await executor.close?.();
    await stopSweeper?.();
    // After a forced stop the SDK's worker still holds the connection (closing it would throw);
    // the process exits instead (the CLI does once this returns).
    if (!forced) await connection.close();
    logger.info('worker stopped', { workerId: config.workerId, ...(forced ? { localNodesStopped: true } : {}) });
  }
}

/** The signals on which the SDK's runtime shuts its workers down (Runtime.install's default `shutdownSignals`). */
const SHUTDOWN_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR2'];

/** How long the stopped local runs get to kill their blocks and record their attempts. */
const LOCAL_STOP_TIMEOUT_MS = 60_000;

/** How often, once the grace period is over, the worker looks for a local run that started late. */
const LATE_RUN_CHECK_MS = 1000;

/**
 * From the first shutdown signal on, waits the grace period; then, if local runs are still in
 * progress, stops them (activities/local-runs.ts) and resolves `forced` with true, so that
 * runWorker returns without waiting for the SDK, which would wait for them without bound. With
 * none in progress it keeps looking until the worker stops: a workflow task the worker still
 * completes may start one after the grace period.
 */
function stopLocalRunsAfterGrace(localRuns: LocalRuns, graceSeconds: number, logger: Logger): { forced: Promise<boolean>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let resolveForced: (forced: boolean) => void = () => undefined;
  const forced = new Promise<boolean>((resolve) => { resolveForced = resolve; });
  const stopIfRunning = (): void => {
    if (localRuns.size === 0) {
      timer = setTimeout(stopIfRunning, LATE_RUN_CHECK_MS);
      return;
    }
    logger.warn(`shutdown: ${localRuns.size} local node run(s) still running after the ${graceSeconds} s grace period; stopping them (they run again on another worker)`);
    void localRuns.stopAll(LOCAL_STOP_TIMEOUT_MS).then(({ stopped, notEnded }) => {
      if (notEnded > 0) logger.warn(`shutdown: ${notEnded} of ${stopped} local node run(s) did not end within ${LOCAL_STOP_TIMEOUT_MS / 1000} s; exiting anyway`);
      resolveForced(true);
    });
  };
  const onSignal = (): void => {
    removeListeners();
    timer = setTimeout(stopIfRunning, graceSeconds * 1000);
  };
  const removeListeners = (): void => {
    for (const sig of SHUTDOWN_SIGNALS) process.removeListener(sig, onSignal);
  };
  for (const sig of SHUTDOWN_SIGNALS) process.once(sig, onSignal);
  return {
    forced,
    cancel: () => {
      removeListeners();
      clearTimeout(timer);
    },
  };
}
