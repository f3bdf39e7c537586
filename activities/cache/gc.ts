/**
 * Garbage collection of the content-addressed result store (`ragomics gc`). It reads the store's
 * layout on its own (it does not import the store's code, so either can change its internals):
 *
 * ```
 * <root>/cache/entries/<key>/             0555; hard links of a published output's files
 * <root>/cache/entries/<key>/entry.json   { key, createdAt, origin, outputSha256, bytes, block }
 * <root>/cache/staging/<random>/          an entry being created (then renamed into entries/)
 * <root>/cache/trash/<key>.<random>/      an entry being deleted by gc (this module)
 * ```
 *
 * An entry goes when it is older than the given age (`entry.json` createdAt; the folder's mtime
 * when that is unreadable) AND no tree workspace holds it. Trees hold an entry through hard
 * links (their published outputs and the entry share inodes), so an entry whose every file has
 * link count 1 is referenced by nobody, and removing it frees exactly its bytes. Removing never
 * takes bytes from a tree: a tree's link keeps them alive whatever happens to the entry's names.
 *
 * Removal is atomic for readers: ONE rename moves the entry out of `entries/` into `trash/`
 * (a lookup finds the whole entry or none), then the trash copy is deleted. If a tree linked a
 * file between the check and the rename, the entry is renamed back and kept. Staging folders
 * older than an hour are leftovers of a publisher that died mid-way and are removed too; so are
 * trash folders left by a gc that died mid-way.
 *
 * Whether trees are running is the caller's concern (client/cli/gc.ts refuses then): this module
 * only touches the file system.
 */
import { randomUUID } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CacheEntrySchema, parseJsonAs, type CachedFrom } from '../../common/schemas';

/** Entry folder names: a sha256 in hex. Anything else in `entries/` is left alone. */
export const ENTRY_KEY_PATTERN = /^[0-9a-f]{64}$/;
/** Age after which a staging folder is a dead publisher's leftover. @default one hour */
export const STAGING_MAX_AGE_MS = 3_600_000;

/** Options of {@link collectGarbage}. */
export interface GcOptions {
  /** Workspace root (the folder holding `cache/` and `trees/`). */
  root: string;
  /** Entries created longer ago than this (milliseconds) may go. */
  olderThanMs: number;
  /** List what would go, change nothing. @default false */
  dryRun?: boolean;
  /** The current time in epoch ms. @default Date.now() */
  now?: number;
  /** Test hook: called after an entry was moved into the trash, before its links are checked again. */
  afterRename?: (key: string, trashDir: string) => Promise<void> | void;
}

/** One entry as gc saw it. */
export interface GcEntry {
  key: string;
  /** From `entry.json`; null when unreadable (the age then comes from the folder's mtime). */
  createdAt: string | null;
  ageSeconds: number;
  /** Sum of the sizes of the entry's files. */
  bytes: number;
  /** The most links any of its files has (1 = no tree holds it). */
  maxLinks: number;
  /** The block label and origin from `entry.json`, when present. */
  block?: string;
  origin?: CachedFrom;
}

/** Why an entry stayed. */
export type KeptReason = 'linked' | 'young' | 'linked-during-gc';

/** What gc did (or, with `dryRun`, would do). */
export interface GcReport {
  root: string;
  dryRun: boolean;
  olderThanSeconds: number;
  /** Entries removed (dry run: that would be removed). */
  removed: GcEntry[];
  removedBytes: number;
  kept: Array<GcEntry & { reason: KeptReason }>;
  /** Names in `entries/` that are not keys, and entries that vanished while gc ran. */
  skipped: Array<{ name: string; reason: string }>;
  /** Staging folders older than an hour, removed (dry run: that would be). */
  staging: { removed: string[]; bytes: number };
  /** Trash folders left by an interrupted gc, removed (dry run: that would be). */
  trash: { removed: string[]; bytes: number };
}

/** Collects garbage in `<root>/cache`; a workspace without a cache yields an empty report. */
export async function collectGarbage(options: GcOptions): Promise<GcReport> {
  const root = path.resolve(options.root);
  const dryRun = options.dryRun === true;
  const now = options.now ?? Date.now();
  const cache = path.join(root, 'cache');
  const report: GcReport = {
    root, dryRun, olderThanSeconds: options.olderThanMs / 1000, removed: [], removedBytes: 0, kept: [], skipped: [],
    staging: { removed: [], bytes: 0 }, trash: { removed: [], bytes: 0 },
  };
  // Leftovers of an interrupted gc first: they are never read, and their names could collide.
  for (const dir of await listDirs(path.join(cache, 'trash'))) {
    report.trash.removed.push(dir.name);
    report.trash.bytes += await treeBytes(dir.path);
    if (!dryRun) await removeTree(dir.path);
  }
  for (const dir of await listDirs(path.join(cache, 'entries'))) {
    if (!ENTRY_KEY_PATTERN.test(dir.name)) {
      report.skipped.push({ name: dir.name, reason: 'not an entry key (64 hex digits)' });
      continue;
    }
    const entry = await readEntry(dir.path, dir.name, now);
    if (!entry) {
      report.skipped.push({ name: dir.name, reason: 'vanished while gc ran' });
      continue;
    }
    if (entry.maxLinks > 1) report.kept.push({ ...entry, reason: 'linked' });
    else if (entry.ageSeconds * 1000 <= options.olderThanMs) report.kept.push({ ...entry, reason: 'young' });
    else if (dryRun) report.removed.push(entry);
    else {
      const outcome = await removeEntry(cache, entry, options.afterRename);
      if (outcome === 'removed') report.removed.push(entry);
      else if (outcome === 'kept') report.kept.push({ ...entry, reason: 'linked-during-gc' });
      else report.skipped.push({ name: dir.name, reason: 'vanished while gc ran' });
    }
  }
  report.removedBytes = report.removed.reduce((sum, e) => sum + e.bytes, 0);
  for (const dir of await listDirs(path.join(cache, 'staging'))) {
    if (now - dir.mtimeMs <= STAGING_MAX_AGE_MS) continue;
    report.staging.removed.push(dir.name);
    report.staging.bytes += await treeBytes(dir.path);
    if (!dryRun) await removeTree(dir.path);
  }
  return report;
}

/** Sub-folders of `dir` with their mtime; none when `dir` does not exist. */
async function listDirs(dir: string): Promise<Array<{ name: string; path: string; mtimeMs: number }>> {
  const names = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  const out = [];
  for (const d of names.filter((x) => x.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, d.name);
    const st = await stat(p).catch(() => null);
    if (st) out.push({ name: d.name, path: p, mtimeMs: st.mtimeMs });
  }
  return out;
}

/** Every non-folder below `dir` (files, symlinks) with its size and link count. */
async function filesOf(dir: string): Promise<Array<{ size: number; nlink: number }>> {
  const out: Array<{ size: number; nlink: number }> = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isDirectory()) continue;
    const st = await lstat(path.join(e.parentPath, e.name));
    out.push({ size: st.size, nlink: st.nlink });
  }
  return out;
}

async function treeBytes(dir: string): Promise<number> {
  return (await filesOf(dir).catch(() => [])).reduce((sum, f) => sum + f.size, 0);
}

/**
 * What gc shows of `entry.json`, in its schema's forms, each field on its own: a field of another
 * form (a torn or foreign file) is left out without losing the others, and never decides alone
 * (the age then comes from the folder's mtime).
 */
const EntryFactsSchema = z.object({
  createdAt: CacheEntrySchema.shape.createdAt.optional().catch(undefined),
  block: CacheEntrySchema.shape.block.optional().catch(undefined),
  origin: CacheEntrySchema.shape.origin.optional().catch(undefined),
});

/** `entry.json`'s facts; empty when it is missing, unreadable or not JSON (a torn write). */
async function readEntryFacts(file: string): Promise<z.infer<typeof EntryFactsSchema>> {
  const text = await readFile(file, 'utf8').catch(() => null);
  return (text === null ? null : parseJsonAs(text, EntryFactsSchema)) ?? {};
}

/** The facts gc decides on; null when the entry vanished (another gc). */
async function readEntry(dir: string, key: string, now: number): Promise<GcEntry | null> {
  const st = await stat(dir).catch(() => null);
  if (!st) return null;
  const files = await filesOf(dir).catch(() => null);
  if (!files) return null;
  const meta = await readEntryFacts(path.join(dir, 'entry.json'));
  const created = meta.createdAt !== undefined ? Date.parse(meta.createdAt) : NaN;
  return {
    key,
    createdAt: Number.isFinite(created) ? new Date(created).toISOString() : null,
    ageSeconds: Math.max(0, (now - (Number.isFinite(created) ? created : st.mtimeMs)) / 1000),
    bytes: files.reduce((sum, f) => sum + f.size, 0),
    maxLinks: files.reduce((max, f) => Math.max(max, f.nlink), 1),
    ...(meta.block !== undefined ? { block: meta.block } : {}),
    ...(meta.origin !== undefined ? { origin: meta.origin } : {}),
  };
}

/**
 * Moves the entry into the trash with one rename, checks its links again (a tree may have
 * linked a file just before), and deletes it, or renames it back when a tree now holds it.
 */
async function removeEntry(cache: string, entry: GcEntry, afterRename: GcOptions['afterRename']): Promise<'removed' | 'kept' | 'vanished'> {
  const from = path.join(cache, 'entries', entry.key);
  const trash = path.join(cache, 'trash');
  const to = path.join(trash, `${entry.key}.${randomUUID().slice(0, 8)}`);
  await mkdir(trash, { recursive: true });
  // Moving a folder to another parent rewrites its "..": it needs write access to the folder
  // (entries are 0555). A reader never notices the mode; the rename is what it can see.
  const writable = await chmod(from, 0o755).then(() => true, (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return false;
    throw e;
  });
  if (!writable) return 'vanished';
  try {
    await rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'vanished';
    await chmod(from, 0o555).catch(() => undefined);
    throw e;
  }
  await afterRename?.(entry.key, to);
  const linked = (await filesOf(to)).some((f) => f.nlink > 1);
  if (linked) {
    // Put it back unless the same key was published again meanwhile (then the new one serves,
    // and deleting ours costs no tree anything: its link keeps the bytes).
    const back = await rename(to, from).then(() => true, () => false);
    if (back) {
      await chmod(from, 0o555).catch(() => undefined);
      return 'kept';
    }
  }
  await removeTree(to);
  return linked ? 'kept' : 'removed';
}

/** Deletes a folder whose sub-folders may be read-only (0555 entries): makes them writable first. */
async function removeTree(dir: string): Promise<void> {
  await chmod(dir, 0o755).catch(() => undefined);
  const subdirs = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  await Promise.all(subdirs.filter((d) => d.isDirectory()).map((d) => chmod(path.join(d.parentPath, d.name), 0o755).catch(() => undefined)));
  await rm(dir, { recursive: true, force: true });
}
