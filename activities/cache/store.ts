/**
 * The content-addressed store of node outputs shared by every tree of a workspace:
 *
 * ```
 * <root>/cache/entries/<key>/              0555; hard links of a published output's files
 * <root>/cache/entries/<key>/entry.json    { key, createdAt, origin, outputSha256, bytes, block } 0444
 * <root>/cache/staging/<random>/           an entry being built (then ONE rename into entries/)
 * <root>/cache/corrupt/<key>-<random>/     entries that failed verification, moved aside, never used
 * ```
 * `<key>` is a node's cache key (key.ts). No byte is ever copied: an entry holds hard links of
 * the files of the published attempt that computed it (its `node-result.json` included, which a
 * hit reads the result from), and a hit hard-links them into the hitting tree's
 * `published/attempt-<n>/`. A tree workspace holding a link keeps the bytes alive after the
 * entry is gone, and an entry whose every file has link count 1 is referenced by no tree.
 *
 * Both directions end in one rename, so readers see a complete entry (or published folder) or
 * none. Two publishers of one key race on the rename: the loser drops its staging folder, and
 * either entry is right (same key, same output).
 */
import { randomUUID } from 'node:crypto';
import { chmod, link, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CacheEntrySchema, NodeResultSchema, type CacheEntry, type CachedFrom, type NodeResult } from '../../common/schemas';
import { NODE_RESULT_FILE, OUTPUT_FILE, commitFolder, publishedDir, readPublished, sha256File } from '../publish';
import { nodeDir } from '../workspace';

/** File of an entry that describes it. */
export const ENTRY_FILE = 'entry.json';

/** `<root>/cache` */
export function cacheDir(root: string): string {
  return path.join(path.resolve(root), 'cache');
}

/** `<root>/cache/entries/<key>` */
export function entryDir(root: string, key: string): string {
  return path.join(cacheDir(root), 'entries', key);
}

/** Options of {@link publishToCache}. */
export interface CachePublishOptions {
  root: string;
  key: string;
  /** The published attempt folder (`published/attempt-<n>/`) whose files become the entry. */
  publishedDir: string;
  /** The computation: workspace key of the tree, node id, workflow attempt. */
  origin: CachedFrom;
  /** sha256 of the published `_node_anndata.h5ad` ('' when there is none), as publishing computed it. */
  outputSha256: string;
  /** The block's label (a built-in name or `inline`). */
  block: string;
}

/**
 * Makes a published attempt the entry of `key`: hard links of its files into a staging folder,
 * entry.json beside them, then one rename into `entries/<key>`.
 *
 * @returns 'published', or 'exists' when the key already has an entry (before, or a concurrent
 *   publisher won the rename).
 * @throws on file-system errors (e.g. EXDEV when the cache is on another file system than the
 *   trees; callers log and go on: a result that is not cached is still a result), and when the
 *   published folder holds a symbolic link (an entry holds files and folders only).
 */
export async function publishToCache(opts: CachePublishOptions): Promise<'published' | 'exists'> {
  const final = entryDir(opts.root, opts.key);
  if (await exists(final)) return 'exists';
  const staging = path.join(cacheDir(opts.root), 'staging', randomUUID());
  await mkdir(staging, { recursive: true });
  try {
    const { bytes, dirs } = await linkTree(opts.publishedDir, staging, () => true);
    const entry: CacheEntry = {
      key: opts.key, createdAt: new Date().toISOString(), origin: opts.origin, outputSha256: opts.outputSha256, bytes, block: opts.block,
    };
    await writeFile(path.join(staging, ENTRY_FILE), JSON.stringify(entry, null, 2), { mode: 0o444 });
    // Deepest folders first; the top one after the rename (commitFolder).
    for (const d of dirs.reverse()) await chmod(d, 0o555);
    return (await commitFolder(staging, final)) === 'committed' ? 'published' : 'exists';
  } finally {
    // Left only when the rename did not happen (lost race or error).
    await removeTree(staging);
  }
}

/** A verified hit: the result as linked into the hitting tree, and the entry's size. */
export interface CacheHit {
  result: NodeResult;
  entry: CacheEntry;
}

/** Options of {@link lookupCache}. */
export interface CacheLookupOptions {
  root: string;
  key: string;
  /** The hitting tree's workspace key, node and workflow attempt: the output goes to its `published/attempt-<attempt>/`. */
  treeId: string;
  nodeId: string;
  attempt: number;
  /** Facts of this lookup for the node's result (who linked it, when). */
  worker: string;
  activityAttempt: number;
  /** Receives why an entry was not used (corrupt, moved aside). */
  warn?: (message: string) => void;
}

/**
 * The cached result of `key` for a node, or null (a miss).
 *
 * The entry's `_node_anndata.h5ad` is hashed again and compared with entry.json's
 * `outputSha256`; its node-result.json must parse and agree. A missing entry is a miss; a corrupt
 * one (unreadable entry.json, another key, a missing or changed file) is moved aside to
 * `cache/corrupt/` and is a miss, never used. On a hit the entry's files are hard-linked into
 * the node's `published/attempt-<attempt>/` (staging folder + one rename, like publishAttempt)
 * with a node-result.json of its own: `cached: true`, `cachedFrom`, `cacheKey`, paths in this
 * tree. When that attempt is already published (a retried lookup), its stored result is returned.
 */
export async function lookupCache(opts: CacheLookupOptions): Promise<CacheHit | null> {
  const dir = entryDir(opts.root, opts.key);
  const warn = opts.warn ?? (() => undefined);
  const text = await readFile(path.join(dir, ENTRY_FILE), 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : e));
  if (text === null) {
    // No entry.json: no entry, or a folder that is not one (moved aside when present).
    if (await exists(dir)) await moveAside(opts.root, opts.key, 'entry.json is missing', warn);
    return null;
  }
  const problem = text instanceof Error ? `entry.json cannot be read: ${text.message}` : null;
  const verified = problem === null ? await verify(dir, opts.key, text as string) : { ok: false as const, problem };
  if (!verified.ok) {
    await moveAside(opts.root, opts.key, verified.problem, warn);
    return null;
  }
  const { entry, origin } = verified;
  const target = publishedDir(opts.root, opts.treeId, opts.nodeId, opts.attempt);
  const stored = await readPublished(opts.root, opts.treeId, opts.nodeId, opts.attempt);
  if (stored) return { result: stored, entry };
  const now = new Date().toISOString();
  const result: NodeResult = NodeResultSchema.parse({
    ...origin,
    outputDir: target,
    outputPath: origin.outputPath ? path.join(target, OUTPUT_FILE) : '',
    figures: origin.figures.map((f) => path.join(target, path.relative(origin.outputDir, f))),
    worker: opts.worker,
    startedAt: now,
    endedAt: now,
    activityAttempt: opts.activityAttempt,
    reused: false,
    // Nothing ran here: no memory, no attempts of this node's own.
    peakMemoryMB: null,
    attemptHistory: [],
    cached: true,
    cacheKey: opts.key,
    cachedFrom: entry.origin,
  });
  const staging = path.join(nodeDir(opts.root, opts.treeId, opts.nodeId), `.cache-staging-${randomUUID()}`);
  await mkdir(staging, { recursive: true });
  try {
    let dirs: string[];
    try {
      ({ dirs } = await linkTree(dir, staging, (rel) => rel !== ENTRY_FILE && rel !== NODE_RESULT_FILE));
    } catch (e) {
      // The entry went away under us (removed by gc): a miss.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    await writeFile(path.join(staging, NODE_RESULT_FILE), JSON.stringify(result, null, 2), { mode: 0o444 });
    for (const d of dirs.reverse()) await chmod(d, 0o555);
    if ((await commitFolder(staging, target)) === 'exists') {
      // Another run of this attempt published first (a computation or another hit): children use that one.
      const raced = await readPublished(opts.root, opts.treeId, opts.nodeId, opts.attempt);
      if (raced) return { result: raced, entry };
      throw new Error(`${target} exists but holds no readable ${NODE_RESULT_FILE}`);
    }
    return { result, entry };
  } finally {
    await removeTree(staging);
  }
}

/** Checks an entry: its entry.json, its output's sha256, its node-result.json. */
async function verify(dir: string, key: string, text: string): Promise<{ ok: true; entry: CacheEntry; origin: NodeResult } | { ok: false; problem: string }> {
  let entry: CacheEntry;
  try {
    entry = CacheEntrySchema.parse(JSON.parse(text));
  } catch (e) {
    return { ok: false, problem: `entry.json is not an entry: ${(e as Error).message.split('\n')[0]}` };
  }
  if (entry.key !== key) return { ok: false, problem: `entry.json names key ${entry.key}` };
  let origin: NodeResult;
  try {
    origin = NodeResultSchema.parse(JSON.parse(await readFile(path.join(dir, NODE_RESULT_FILE), 'utf8')));
  } catch (e) {
    return { ok: false, problem: `${NODE_RESULT_FILE} is missing or invalid: ${(e as Error).message.split('\n')[0]}` };
  }
  if (origin.outputSha256 !== entry.outputSha256) return { ok: false, problem: `${NODE_RESULT_FILE} and entry.json disagree on the output's sha256` };
  if (entry.outputSha256 !== '') {
    const data = path.join(dir, OUTPUT_FILE);
    const info = await lstat(data).catch(() => null);
    if (!info?.isFile()) return { ok: false, problem: `${OUTPUT_FILE} is missing` };
    const sha = await sha256File(data, info.size);
    if (sha !== entry.outputSha256) return { ok: false, problem: `${OUTPUT_FILE} has sha256 ${sha}, entry.json says ${entry.outputSha256}` };
  }
  return { ok: true, entry, origin };
}

/**
 * Moves a corrupt entry to `cache/corrupt/<key>-<random>/` (with a `.reason` file beside it),
 * so it is never used and can be looked at. A concurrent mover that was first is fine.
 */
async function moveAside(root: string, key: string, problem: string, warn: (m: string) => void): Promise<void> {
  const dir = entryDir(root, key);
  const dest = path.join(cacheDir(root), 'corrupt', `${key}-${randomUUID().slice(0, 8)}`);
  await mkdir(path.dirname(dest), { recursive: true });
  // Moving a folder to another parent needs write access to it (its ".." entry changes).
  await chmod(dir, 0o755).catch(() => undefined);
  try {
    await rename(dir, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await writeFile(`${dest}.reason`, `${new Date().toISOString()} ${problem}\n`).catch(() => undefined);
  warn(`cache entry ${key} is corrupt (${problem}); moved aside to ${dest}`);
}

/**
 * Hard-links every file below `from` whose relative path `take` accepts into `to` (folders
 * created), returning the bytes linked and the folders made below `to`.
 * @throws when `from` holds anything but files and folders (a symbolic link).
 */
async function linkTree(from: string, to: string, take: (rel: string) => boolean): Promise<{ bytes: number; dirs: string[] }> {
  let bytes = 0;
  const dirs: string[] = [];
  async function walk(rel: string): Promise<void> {
    const entries = await readdir(path.join(from, rel), { withFileTypes: true });
    for (const e of entries) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) {
        await mkdir(path.join(to, r));
        dirs.push(path.join(to, r));
        await walk(r);
      } else if (e.isFile()) {
        if (!take(r)) continue;
        await link(path.join(from, r), path.join(to, r));
        bytes += (await lstat(path.join(to, r))).size;
      } else {
        throw new Error(`${path.join(from, r)} is not a regular file or folder; such outputs are not cached`);
      }
    }
  }
  await walk('');
  return { bytes, dirs };
}

/** Removes a folder tree even where its folders are read-only; nothing when it is gone. */
async function removeTree(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  async function open(d: string): Promise<void> {
    await chmod(d, 0o755).catch(() => undefined);
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await open(path.join(d, e.name));
  }
  await open(dir);
  await rm(dir, { recursive: true, force: true });
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}
