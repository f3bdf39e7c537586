/**
 * Atomic, immutable publishing of a successful attempt.
 *
 * The attempt's output/ gets `node-result.json`, every file becomes 0444 and every folder 0555,
 * and then the folder is moved to `published/attempt-<attempt>/` with ONE rename. Readers
 * (children mount the published `_node_anndata.h5ad` read-only) therefore see either nothing
 * or the complete output, and never a changing one. A second publisher of the same workflow
 * attempt (a Temporal retry that raced, or re-ran after a lost completion) loses the rename and
 * returns the stored result with `reused: true`.
 *
 * Synchronous file calls: the few metadata operations and tiny reads and writes of publishing
 * (node-result.json, the commit's mkdir, rename and chmod, the check for a published attempt
 * before a run) are synchronous on purpose. Each awaited fs/promises call
 * is a round trip through libuv's thread pool (0.1-0.3 ms on a loaded host, against microseconds
 * for the call itself on a local disk), and a no-op node pays every one between its parent's end
 * and its children's start. The cost: while one runs the event loop waits, so a hung (network)
 * file system would also stop this worker's heartbeats, and Temporal would then retry its
 * attempts elsewhere. Whatever can be large or slow stays asynchronous: reading the runner's
 * result.json and output, hashing, and the walk that makes the output read-only.
 */
import { createHash } from 'node:crypto';
import { chmodSync, constants, createReadStream, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { chmod, lstat, open, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { NodeResultSchema, type NodeResult } from '../common/schemas';
import { BlockCrashedError } from './errors';
import { readResultManifest } from './result-manifest';
import { nodeDir } from './workspace';
import { RunnerNames } from '../common/runner-contract';

/** File name of the runner's output data. */
export const OUTPUT_FILE = RunnerNames.anndataFile;
/** File in a published folder holding its NodeResult. */
export const NODE_RESULT_FILE = 'node-result.json';
/** Outputs up to this size are hashed from one read instead of a stream. */
const SMALL_FILE_BYTES = 8 * 1024 * 1024;
/** The first read of the output, made alongside its fstat: a small output needs no second one. */
const FIRST_READ_BYTES = 64 * 1024;

/** `<root>/trees/<tree>/nodes/<node>/published/attempt-<attempt>` */
export function publishedDir(root: string, treeId: string, nodeId: string, attempt: number): string {
  return path.join(nodeDir(root, treeId, nodeId), 'published', `attempt-${attempt}`);
}

/** The stored result of a published attempt, marked `reused: true`; null when not published. */
export async function readPublished(root: string, treeId: string, nodeId: string, attempt: number): Promise<NodeResult | null> {
  const file = path.join(publishedDir(root, treeId, nodeId, attempt), NODE_RESULT_FILE);
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  return text === null ? null : storedResult(text);
}

/**
 * {@link readPublished}, synchronously: the check `runNode` makes before every attempt, where it
 * is almost always one failed open (see the module comment on synchronous calls).
 */
export function readPublishedSync(root: string, treeId: string, nodeId: string, attempt: number): NodeResult | null {
  const file = path.join(publishedDir(root, treeId, nodeId, attempt), NODE_RESULT_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return storedResult(text);
}

function storedResult(text: string): NodeResult {
  return { ...NodeResultSchema.parse(JSON.parse(text)), reused: true };
}

/** Facts of the run that the output folder does not hold. */
export type RunFacts = Pick<NodeResult, 'imageDigest' | 'executor' | 'worker' | 'startedAt' | 'endedAt' | 'activityAttempt' | 'peakMemoryMB'> & Partial<Pick<NodeResult, 'cacheKey'>>;

/** Options of {@link publishAttempt}. */
export interface PublishOptions {
  root: string;
  treeId: string;
  nodeId: string;
  attempt: number;
  /** The attempt's output folder, as the runner left it. */
  outputDir: string;
  facts: RunFacts;
  /** Receives non-fatal problems (e.g. an invalid suggested child that was dropped). */
  warn?: (message: string) => void;
}

/**
 * Publishes `outputDir` as the result of workflow attempt `attempt` and returns its NodeResult
 * (`outputPath` = the published `_node_anndata.h5ad`, with its sha256; both '' when the block
 * produced no AnnData).
 *
 * @throws BlockCrashedError when the runner left no valid result.json.
 */
export async function publishAttempt(opts: PublishOptions): Promise<NodeResult> {
  const { outputDir } = opts;
  const finalDir = publishedDir(opts.root, opts.treeId, opts.nodeId, opts.attempt);
  const data = path.join(outputDir, OUTPUT_FILE);
  // The manifest and the output's hash in parallel (each is a few thread-pool round trips on the
  // path from a node's end to its children's start). Both settle before either failure is
  // reported, so a missing result.json is reported first, as when they ran one after the other,
  // and no file handle outlives the call.
  const [read, hashed] = await Promise.allSettled([
    readResultManifest(outputDir, opts.warn ?? (() => undefined)),
    hashOutput(data, path.dirname(outputDir)),
  ]);
  if (read.status === 'rejected') throw read.reason;
  if (hashed.status === 'rejected') throw hashed.reason;
  const manifest = read.value;
  const sha256 = hashed.value;
  const result: NodeResult = NodeResultSchema.parse({
    ...manifest,
    figures: manifest.figures.map((rel) => path.join(finalDir, rel)),
    outputDir: finalDir,
    outputPath: sha256 === null ? '' : path.join(finalDir, OUTPUT_FILE),
    outputSha256: sha256 ?? '',
    ...opts.facts,
    reused: false,
  });
  // node-result.json before the walk (which skips it by name), synchronously: one small write
  // into the attempt's own folder (see the module comment). The walk stays asynchronous: a
  // block may leave any number of files.
  const resultFile = path.join(outputDir, NODE_RESULT_FILE);
  writeFileSync(resultFile, JSON.stringify(result, null, 2));
  chmodSync(resultFile, 0o444);
  await freeze(outputDir, false);
  if ((await commitFolder(outputDir, finalDir)) === 'exists') {
    // Another run of this workflow attempt published first; its output is the one children use.
    const stored = await readPublished(opts.root, opts.treeId, opts.nodeId, opts.attempt);
    if (stored) return stored;
    // Not the block's fault (a plain error: the activity is retried, as for any file-system failure).
    throw new Error(`${finalDir} exists but holds no readable ${NODE_RESULT_FILE}`);
  }
  return result;
}

/**
 * Makes the filled folder `staging` the folder `final` in one rename, then makes `final`
 * read-only (0o555). The top folder's mode comes last because moving a folder to another parent
 * needs write access to it. Used wherever a published folder appears whole or not at all: an
 * attempt's output, a cache entry, a cache hit linked into a tree.
 *
 * @param opts.parentMade the caller already made `final`'s parent (e.g. alongside other work); by default it is made here.
 * @returns 'committed', or 'exists' when a folder was already at `final` (another publisher won
 *   the rename: ENOTEMPTY or EEXIST); `final` is then untouched and `staging` left to the caller.
 * @throws any other error of the mkdir, the rename or the chmod.
 */
export async function commitFolder(staging: string, final: string, opts: { parentMade?: boolean } = {}): Promise<'committed' | 'exists'> {
  // Three metadata operations, synchronous on purpose (see the module comment): each awaited
  // one would be a thread-pool round trip between a node's end and its children's start.
  if (!opts.parentMade) mkdirSync(path.dirname(final), { recursive: true });
  try {
    renameSync(staging, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return 'exists';
    throw e;
  }
  chmodSync(final, 0o555);
  return 'committed';
}

/** Flags that open the output only if it is a regular file's own name: no symlink is followed (ELOOP), and a FIFO does not block the open. */
const OUTPUT_OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * sha256 (hex) of the runner's output `data`, or null when there is none. The runner writes no
 * AnnData when a block returned none and had no input (e.g. a root that only reports metrics).
 * A small output is hashed through one handle (open; the fstat alongside the first read; close)
 * instead of an lstat and then a read by name (open, fstat, read, close): three round trips
 * instead of five, and what is hashed is what was checked.
 *
 * @throws BlockCrashedError when `data` is not a regular file (a symlink, a folder, a FIFO); any
 *   other error reading it (a plain error: the activity is retried).
 */
async function hashOutput(data: string, logDir: string): Promise<string | null> {
  const notRegular = (): BlockCrashedError => new BlockCrashedError(`${data} is not a regular file`, { exitCode: 0, logDir });
  let handle;
  try {
    handle = await open(data, OUTPUT_OPEN_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // ELOOP (a symlink), ENXIO (a socket) and the like: what lstat says decides, as it did
    // before this open existed; an unreadable regular file is the open's own error.
    const info = await lstat(data).catch(() => null);
    if (info === null) return null;
    if (!info.isFile()) throw notRegular();
    throw e;
  }
  try {
    // The first read alongside the fstat: one round trip for a small output. A FIFO opened with
    // O_NONBLOCK reads EAGAIN at once and a folder EISDIR; the fstat then names the real problem.
    const first = Buffer.allocUnsafe(FIRST_READ_BYTES);
    const [info, got] = await Promise.all([
      handle.stat(),
      handle.read(first, 0, FIRST_READ_BYTES, 0).then((r) => r.bytesRead, (e: unknown) => (e instanceof Error ? e : new Error(String(e)))),
    ]);
    if (!info.isFile()) throw notRegular();
    if (got instanceof Error) throw got;
    if (info.size > SMALL_FILE_BYTES) return await sha256File(data, info.size);
    // Up to its size at the fstat, as a read by name would (a runner that has exited writes no more).
    const buf = info.size <= FIRST_READ_BYTES ? first : Buffer.allocUnsafe(info.size);
    if (buf !== first) first.copy(buf, 0, 0, got);
    let filled = Math.min(got, info.size);
    while (filled < info.size) {
      const { bytesRead } = await handle.read(buf, filled, info.size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return createHash('sha256').update(buf.subarray(0, filled)).digest('hex');
  } finally {
    await handle.close();
  }
}

/** sha256 (hex) of a file, streamed. */
export async function sha256File(file: string, size = Infinity): Promise<string> {
  const hash = createHash('sha256');
  // Small files in one read; large ones streamed, so memory stays flat on multi-GB outputs.
  if (size <= SMALL_FILE_BYTES) return hash.update(await readFile(file)).digest('hex');
  // 4 MiB reads instead of the stream's default 64 KiB: hashing a 1.9 GB output took 1.2 s
  // instead of 1.6-2.1 s here (the hash is on the path from a node's end to its children's start).
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Makes files 0444 and folders 0555 below `dir` (and `dir` itself when `self`). Symlinks are left
 * alone. A folder's own mode is set alongside the walk of its entries, not after it: changing an
 * entry's mode needs only search permission on its folder, which 0555 keeps (one round trip
 * less per level).
 */
async function freeze(dir: string, self: boolean): Promise<void> {
  const walk = readdir(dir, { withFileTypes: true }).then((entries) => Promise.all(entries.map((entry) => {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) return freeze(p, true);
    // node-result.json is written before this walk, and frozen by its writer.
    if (entry.isFile() && entry.name !== NODE_RESULT_FILE) return chmod(p, 0o444);
    return undefined;
  })));
  await Promise.all([walk, self ? chmod(dir, 0o555) : undefined]);
}
