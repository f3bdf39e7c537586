/**
 * Atomic, immutable publishing of a successful attempt.
 *
 * The attempt's output/ gets `node-result.json`, every file becomes 0444 and every folder 0555,
 * and then the folder is moved to `published/attempt-<attempt>/` with ONE rename. Readers
 * (children mount the published `_node_anndata.h5ad` read-only) therefore see either nothing
 * or the complete output, and never a changing one. A second publisher of the same workflow
 * attempt (a Temporal retry that raced, or re-ran after a lost completion) loses the rename and
 * returns the stored result with `reused: true`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NodeResultSchema, type NodeResult } from '../common/schemas';
import { BlockCrashedError } from './errors';
import { readResultManifest } from './result-manifest';
import { nodeDir } from './workspace';

/** File name of the runner's output data. */
export const OUTPUT_FILE = '_node_anndata.h5ad';
/** File in a published folder holding its NodeResult. */
export const NODE_RESULT_FILE = 'node-result.json';
/** Outputs up to this size are hashed from one read instead of a stream. */
const SMALL_FILE_BYTES = 8 * 1024 * 1024;

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
  if (text === null) return null;
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
  const [manifest, stat] = await Promise.all([
    readResultManifest(outputDir, opts.warn ?? (() => undefined)),
    lstat(data).catch(() => null),
  ]);
  if (stat && !stat.isFile()) throw new BlockCrashedError(`${data} is not a regular file`, { exitCode: 0, logDir: path.dirname(outputDir) });
  // The runner writes no AnnData when a block returned none and had no input (e.g. a root that
  // only reports metrics). That is a success without data: outputPath and outputSha256 are ''.
  const result: NodeResult = NodeResultSchema.parse({
    ...manifest,
    figures: manifest.figures.map((rel) => path.join(finalDir, rel)),
    outputDir: finalDir,
    outputPath: stat ? path.join(finalDir, OUTPUT_FILE) : '',
    outputSha256: stat ? await sha256File(data, stat.size) : '',
    ...opts.facts,
    reused: false,
  });
  await Promise.all([
    writeFile(path.join(outputDir, NODE_RESULT_FILE), JSON.stringify(result, null, 2)).then(() => chmod(path.join(outputDir, NODE_RESULT_FILE), 0o444)),
    freeze(outputDir, false),
    mkdir(path.dirname(finalDir), { recursive: true }),
  ]);
  if ((await commitFolder(outputDir, finalDir, { parentMade: true })) === 'exists') {
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
  if (!opts.parentMade) await mkdir(path.dirname(final), { recursive: true });
  try {
    await rename(staging, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return 'exists';
    throw e;
  }
  await chmod(final, 0o555);
  return 'committed';
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

/** Makes files 0444 and folders 0555 below `dir` (and `dir` itself when `self`). Symlinks are left alone. */
async function freeze(dir: string, self: boolean): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(entries.map((entry) => {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) return freeze(p, true);
    // node-result.json is written next to this walk and frozen by its writer.
    if (entry.isFile() && entry.name !== NODE_RESULT_FILE) return chmod(p, 0o444);
    return undefined;
  }));
  if (self) await chmod(dir, 0o555);
}
