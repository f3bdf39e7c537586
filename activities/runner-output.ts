/**
 * Reads what a finished runner left for diagnosis: the last lines of stderr and its
 * `RAGOMICS_ERROR` record (last stderr line, or `output/error.json` as a fallback).
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { AttemptPaths } from './executors/types';
import { readSmallText } from './result-manifest';
import { RunnerNames } from '../common/runner-contract';

/** How many stderr lines a failure message carries. */
export const STDERR_TAIL_LINES = 40;
/** Bytes read from the end of stderr.log; enough for 40 lines of tracebacks. */
const TAIL_BYTES = 64 * 1024;
const ERROR_PREFIX = RunnerNames.errorLinePrefix;

/** The runner's own account of a failure. */
export interface RunnerError {
  code: number | null;
  type: string | null;
  message: string;
}

/** Last `lines` lines of a file, '' when it is missing or empty. Reads at most 64 KiB. */
export async function readTail(file: string, lines = STDERR_TAIL_LINES): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    await handle.read(buf, 0, buf.length, start);
    const text = buf.toString('utf8').replace(/\s+$/, '');
    return text.split('\n').slice(-lines).join('\n');
  } finally {
    await handle.close();
  }
}

/** The stderr tail and the runner's error record of a finished attempt. */
export async function readRunnerFailure(paths: AttemptPaths): Promise<{ stderrTail: string; runnerError: RunnerError | null }> {
  const stderrTail = await readTail(paths.stderrLog);
  const fromStderr = stderrTail
    .split('\n')
    .reverse()
    .find((line) => line.startsWith(ERROR_PREFIX));
  let runnerError = fromStderr ? parseRunnerError(fromStderr.slice(ERROR_PREFIX.length)) : null;
  if (!runnerError) {
    // Written by the block's process: never followed through a link, a FIFO or without bound.
    const text = await readSmallText(path.join(paths.outputDir, RunnerNames.errorFile)).catch(() => null);
    if (text !== null) runnerError = parseRunnerError(text);
  }
  return { stderrTail, runnerError };
}

function parseRunnerError(json: string): RunnerError | null {
  try {
    const v = JSON.parse(json) as { code?: unknown; type?: unknown; message?: unknown };
    return {
      code: typeof v.code === 'number' ? v.code : null,
      type: typeof v.type === 'string' ? v.type : null,
      message: typeof v.message === 'string' ? v.message : '',
    };
  } catch {
    return null;
  }
}
