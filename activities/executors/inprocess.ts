/**
 * In-process executor (the seed's "thread" executor): runs ONLY the diagnostic `sleep` block,
 * inside the worker, for scheduling tests and benchmarks without container start-up costs.
 * It mimics the runner contract (RAGOMICS_ERROR on stderr.log, exit codes, output/ with a
 * placeholder `_node_anndata.h5ad` and result.json), so publishing and failure mapping are the
 * same code paths as for real blocks.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BlockParameterSchemas } from '../../common/block-catalog';
import { formatZodError } from '../../common/schemas';
import { RunnerErrorTypes, RunnerExitCodes, RunnerNames, type RunnerFailureExitCode } from '../../common/runner-contract';
import type { BlockExecutor, ExecControl, ExecJob, ExecOutcome } from './types';
import { inprocessRuntimeIdentity } from '../cache/runtime';

/** How often a sleeping block reports progress. */
const PROGRESS_EVERY_MS = 1000;

/**
 * Creates the in-process executor. `sleep` takes a single input or a multi-input node's inputs
 * (reading none of them; their keys become the metric `input_keys`). Any other block ends as InvalidParameters
 * ("not supported by the inprocess executor"); `fail: true` as BlockCrashed; `memoryMB`
 * allocates and holds a Buffer of that size (zero-filled, so the pages are really used).
 */
export function createInprocessExecutor(): BlockExecutor {
  return {
    kind: 'inprocess',
    runtimeIdentity: () => inprocessRuntimeIdentity(__filename),
    run: async (job, ctl) => runSleep(job, ctl),
  };
}

async function runSleep(job: ExecJob, ctl: ExecControl): Promise<ExecOutcome> {
  const startedAt = new Date();
  const done = (status: 'exited' | 'aborted', exitCode: number | null, peakMemoryMB: number | null = null, killMs?: number): ExecOutcome => ({
    status, exitCode, oomKilled: false, imageDigest: null, peakMemoryMB, startedAt, endedAt: new Date(), ...(killMs === undefined ? {} : { killMs }),
  });
  const block = job.block;
  if (!('name' in block) || block.name !== 'sleep') {
    const what = 'name' in block ? `block "${block.name}"` : 'inline code';
    await runnerError(job, RunnerExitCodes.invalidParameters, `${what} is not supported by the inprocess executor; use docker or local`);
    return done('exited', RunnerExitCodes.invalidParameters);
  }
  const parsed = BlockParameterSchemas.sleep.safeParse(block.parameters);
  if (!parsed.success) {
    await runnerError(job, RunnerExitCodes.invalidParameters, formatZodError(parsed.error, 'parameters'));
    return done('exited', RunnerExitCodes.invalidParameters);
  }
  const { seconds, fail, memoryMB } = parsed.data;
  ctl.onStarted({ pid: process.pid });
  // Emulates the container's hard limit, so OOM handling (and memory growth on retry) can be
  // exercised without Docker.
  if (memoryMB > job.memoryMB) {
    await runnerError(job, RunnerExitCodes.outOfMemory, `sleep asked for ${memoryMB} MB; the attempt's limit is ${job.memoryMB} MB`);
    return done('exited', RunnerExitCodes.outOfMemory);
  }
  let held: Buffer | null;
  try {
    held = memoryMB > 0 ? Buffer.alloc(memoryMB * 1024 * 1024) : null;
  } catch (e) {
    await runnerError(job, RunnerExitCodes.outOfMemory, `cannot allocate ${memoryMB} MB in the worker: ${(e as Error).message}`);
    return done('exited', RunnerExitCodes.outOfMemory);
  }
  try {
    const finished = await sleepUnlessAborted(seconds * 1000, ctl);
    if (!finished) return done('aborted', null, memoryMB || null, 0);
    if (fail) {
      await runnerError(job, RunnerExitCodes.blockCrashed, 'sleep block asked to fail (fail=true)');
      return done('exited', RunnerExitCodes.blockCrashed, memoryMB || null);
    }
    await writePlaceholderOutput(job, { seconds, memoryMB, heldBytes: held?.length ?? 0 }, job.inputs?.map((i) => i.key));
    return done('exited', RunnerExitCodes.ok, memoryMB || null);
  } finally {
    held = null; // released to the GC with the attempt
  }
}

/** Sleeps `ms`, reporting progress; false when aborted first. `ms` 0 returns at once (no timer: Node's shortest is 1 ms). */
function sleepUnlessAborted(ms: number, ctl: ExecControl): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(!ctl.signal.aborted);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const tick = setInterval(() => ctl.onProgress({ fraction: Math.min(1, (Date.now() - t0) / Math.max(ms, 1)), message: 'sleeping' }), PROGRESS_EVERY_MS);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      clearInterval(tick);
      ctl.signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    if (ctl.signal.aborted) return finish(false);
    ctl.signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Leaves the runner's failure record, with the type the contract names for `code`, as the real runner would. */
async function runnerError(job: ExecJob, code: RunnerFailureExitCode, message: string): Promise<void> {
  const record = JSON.stringify({ code, type: RunnerErrorTypes[code], message });
  await appendFile(job.paths.stderrLog, `${RunnerNames.errorLinePrefix}${record}\n`);
  await writeFile(path.join(job.paths.outputDir, RunnerNames.errorFile), record);
}

/**
 * `inputKeys`: a multi-input node's input keys in the order the executor got them; recorded as
 * the metric `input_keys` (like the Python sleep block), so scheduling tests can assert it.
 */
async function writePlaceholderOutput(job: ExecJob, numbers: Record<string, number>, inputKeys?: string[]): Promise<void> {
  const metrics: Record<string, unknown> = inputKeys ? { ...numbers, input_keys: inputKeys } : numbers;
  const out = job.paths.outputDir;
  const manifest = { shape: null, metrics, suggestedChildren: [], summary: `slept ${numbers.seconds} s in process${inputKeys ? ` (inputs: ${inputKeys.join(', ')})` : ''}`, figures: [], obsColumns: [], obsmKeys: [] };
  // Three independent writes at once (one thread-pool round trip deep, not three: a no-op node
  // pays them between its parent's end and its children's start).
  await Promise.all([
    mkdir(path.join(out, RunnerNames.figuresDir), { recursive: true }),
    // Not an AnnData file: a marker that lets checksums, publishing and children's input checks work.
    writeFile(path.join(out, RunnerNames.anndataFile), `ragomics inprocess placeholder for ${job.treeId}/${job.nodeId} attempt ${job.attempt}\n`),
    writeFile(path.join(out, RunnerNames.resultFile), JSON.stringify(manifest)),
  ]);
}
