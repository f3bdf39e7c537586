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
import type { BlockExecutor, ExecControl, ExecJob, ExecOutcome, ExecPhases } from './types';
import { createForkServer, killGroup, type ForkedRun, type ForkServer, type ForkServerStats } from './fork-server';

/** The local executor: a {@link BlockExecutor} whose fork server can be observed. */
export interface LocalExecutor extends BlockExecutor {
  readonly kind: 'local';
  /** The fork server's counters; null without one (`warmPool` 0). */
  forkServerStats(): ForkServerStats | null;
}
import { repoRoot, toolsDir } from './repo-root';
import { localRuntimeIdentity } from '../cache/runtime';
import { RunnerNames } from '../../common/runner-contract';

/** Options of {@link createLocalExecutor}. */
export interface LocalExecutorOptions {
  /** Python interpreter. @default {@link resolveLocalPython}() */
  python?: string;
  /** Folder holding the `ragomics_runner` package (put on PYTHONPATH). @default `<package>/blocks/runtime` (shipped in the npm package) */
  runtimeDir?: string;
  /** Extra environment for the runner. */
  env?: Record<string, string>;
  /**
   * Warm mode on (> 0) or off (0). On: the executor keeps ONE fork server
   * (`python -m ragomics_runner --fork-server`: interpreter up, anndata, matplotlib and scanpy
   * imported once, about 250 MB RSS, 1.5-6 s to start) and every attempt runs in a child forked
   * from it (a few ms instead of a Python start and the imports; the server keeps one spare child
   * forked ahead, and a child's exit is reported before the kernel's teardown: forkserver.py). The number itself is not used
   * by the local executor (the Docker executor's pool size shares the option); any N > 0 means
   * one server. An attempt that arrives while the server is not ready runs cold, never waits.
   * The worker's default: `defaultWarmPool` (workers/config.ts). See docs/cli.md.
   * @default 0
   */
  warmPool?: number;
}

/**
 * `RAGOMICS_PYTHON`, else `<tools dir>/blocks-venv/bin/python` when it exists (made by
 * scripts/ensure-local-python.sh; `.tools/` in a checkout, `~/.ragomics/tools/` when installed),
 * else `python3`. A relative `RAGOMICS_PYTHON` path (one with a "/", e.g.
 * `.tools/blocks-venv/bin/python`) is resolved against the current directory here, as the user
 * meant it: the runner and the fork server start in other folders. A bare name (`python3`) is
 * left for PATH.
 */
export function resolveLocalPython(env: NodeJS.ProcessEnv = process.env): string {
  const asked = env.RAGOMICS_PYTHON;
  if (asked) return asked.includes('/') ? path.resolve(asked) : asked;
  const venv = path.join(toolsDir(env), 'blocks-venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/**
 * Creates the local executor: `python -m ragomics_runner --job <dir>/job.json --workspace <dir>`
 * in its own process group, input symlinked to `<dir>/input/_node_anndata.h5ad` (a multi-input
 * node's inputs to `<dir>/inputs/<key>.h5ad`). On abort the
 * whole group gets SIGKILL (the runner may have started helpers).
 *
 * With `warmPool` > 0 an attempt first asks the executor's fork server (fork-server.ts) for a
 * child: the same links, then the job line; the child runs in its own session (process group),
 * its stdout/stderr reach the attempt's logs and progress through a Unix socket exactly as a
 * cold run's pipes do. Exit codes (code, or 128 + signal), logs, abort (group SIGKILL, killMs)
 * are the cold run's; `phases.warm` is true and `assignMs` is set (job line to `started`). A
 * server not ready, dead or refusing: the attempt runs cold, and the server is restarted in the
 * background. `close()` ends the server.
 *
 * Failure modes: a missing interpreter rejects `run` with ExecutorUnavailableError (the fork
 * server's failed starts are logged, backed off and retried; attempts then run cold).
 */
export function createLocalExecutor(opts: LocalExecutorOptions = {}): LocalExecutor {
  const python = opts.python ?? resolveLocalPython();
  const runtimeDir = opts.runtimeDir ?? path.join(repoRoot(), 'blocks', 'runtime');
  const baseEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    ...opts.env,
    PYTHONPATH: [runtimeDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1', // keeps the checkout clean; concurrent runners never race on .pyc files
  });
  // BLAS/OpenMP pools of one thread are never started: the server has one thread when it forks
  // (forkserver.py); each child raises the limits to its job's `threads`. numba's count stays
  // the default, since numba cannot go above the count it was imported with.
  const server = (opts.warmPool ?? 0) > 0
    ? createForkServer({ python, env: { ...baseEnv(), OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' } })
    : null;
  return {
    kind: 'local',
    runtimeIdentity: () => localRuntimeIdentity(python, runtimeDir),
    close: async () => {
      await server?.close();
    },
    forkServerStats: () => server?.stats() ?? null,
    run: async (job, ctl): Promise<ExecOutcome> => {
      const startedAt = new Date();
      const base = { imageDigest: null, peakMemoryMB: null, oomKilled: false, startedAt };
      if (ctl.signal.aborted) return { ...base, status: 'aborted', exitCode: null, endedAt: startedAt, killMs: 0 };
      if (job.inputPath !== null) {
        await mkdir(path.join(job.paths.dir, 'input'), { recursive: true });
        await symlink(job.inputPath, path.join(job.paths.dir, 'input', RunnerNames.anndataFile));
      }
      if (job.inputs) {
        // A multi-input node: one symlink per input to the upstream node's own file (nothing copied).
        const dir = path.join(job.paths.dir, 'inputs');
        await mkdir(dir, { recursive: true });
        await Promise.all(job.inputs.map((input) => symlink(input.path, path.join(dir, `${input.key}.h5ad`))));
      }
      const threads = Math.max(1, Math.ceil(job.cpus));
      if (server) {
        const warm = await runForked(server, job, ctl, threads, base);
        if (warm) return warm;
        // Aborted while the server forked: nothing ran. Else no server ready, or it died, refused
        // or never confirmed the fork: cold.
        if (ctl.signal.aborted) return { ...base, status: 'aborted', exitCode: null, endedAt: new Date(), killMs: 0 };
      }
      const spawnT0 = performance.now();
      const child = spawn(python, ['-m', 'ragomics_runner', '--job', job.paths.jobFile, '--workspace', job.paths.dir], {
        cwd: job.paths.dir,
        detached: true, // own process group, so abort can kill the runner and its children at once
        // Stdin: a pipe this process holds open and never writes: if the worker dies it closes,
        // and the runner stops the node instead of computing for nobody (ragomics_runner/orphan.py).
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...baseEnv(), OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads), [RunnerNames.watchStdinEnv]: '1' },
      });
      child.stdin.on('error', () => undefined); // EPIPE once it exited: nothing is written anyway
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
      return awaitAttempt(child.pid, exited.then(([code, sig]) => ({ code, signal: sig, at: exitedAt })), closed, sink, ctl, base, (exitAt) => ({
        startMs: spawnedAt - spawnT0,
        waitMs: exitAt - spawnedAt,
        processStartedAt,
        processEndedAt: processStartedAt + (exitAt - spawnedAt),
      }));
    },
  };
}

type OutcomeBase = Pick<ExecOutcome, 'imageDigest' | 'peakMemoryMB' | 'oomKilled' | 'startedAt'>;

/**
 * Runs the attempt in a child of the fork server, its output into the attempt's logs. Null when
 * the server could not fork it (the caller runs cold; nothing of the job ran).
 */
async function runForked(server: ForkServer, job: ExecJob, ctl: ExecControl, threads: number, base: OutcomeBase): Promise<ExecOutcome | null> {
  const assignT0 = performance.now();
  const sink = openLogSink(job.paths, ctl.onProgress);
  const run: ForkedRun | null = await server.start({ jobFile: job.paths.jobFile, dir: job.paths.dir, threads }, sink, ctl.signal); // never throws
  if (run === null) {
    await sink.close();
    return null;
  }
  const assignedAt = performance.now();
  const processStartedAt = Date.now();
  ctl.onStarted({ pid: run.pid });
  return awaitAttempt(run.pid, run.exited, run.closed, sink, ctl, base, (exitAt) => ({
    warm: true,
    assignMs: assignedAt - assignT0,
    startMs: 0, // no interpreter was started for this attempt
    waitMs: exitAt - assignedAt,
    processStartedAt,
    processEndedAt: processStartedAt + (exitAt - assignedAt),
  }));
}

/**
 * The part shared by cold and warm attempts: wait for the exit or the abort (then kill the
 * group and measure killMs), kill leftover helpers, wait for stdio and close the logs.
 */
async function awaitAttempt(
  pid: number | undefined,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>,
  closed: Promise<void>,
  sink: { close(): Promise<void> },
  ctl: ExecControl,
  base: OutcomeBase,
  phases: (exitAt: number) => ExecPhases,
): Promise<ExecOutcome> {
  const aborted = whenAborted(ctl.signal);
  try {
    const first = await Promise.race([exited.then(() => 'exited' as const), aborted.promise.then(() => 'aborted' as const)]);
    if (first === 'aborted') {
      const t0 = performance.now();
      killGroup(pid);
      await exited;
      return { ...base, status: 'aborted', exitCode: null, endedAt: new Date(), killMs: performance.now() - t0 };
    }
    const { code, signal, at } = await exited;
    const exitCode = code ?? 128 + signalNumber(signal);
    return { ...base, status: 'exited', exitCode, endedAt: new Date(), phases: phases(at) };
  } finally {
    aborted.dispose();
    killGroup(pid); // helpers the runner left behind die with the attempt
    await settleWithin(closed, 2000);
    await sink.close();
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (os.constants.signals[signal] ?? 0) : 0;
}
