/**
 * Streams a runner's stdout and stderr into the attempt's log files (never into memory: a block
 * may print gigabytes) while picking `RAGOMICS_PROGRESS` lines out of stdout.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { AttemptPaths, ExecProgress } from './types';
import { RunnerNames } from '../../common/runner-contract';

const PROGRESS_PREFIX = RunnerNames.progressLinePrefix;
/** A progress line longer than this is not a progress line; dropping it bounds the line buffer. */
const MAX_LINE = 16 * 1024;

/** The two writable ends an executor pipes the runner's output into. */
export interface LogSink {
  stdout: Writable;
  stderr: Writable;
  /** Ends both streams and resolves when the files are flushed and closed. Idempotent. */
  close(): Promise<void>;
}

/** Opens stdout.log / stderr.log of an attempt (appending) and parses progress from stdout. */
export function openLogSink(paths: AttemptPaths, onProgress: (p: ExecProgress) => void): LogSink {
  const stdoutFile = createWriteStream(paths.stdoutLog, { flags: 'a' });
  const stderrFile = createWriteStream(paths.stderrLog, { flags: 'a' });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  // A late write after close must not crash the worker with an unhandled 'error' event.
  for (const s of [stdout, stderr, stdoutFile, stderrFile]) s.on('error', () => undefined);
  stdout.pipe(stdoutFile);
  stderr.pipe(stderrFile);
  let pending = '';
  stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const progress = parseProgressLine(line);
      if (progress) onProgress(progress);
    }
    if (pending.length > MAX_LINE) pending = '';
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= Promise.all([endAndWait(stdout, stdoutFile), endAndWait(stderr, stderrFile)]).then(() => undefined);
    return closing;
  };
  return { stdout, stderr, close };
}

async function endAndWait(source: PassThrough, file: WriteStream): Promise<void> {
  source.end();
  await finished(file).catch(() => undefined);
}

/** Parses `RAGOMICS_PROGRESS {"fraction":0.5,"message":"..."}`; null for any other line. */
export function parseProgressLine(line: string): ExecProgress | null {
  const trimmed = line.replace(/\r$/, '');
  if (!trimmed.startsWith(PROGRESS_PREFIX)) return null;
  try {
    const body = JSON.parse(trimmed.slice(PROGRESS_PREFIX.length)) as { fraction?: unknown; message?: unknown };
    const fraction = typeof body.fraction === 'number' && Number.isFinite(body.fraction) ? Math.min(1, Math.max(0, body.fraction)) : null;
    const message = typeof body.message === 'string' ? body.message.slice(0, 500) : '';
    return { fraction, message };
  } catch {
    return null;
  }
}
