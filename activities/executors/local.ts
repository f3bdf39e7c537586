/**
 * Local executor (the seed's "process" executor): the runner in a Python subprocess on the
 * worker's host. No sandbox: no memory limit, network, or read-only input beyond file modes.
 * Meant for development machines without Docker and for the runner's own tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ExecutorUnavailableError } from '../errors';
import { settleWithin, whenAborted } from './abort';
import { openLogSink } from './logs';
import type { BlockExecutor, ExecControl, ExecJob, ExecOutcome, ExecPhases } from './types';
import { spawnWarmMember, type LocalWarmMember } from './local-warm';
import { createWarmPool, type WarmPool, type WarmPoolStats } from './warm-pool';

/** The local executor: a {@link BlockExecutor} whose warm pool can be observed. */
export interface LocalExecutor extends BlockExecutor {
  readonly kind: 'local';
  /** The warm pool's counters; null without a pool (`warmPool` 0). */
  warmPoolStats(): WarmPoolStats | null;
}
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
  /**
   * Runner processes kept started (`python -m ragomics_runner --warm`: interpreter up, anndata,
   * matplotlib and scanpy imported) so that an attempt skips that start-up. 0 = every attempt
   * starts its own process. An attempt that finds no idle member runs cold, never waits. Each
   * member holds about 250 MB of memory (RSS with scanpy imported) and takes 1.5-3 s to start
   * (measured on the blocks venv; see docs/cli.md). The worker's default: {@link DEFAULT_WARM_POOL}.
   * @default 0
   */
  warmPool?: number;
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
 * With `warmPool` > 0 an attempt first takes a pooled `python -m ragomics_runner --warm` (already
 * started, in its own process group, environment without anything of a job): the same links,
 * then the job line `{job, workspace, threads}` on its stdin; its output from the ready line on
 * goes to the attempt's logs and progress exactly as a cold run's. Exit codes, logs, abort
 * (group SIGKILL, killMs) are the cold run's; `phases.warm` is true and `assignMs` is set. No
 * idle member, or one that died: the attempt runs cold. `close()` kills the idle members.
 *
 * Failure modes: a missing interpreter rejects `run` with ExecutorUnavailableError (the pool's
 * failed starts are logged, backed off and retried; attempts then run cold).
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
  const pool = (opts.warmPool ?? 0) > 0 ? createLocalWarmPool(opts.warmPool!, python, baseEnv()) : null;
  return {
    kind: 'local',
    runtimeIdentity: () => localRuntimeIdentity(python, runtimeDir),
    close: async () => {
      await pool?.drain();
    },
    warmPoolStats: () => pool?.stats() ?? null,
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
      const threads = Math.max(1, Math.ceil(job.cpus));
      const member = pool?.take() ?? null;
      if (member) {
        const warm = await runWarm(member, job, ctl, threads, base);
        if (warm) return warm;
        // The member died before it could take the job (between take() and the job line): cold.
      }
      const spawnT0 = performance.now();
      const child = spawn(python, ['-m', 'ragomics_runner', '--job', job.paths.jobFile, '--workspace', job.paths.dir], {
        cwd: job.paths.dir,
        detached: true, // own process group, so abort can kill the runner and its children at once
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...baseEnv(), OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
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
      return awaitAttempt(child, exited.then(([code, sig]) => ({ code, signal: sig, at: exitedAt })), closed, sink, ctl, base, (exitAt) => ({
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
 * Runs the attempt on a pooled process: the job line on its stdin, its output to the attempt's
 * logs. Null when the member turned out dead before it got the job (the caller runs cold).
 */
async function runWarm(member: LocalWarmMember, job: ExecJob, ctl: ExecControl, threads: number, base: OutcomeBase): Promise<ExecOutcome | null> {
  const assignT0 = performance.now();
  if (member.exit() !== null) return null;
  const sink = openLogSink(job.paths, ctl.onProgress);
  member.assign(sink);
  const line = JSON.stringify({ job: job.paths.jobFile, workspace: job.paths.dir, threads }) + '\n';
  const written = await new Promise<Error | null>((resolve) => member.child.stdin.once('error', resolve).end(line, (err?: Error | null) => resolve(err ?? null)));
  if (written !== null) {
    // EPIPE: it died before reading its job. Nothing of the job ran; the attempt runs cold.
    killGroup(member.pid);
    await settleWithin(member.closed, 2000);
    await sink.close();
    return null;
  }
  const assignedAt = performance.now();
  ctl.onStarted({ pid: member.pid });
  return awaitAttempt(member.child, member.exited, member.closed, sink, ctl, base, (exitAt) => ({
    warm: true,
    assignMs: assignedAt - assignT0,
    startMs: 0, // no process was started for this attempt
    waitMs: exitAt - assignedAt,
    processStartedAt: member.spawnedAt,
    processEndedAt: Date.now() - (performance.now() - exitAt),
  }));
}

/**
 * The part shared by cold and warm attempts: wait for the exit or the abort (then kill the
 * group and measure killMs), kill leftover helpers, wait for stdio and close the logs.
 */
async function awaitAttempt(
  child: ChildProcess,
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
      killGroup(child.pid);
      await exited;
      return { ...base, status: 'aborted', exitCode: null, endedAt: new Date(), killMs: performance.now() - t0 };
    }
    const { code, signal, at } = await exited;
    const exitCode = code ?? 128 + signalNumber(signal);
    return { ...base, status: 'exited', exitCode, endedAt: new Date(), phases: phases(at) };
  } finally {
    aborted.dispose();
    killGroup(child.pid); // helpers the runner left behind die with the attempt
    await settleWithin(closed, 2000);
    await sink.close();
  }
}

/**
 * The pool of warm runner processes: members spawned with the job-independent environment;
 * one that exits while idle is dropped at once (and never handed out); drain kills them all.
 */
function createLocalWarmPool(size: number, python: string, env: NodeJS.ProcessEnv): WarmPool<LocalWarmMember> {
  const pool: WarmPool<LocalWarmMember> = createWarmPool<LocalWarmMember>({
    size,
    create: () => spawnWarmMember({ python, env, onIdleExit: (m) => pool.evict(m) }),
    destroy: async (m) => {
      killGroup(m.pid);
      await settleWithin(m.exited, 2000);
    },
    alive: (m) => m.exit() === null,
    ready: (m) => m.ready(),
    onError: (e) => console.warn(`[ragomics] local warm pool: ${(e as Error).message ?? String(e)}`),
  });
  return pool;
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
