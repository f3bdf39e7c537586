/**
 * Reads the runner's `result.json` leniently: the known fields are validated, the rest ignored,
 * and suggested children that fail the schema are dropped with a warning rather than failing
 * a node whose data output is fine.
 */
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SuggestedChildSchema, type SuggestedChild } from '../common/schemas';
import { BlockCrashedError } from './errors';

import { RUNNER_OPTIONAL_TIMING_MARKS, RUNNER_TIMING_MARKS, RunnerNames, type RunnerOptionalTimingMark, type RunnerTimingMark } from '../common/runner-contract';

// The marks and their order come from the generated contract (blocks/runner-contract.json).
export { RUNNER_OPTIONAL_TIMING_MARKS, RUNNER_TIMING_MARKS, type RunnerOptionalTimingMark, type RunnerTimingMark };

/**
 * Wall-clock marks (epoch ms) of one runner process, from result.json's `timings`: one per
 * {@link RUNNER_TIMING_MARKS} (each mark's meaning is documented there); null for a mark the
 * runner could not take (`processStart` where /proc is missing); plus the
 * {@link RUNNER_OPTIONAL_TIMING_MARKS} the run took (`jobReceivedAt` in a warm run), absent otherwise.
 */
export type RunnerTimings = Record<RunnerTimingMark, number | null> & Partial<Record<RunnerOptionalTimingMark, number>>;

/** Size and identity (inode, device) of a file the runner read or wrote, from result.json's `io`. */
export interface RunnerFileFacts {
  bytes: number;
  inode: number;
  device: number;
}

const FileFactsSchema = z.object({ bytes: z.number(), inode: z.number(), device: z.number() });
const TimingsSchema = z.object({
  ...(Object.fromEntries(RUNNER_TIMING_MARKS.map((k) => [k, z.number().nullable()])) as Record<RunnerTimingMark, z.ZodNullable<z.ZodNumber>>),
  ...(Object.fromEntries(RUNNER_OPTIONAL_TIMING_MARKS.map((k) => [k, z.number().optional()])) as Record<RunnerOptionalTimingMark, z.ZodOptional<z.ZodNumber>>),
});
const IoSchema = z.object({
  input: FileFactsSchema.nullable(),
  output: FileFactsSchema.nullable(),
  inputs: z.array(z.object({ key: z.string(), facts: FileFactsSchema.nullable() })).optional(),
});

const ManifestSchema = z.object({
  shape: z.tuple([z.number(), z.number()]).nullable().optional(),
  metrics: z.record(z.string(), z.unknown()).optional(),
  suggestedChildren: z.array(z.unknown()).optional(),
  summary: z.string().optional(),
  figures: z.array(z.string()).optional(),
  // Diagnostics only: checked separately so that a malformed value is dropped, not fatal.
  timings: z.unknown().optional(),
  io: z.unknown().optional(),
});

/** The fields of result.json that go into NodeResult; figures relative to the output folder. */
export interface ResultManifest {
  shape: [number, number] | null;
  metrics: Record<string, unknown>;
  suggestedChildren: SuggestedChild[];
  summary: string;
  figures: string[];
  /** The runner's phase marks; absent for runners that write none (older images, stand-ins). */
  timings?: RunnerTimings;
  /**
   * Input and output file facts; absent like `timings`. A multi-input node has `input` null and
   * `inputs`: one entry per input, in order (facts null when the runner could not stat it).
   */
  io?: { input: RunnerFileFacts | null; output: RunnerFileFacts | null; inputs?: { key: string; facts: RunnerFileFacts | null }[] };
}

/** Durations in ms between the runner's marks; a phase is null when one of its marks is missing. */
export interface RunnerPhases {
  /** processStart → runnerStart: interpreter start-up (site, `-m` lookup) before any runner code. */
  bootMs: number | null;
  /** runnerStart → importStart: runner set-up (cache seeding, argument and job parsing). */
  setupMs: number | null;
  /** importStart → importsDone: anndata, matplotlib, the block module and scanpy. */
  importMs: number | null;
  /** importsDone → inputRead: reading the input .h5ad into memory. */
  readMs: number | null;
  /** inputRead → runDone: the block's run() (figures included). */
  computeMs: number | null;
  /** runDone → outputWritten: writing the output .h5ad. */
  writeMs: number | null;
}

/** Turns the runner's marks into phase durations (see {@link RunnerPhases}). */
export function runnerPhases(t: RunnerTimings): RunnerPhases {
  const span = (a: RunnerTimingMark, b: RunnerTimingMark): number | null => (t[a] === null || t[b] === null ? null : t[b] - t[a]);
  return {
    bootMs: span('processStart', 'runnerStart'),
    setupMs: span('runnerStart', 'importStart'),
    importMs: span('importStart', 'importsDone'),
    readMs: span('importsDone', 'inputRead'),
    computeMs: span('inputRead', 'runDone'),
    writeMs: span('runDone', 'outputWritten'),
  };
}

/** @throws BlockCrashedError when result.json is missing or not the documented shape. */
export async function readResultManifest(outputDir: string, warn: (message: string) => void): Promise<ResultManifest> {
  const file = path.join(outputDir, RunnerNames.resultFile);
  const logDir = path.dirname(outputDir);
  const text = await readSmallText(file).catch((e: unknown) => e as Error);
  if (text instanceof Error) {
    const code = (text as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BlockCrashedError(`the runner exited 0 but wrote no result.json in ${outputDir}`, { exitCode: 0, logDir });
    const why = text instanceof UnreadableFileError ? text.message : code === 'ELOOP' ? 'it is a symbolic link' : code === 'EAGAIN' || code === 'ESPIPE' ? 'it is not a regular file' : code ?? text.message;
    throw new BlockCrashedError(`the runner exited 0 but its result.json in ${outputDir} cannot be read: ${why}`, { exitCode: 0, logDir });
  }
  let parsed;
  try {
    parsed = ManifestSchema.safeParse(JSON.parse(text));
  } catch (e) {
    throw new BlockCrashedError(`result.json is not JSON: ${(e as Error).message}`, { exitCode: 0, logDir });
  }
  if (!parsed.success) throw new BlockCrashedError(`result.json is malformed: ${parsed.error.message}`, { exitCode: 0, logDir });
  const m = parsed.data;
  const suggestedChildren: SuggestedChild[] = [];
  (m.suggestedChildren ?? []).forEach((raw, i) => {
    const child = SuggestedChildSchema.safeParse(raw);
    if (child.success) suggestedChildren.push(child.data);
    else warn(`result.json suggestedChildren[${i}] dropped: ${child.error.issues.map((x) => x.message).join('; ')}`);
  });
  const manifest: ResultManifest = {
    shape: m.shape ?? null,
    metrics: m.metrics ?? {},
    suggestedChildren,
    summary: m.summary ?? '',
    figures: await existingFigures(outputDir, m.figures ?? [], warn),
  };
  if (m.timings !== undefined) {
    const timings = TimingsSchema.safeParse(m.timings);
    if (timings.success) manifest.timings = timings.data;
    else warn(`result.json timings dropped: ${timings.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
  }
  if (m.io !== undefined) {
    const io = IoSchema.safeParse(m.io);
    if (io.success) manifest.io = io.data;
    else warn(`result.json io dropped: ${io.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
  }
  return manifest;
}

/** A read that holds all of a typical result.json; a larger one is read again in full. */
const FIRST_READ_BYTES = 64 * 1024;

/** Largest text {@link readSmallText} reads by default (result.json, error.json): far above any real one. */
export const MAX_SMALL_TEXT_BYTES = 16 * 1024 * 1024;

/** A file {@link readSmallText} refuses to read: not a regular file, or larger than its cap. */
export class UnreadableFileError extends Error {}

/**
 * A file's text, read as open, one read, close: a round trip less than `readFile` (which fstats
 * first), on the path from a node's end to its children's start. The files it reads were written
 * by the block, so it trusts nothing about them:
 * - O_NOFOLLOW: a symbolic link in its place is refused (ELOOP), so a block cannot make the
 *   worker read a host file or a device through it;
 * - O_NONBLOCK: a FIFO reads EAGAIN (an error) instead of blocking a thread-pool thread until a
 *   writer comes; it changes nothing for a regular file;
 * - a file that fills the first read must be a regular file of at most `maxBytes`, read in full
 *   through the same handle (never reopened by name), and must not grow meanwhile.
 *
 * @throws the open's or the read's error (ENOENT, ELOOP, EISDIR, EAGAIN...), or
 *   {@link UnreadableFileError}.
 */
export async function readSmallText(file: string, maxBytes = MAX_SMALL_TEXT_BYTES): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0));
  try {
    const first = Buffer.allocUnsafe(FIRST_READ_BYTES);
    const { bytesRead } = await handle.read(first, 0, FIRST_READ_BYTES, 0);
    if (bytesRead < FIRST_READ_BYTES) return first.toString('utf8', 0, bytesRead);
    const st = await handle.stat();
    if (!st.isFile()) throw new UnreadableFileError(`${path.basename(file)} is not a regular file`);
    if (st.size > maxBytes) throw new UnreadableFileError(`${path.basename(file)} holds ${st.size} bytes, more than the ${maxBytes} read`);
    // One byte more than its size: a file still growing is refused, not read without bound.
    const all = Buffer.allocUnsafe(st.size + 1);
    let total = 0;
    for (;;) {
      const { bytesRead: n } = await handle.read(all, total, all.length - total, total);
      if (n === 0) break;
      total += n;
      if (total === all.length) throw new UnreadableFileError(`${path.basename(file)} grew while it was read`);
    }
    return all.toString('utf8', 0, total);
  } finally {
    await handle.close();
  }
}

/** Figures named by the manifest that are real files inside the output folder (no escapes). */
async function existingFigures(outputDir: string, names: string[], warn: (message: string) => void): Promise<string[]> {
  // No figures (most nodes): no realpath of the folder (a thread-pool round trip on the path
  // from a node's end to its children's start).
  if (names.length === 0) return [];
  const root = await realpath(outputDir);
  const out: string[] = [];
  for (const name of names) {
    const rel = name.includes('/') ? name : path.join('figures', name);
    const real = await realpath(path.join(outputDir, rel)).catch(() => null);
    if (real && real.startsWith(root + path.sep)) out.push(path.relative(root, real));
    else warn(`result.json figure "${name}" dropped: not a file inside the output folder`);
  }
  return out;
}
