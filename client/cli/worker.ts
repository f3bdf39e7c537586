/**
 * `ragomics worker` (run a worker until SIGINT/SIGTERM) and `ragomics dev` (start or reuse the
 * local Temporal dev server with its persistent database, then run a worker in this process).
 * The worker modules are loaded only here: they pull in the native Temporal core.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError, ServiceUnavailableError } from '../errors';
import { parsePositiveInt } from './context';

interface WorkerFlags {
  executor?: 'docker' | 'local' | 'inprocess';
  taskQueue?: string;
  maxConcurrentNodes?: string;
}

const EXECUTORS = ['docker', 'local', 'inprocess'] as const;

/** Registers `worker` and `dev`. */
export function registerWorkerCommands(program: Command): void {
  const withWorkerFlags = (cmd: Command): Command => cmd
    .option('--executor <kind>', `where blocks run: ${EXECUTORS.join(', ')} (default: env RAGOMICS_EXECUTOR or docker)`)
    .option('--task-queue <queue>', 'task queue to poll (default: env RAGOMICS_TASK_QUEUE or "ragomics")')
    .option('--max-concurrent-nodes <n>', 'most nodes this worker runs at once, over all trees (default: env RAGOMICS_MAX_CONCURRENT_NODES, else by executor: docker 4, local one per core, inprocess 100)');

  withWorkerFlags(program.command('worker').description('run a worker: executes the tree workflows and their nodes (stops on SIGINT/SIGTERM)'))
    .action(async (opts: WorkerFlags) => {
      await startWorker(opts, {});
    });

  withWorkerFlags(program.command('dev').description('start (or reuse) the local Temporal dev server with a persistent database, then run a worker'))
    .action(async (opts: WorkerFlags) => {
      const address = await ensureDevServer();
      const uiPort = process.env.TEMPORAL_UI_PORT ?? '8233';
      process.stderr.write(`Temporal server: ${address}\nTemporal Web UI: http://localhost:${uiPort}\n`);
      await startWorker(opts, { address });
    });
}

async function startWorker(opts: WorkerFlags, extra: { address?: string }): Promise<void> {
  if (opts.executor !== undefined && !(EXECUTORS as readonly string[]).includes(opts.executor)) {
    throw new InvalidInputError(`--executor: must be one of ${EXECUTORS.join(', ')}, got "${opts.executor}"`);
  }
  const maxConcurrentNodes = opts.maxConcurrentNodes === undefined ? undefined : parsePositiveInt('--max-concurrent-nodes', opts.maxConcurrentNodes, 1000);
  const { runWorker } = await import('../../workers/main.js');
  await runWorker({ executor: opts.executor, taskQueue: opts.taskQueue, maxConcurrentNodes, ...extra });
}

/**
 * Runs `scripts/ensure-temporal.sh` from the checkout: it installs the pinned `temporal` CLI if
 * needed and starts (or reuses) the dev server; its stdout is `TEMPORAL_ADDRESS=host:port`.
 */
async function ensureDevServer(): Promise<string> {
  const { PROJECT_ROOT } = await import('../../workers/config.js');
  const script = path.join(PROJECT_ROOT, 'scripts', 'ensure-temporal.sh');
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve, reject) => {
    const child = spawn('bash', [script], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c ?? 1, stdout: out }));
  });
  const address = /TEMPORAL_ADDRESS=(\S+)/.exec(stdout)?.[1];
  if (code !== 0 || !address) {
    throw new ServiceUnavailableError(`could not start the Temporal dev server (${script} exited ${code}; see its message above); run it by hand: bash scripts/ensure-temporal.sh`);
  }
  return address;
}
