/**
 * Local executor (the seed's "process" executor): the runner in a Python subprocess on the
 * worker's host. No sandbox: no memory limit, network, or read-only input beyond file modes.
 * Meant for development machines without Docker and for the runner's own tests.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ExecutorUnavailableError } from '../errors';
import { settleWithin, whenAborted } from './abort';
import { openLogSink } from './logs';
import type { BlockExecutor, ExecOutcome } from './types';
import { repoRoot, toolsDir } from './repo-root';
import { localRuntimeIdentity } from '../cache/runtime';

/** Options of {@link createLocalExecutor}. */
export interface LocalExecutorOptions {
  /** Python interpreter. @default {@link resolveLocalPython}() */
  python?: string;
  /** Folder holding the `ragomics_runner` package (put on PYTHONPATH). @default `<package>/blocks/runtime` (shipped in the npm package) */
  runtimeDir?: string;
  /** Extra environment for the runner. */
  env?: Record<string, string>;
}

/**
 * `RAGOMICS_PYTHON`, else `<tools dir>/blocks-venv/bin/python` when it exists (made by
 * scripts/ensure-local-python.sh; `.tools/` in a checkout, `~/.ragomics/tools/` when installed),
 * else `python3`.
 */
export function resolveLocalPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RAGOMICS_PYTHON) return env.RAGOMICS_PYTHON;
  const venv = path.join(toolsDir(env), 'blocks-venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/**
 * Creates the local executor: `python -m ragomics_runner --job <dir>/job.json --workspace <dir>`
 * in its own process group, input symlinked to `<dir>/input/_node_anndata.h5ad` (a multi-input
 * node's inputs to `<dir>/inputs/<key>.h5ad`). On abort the
 * whole group gets SIGKILL (the runner may have started helpers).
 *
 * Failure modes: a missing interpreter rejects `run` with ExecutorUnavailableError.
 */
export function createLocalExecutor(opts: LocalExecutorOptions = {}): BlockExecutor {
  const python = opts.python ?? resolveLocalPython();
  const runtimeDir = opts.runtimeDir ?? path.join(repoRoot(), 'blocks', 'runtime');
  return {
    kind: 'local',
    runtimeIdentity: () => localRuntimeIdentity(python, runtimeDir),
    run: async (job, ctl): Promise<ExecOutcome> => {
      const startedAt = new Date();
      const base = { imageDigest: null, peakMemoryMB: null, oomKilled: false, startedAt };
      if (ctl.signal.aborted) return { ...base, status: 'aborted', exitCode: null, endedAt: startedAt, killMs: 0 };
      if (job.inputPath !== null) {
        await mkdir(path.join(job.paths.dir, 'input'), { recursive: true });
        await symlink(job.inputPath, path.join(job.paths.dir, 'input', '_node_anndata.h5ad'));
      }
      if (job.inputs) {
        // A multi-input node: one symlink per input to the upstream node's own file (nothing copied).
        const dir = path.join(job.paths.dir, 'inputs');
        await mkdir(dir, { recursive: true });
        await Promise.all(job.inputs.map((input) => symlink(input.path, path.join(dir, `${input.key}.h5ad`))));
      }
      const threads = String(Math.max(1, Math.ceil(job.cpus)));
      const spawnT0 = performance.now();
      const child = spawn(python, ['-m', 'ragomics_runner', '--job', job.paths.jobFile, '--workspace', job.paths.dir], {
        cwd: job.paths.dir,
        detached: true, // own process group, so abort can kill the runner and its children at once
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...opts.env,
          PYTHONPATH: [runtimeDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
          PYTHONUNBUFFERED: '1',
          PYTHONDONTWRITEBYTECODE: '1', // keeps the checkout clean; concurrent runners never race on .pyc files
          OMP_NUM_THREADS: threads,
          OPENBLAS_NUM_THREADS: threads,
          MKL_NUM_THREADS: threads,
        },
      });
      // 'exit' gives the code; 'close' comes once stdio is drained (later, if helpers hold the pipes).
      let exitedAt = 0;
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, sig) => {
        exitedAt = performance.now();
        resolve([code, sig]);
      }));
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      const spawnError = await new Promise<Error | null>((resolve) => {
        child.once('spawn', () => resolve(null));
        child.once('error', resolve);
      });
      child.on('error', () => undefined); // later errors (a kill of a dead pid) are not fatal
      if (spawnError) {
        throw new ExecutorUnavailableError(`cannot start the local Python "${python}": ${spawnError.message}; set RAGOMICS_PYTHON`, { logDir: job.paths.dir });
      }
      const spawnedAt = performance.now();
      const processStartedAt = Date.now();
      const sink = openLogSink(job.paths, ctl.onProgress);
      child.stdout.pipe(sink.stdout);
      child.stderr.pipe(sink.stderr);
      ctl.onStarted({ pid: child.pid });
      const aborted = whenAborted(ctl.signal);
      try {
        const first = await Promise.race([exited.then(() => 'exited' as const), aborted.promise.then(() => 'aborted' as const)]);
        if (first === 'aborted') {
          const t0 = performance.now();
          killGroup(child.pid);
          await exited;
          return { ...base, status: 'aborted', exitCode: null, endedAt: new Date(), killMs: performance.now() - t0 };
        }
        const [code, signal] = await exited;
        const exitCode = code ?? 128 + signalNumber(signal);
        const phases = {
          startMs: spawnedAt - spawnT0,
          waitMs: exitedAt - spawnedAt,
          processStartedAt,
          processEndedAt: processStartedAt + (exitedAt - spawnedAt),
        };
        return { ...base, status: 'exited', exitCode, endedAt: new Date(), phases };
      } finally {
        aborted.dispose();
        killGroup(child.pid); // helpers the runner left behind die with the attempt
        await settleWithin(closed, 2000);
        await sink.close();
      }
    },
  };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (os.constants.signals[signal] ?? 0) : 0;
}
