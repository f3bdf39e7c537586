/**
 * `ragomics worker` (run a worker until SIGINT/SIGTERM) and `ragomics dev` (start or reuse the
 * local Temporal dev server with its persistent database, build the blocks image when the Docker
 * executor needs it, then run a worker in this process). Both work from any directory, in a
 * checkout or from the installed package: the scripts they run are found in the package, and
 * state goes to the data folder (activities/executors/repo-root.ts).
 * The worker modules are loaded only here: they pull in the native Temporal core.
 */
import type { Command } from 'commander';
import { dataDir } from '../../activities/executors/repo-root';
import { InvalidInputError, ServiceUnavailableError } from '../errors';
import { parsePositiveInt } from './context';
import { runPackageScript } from './package-scripts';

interface WorkerFlags {
  executor?: 'docker' | 'local' | 'inprocess';
  taskQueue?: string;
  maxConcurrentNodes?: string;
  warm?: string;
}

interface DevFlags extends WorkerFlags {
  stop?: boolean;
}

const EXECUTORS = ['docker', 'local', 'inprocess'] as const;

/** Registers `worker` and `dev`. */
export function registerWorkerCommands(program: Command): void {
  const withWorkerFlags = (cmd: Command): Command => cmd
    .option('--executor <kind>', `where blocks run: ${EXECUTORS.join(', ')} (default: env RAGOMICS_EXECUTOR or docker)`)
    .option('--task-queue <queue>', 'task queue to poll (default: env RAGOMICS_TASK_QUEUE or "ragomics")')
    .option('--max-concurrent-nodes <n>', 'most nodes this worker runs at once, over all trees (default: env RAGOMICS_MAX_CONCURRENT_NODES, else by executor: docker 4, local one per core, inprocess 100)')
    .option('--warm <n>', 'runner processes (local) or containers (docker) kept started with their imports done, so nodes skip that start-up; 0 = off (default: env RAGOMICS_WARM_POOL, else 2 for local and docker, at most the node cap; docker: about 163 MiB per container; local: any N > 0 is one fork server of about 256 MB)');

  withWorkerFlags(program.command('worker').description('run a worker: executes the tree workflows and their nodes (stops on SIGINT/SIGTERM)'))
    .action(async (opts: WorkerFlags) => {
      await startWorker(opts, {});
    });

  withWorkerFlags(program.command('dev').description('start (or reuse) the local Temporal dev server with a persistent database (in the data folder: .data/ in a checkout, else $RAGOMICS_HOME/data, default ~/.ragomics/data; RAGOMICS_DATA_DIR overrides), build the blocks image for the Docker executor, then run a worker; the server keeps running after the worker stops'))
    .option('--stop', 'stop the dev server that `dev` started with this data folder (its database is kept), then exit')
    .action(async (opts: DevFlags) => {
      if (opts.stop) {
        // --stop takes no worker flags: one given with it is a mistake, not something to ignore.
        const given = (['executor', 'taskQueue', 'maxConcurrentNodes', 'warm'] as const).filter((k) => opts[k] !== undefined);
        if (given.length > 0) throw new InvalidInputError(`--stop: takes no worker flags (got ${given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')})`);
        await stopDevServer();
        return;
      }
      const executor = opts.executor !== undefined ? checkExecutor(opts.executor) : checkExecutor(process.env.RAGOMICS_EXECUTOR ?? 'docker', 'RAGOMICS_EXECUTOR');
      const address = await ensureDevServer();
      const uiPort = process.env.TEMPORAL_UI_PORT ?? '8233';
      process.stderr.write(`Temporal server: ${address}\nTemporal Web UI: http://localhost:${uiPort}\nState: ${dataDir()}\n`);
      // The Docker executor runs blocks in the blocks image: build it (content-hashed, so this is
      // a sub-second check when it exists) unless the user named an image.
      if (executor === 'docker' && !process.env.RAGOMICS_BLOCKS_IMAGE) await ensureBlocksImage();
      await startWorker(opts, { address });
    });
}

/** `kind` as an executor name; `source` names where it came from in the error (a flag or a variable). */
function checkExecutor(kind: string, source = '--executor'): (typeof EXECUTORS)[number] {
  if (!(EXECUTORS as readonly string[]).includes(kind)) throw new InvalidInputError(`${source}: must be one of ${EXECUTORS.join(', ')}, got "${kind}"`);
  return kind as (typeof EXECUTORS)[number];
}

async function startWorker(opts: WorkerFlags, extra: { address?: string }): Promise<void> {
  if (opts.executor !== undefined) checkExecutor(opts.executor);
  const maxConcurrentNodes = opts.maxConcurrentNodes === undefined ? undefined : parsePositiveInt('--max-concurrent-nodes', opts.maxConcurrentNodes, 1000);
  const warmPool = opts.warm === undefined ? undefined : parseWarmPool(opts.warm);
  const { runWorker } = await import('../../workers/main.js');
  await runWorker({ executor: opts.executor, taskQueue: opts.taskQueue, maxConcurrentNodes, warmPool, ...extra });
}

/** `--warm N`: a whole number 0-64. @throws InvalidInputError naming the flag and the value. */
export function parseWarmPool(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) > 64) throw new InvalidInputError(`--warm: must be a whole number 0-64 (runtimes kept started; 0 = off), got "${value}"`);
  return Number(value);
}

/**
 * Runs the package's `scripts/ensure-temporal.sh`: it installs the pinned `temporal` CLI if
 * needed (into the tools folder) and starts or reuses the dev server (database in
 * `<data dir>/temporal/`, port TEMPORAL_PORT, default 7233); its stdout is `TEMPORAL_ADDRESS=host:port`.
 * @throws ServiceUnavailableError when the script fails (its one-line reason is already on stderr).
 */
async function ensureDevServer(): Promise<string> {
  const { code, stdout, script } = await runPackageScript('ensure-temporal.sh');
  const address = /TEMPORAL_ADDRESS=(\S+)/.exec(stdout)?.[1];
  if (code !== 0 || !address) {
    throw new ServiceUnavailableError(`could not start the Temporal dev server (${script} exited ${code}; see its message above)`);
  }
  return address;
}

/**
 * Runs the package's `scripts/build-image.sh` (skipped in under a second when the image of the
 * package's blocks/ exists; a first build takes minutes), which records the tag in the data
 * folder, where the worker reads it.
 * @throws ServiceUnavailableError when the build fails (no Docker engine, no base image).
 */
async function ensureBlocksImage(): Promise<void> {
  const { code, script } = await runPackageScript('build-image.sh');
  if (code !== 0) {
    throw new ServiceUnavailableError(`the blocks image could not be built (${script} exited ${code}; see its message above); or run \`ragomics dev --executor local\` (Python on this host) or \`--executor inprocess\` (diagnostic blocks only)`);
  }
}

/**
 * Runs the package's `scripts/stop-temporal.sh`: stops the server whose pid file is in this data
 * folder (never "whatever listens on the port"); nothing to do when none runs.
 * @throws ServiceUnavailableError when the server could not be stopped.
 */
async function stopDevServer(): Promise<void> {
  const { code, script } = await runPackageScript('stop-temporal.sh');
  if (code !== 0) throw new ServiceUnavailableError(`the Temporal dev server could not be stopped (${script} exited ${code}; see its message above)`);
}
