/**
 * Cache statistics of one tree, for `ragomics status` and the HTML report: how many cacheable
 * nodes reused a published result (hits) or computed it (misses), how many waited for another
 * tree computing the same key, and what the hits saved: the bytes of the reused outputs and the
 * compute seconds of the attempts that produced them.
 *
 * Hits and misses come from the status alone (each node's `cache` field: absent = the node was
 * not cacheable). The savings need the workspace (same machine or a shared volume): the bytes
 * from the entry's `entry.json` (else the sizes of the hit's published files, which are hard
 * links of the entry's), the seconds from the source attempt's `node-result.json`. A hit whose
 * facts cannot be read counts as `unmeasured`, never as zero.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { NODE_RESULT_FILE } from '../activities/publish';
import { CacheEntrySchema, NodeCacheSchema, NodeResultSchema, parseJsonAs, type CachedFrom, type NodeCache } from '../common/schemas';

/** Where a hit's output came from: a workspace tree key (`<treeId>.<runKey>`), node, and workflow attempt. */
export type CacheSource = CachedFrom;

/** The `cache` field of a status node (absent: the node was not cacheable). */
export type NodeCacheInfo = NodeCache;

/*
 * The parts of the workspace files the savings need. Picked from their schemas, so that each
 * field has the one form the writers use, while a file of another worker version that lacks an
 * unrelated field still gives what is there.
 */
const EntryBytesSchema = CacheEntrySchema.pick({ bytes: true });
const ResultSourceSchema = NodeResultSchema.pick({ cachedFrom: true });
const ResultTimesSchema = NodeResultSchema.pick({ startedAt: true, endedAt: true });

/** What {@link cacheStats} needs of a status node. */
export interface CacheStatusNode {
  id: string;
  outputPath?: string | null;
  cache?: unknown;
}

/** Totals over a tree's nodes. Bytes and seconds sum the measured hits only. */
export interface CacheStats {
  /** Nodes with a cache key. */
  cacheable: number;
  hits: number;
  misses: number;
  /** Hits that first waited for another tree computing the same key. */
  sharedWaits: number;
  bytesSaved: number;
  computeSecondsSaved: number;
  /** Hits whose bytes or source time could not be read (workspace not visible from here). */
  unmeasured: number;
}

/** What one hit saved; null for what could not be read. */
export interface HitSavings {
  bytes: number | null;
  seconds: number | null;
}

/** Reads the savings of one hit (see {@link workspaceSavings}). */
export type SavingsReader = (node: CacheStatusNode, cache: NodeCacheInfo) => HitSavings;

/**
 * The node's `cache` field when it has the expected shape, else undefined. Read defensively:
 * statuses of servers without the cache feature have none, and a malformed one must not break
 * a status or report.
 */
export function nodeCacheInfo(node: object): NodeCacheInfo | undefined {
  const parsed = NodeCacheSchema.safeParse((node as { cache?: unknown }).cache);
  return parsed.success ? parsed.data : undefined;
}

/** Counts hits and misses of `nodes`; with `read`, adds up what the hits saved. */
export function cacheStats(nodes: readonly CacheStatusNode[], read?: SavingsReader): CacheStats {
  const stats: CacheStats = { cacheable: 0, hits: 0, misses: 0, sharedWaits: 0, bytesSaved: 0, computeSecondsSaved: 0, unmeasured: 0 };
  for (const n of nodes) {
    const c = nodeCacheInfo(n);
    if (!c) continue;
    stats.cacheable++;
    if (!c.hit) {
      stats.misses++;
      continue;
    }
    stats.hits++;
    if (c.waitedFor) stats.sharedWaits++;
    const saved = read ? read(n, c) : { bytes: null, seconds: null };
    if (saved.bytes === null || saved.seconds === null) stats.unmeasured++;
    stats.bytesSaved += saved.bytes ?? 0;
    stats.computeSecondsSaved += saved.seconds ?? 0;
  }
  return stats;
}

/**
 * A {@link SavingsReader} over a workspace. `root` is the workspace root; when undefined it is
 * derived from each node's output path (`<root>/trees/<tree>/nodes/<node>/published/...`).
 */
export function workspaceSavings(root?: string): SavingsReader {
  return (node, cache) => {
    const base = root ?? (node.outputPath ? workspaceRootOf(node.outputPath) : null);
    if (!base) return { bytes: null, seconds: null };
    const entry = readJson(path.join(base, 'cache', 'entries', cache.key, 'entry.json'), EntryBytesSchema);
    let bytes = entry?.bytes ?? null;
    if (bytes === null && node.outputPath) bytes = folderBytes(path.dirname(node.outputPath));
    // The source attempt: from the status, else from the hit's own node-result.json (`cachedFrom`).
    const own = node.outputPath ? readJson(path.join(path.dirname(node.outputPath), NODE_RESULT_FILE), ResultSourceSchema) : null;
    const from = cache.from ?? own?.cachedFrom ?? null;
    let seconds: number | null = null;
    if (from) {
      const src = readJson(path.join(base, 'trees', from.treeId, 'nodes', from.nodeId, 'published', `attempt-${from.attempt}`, NODE_RESULT_FILE), ResultTimesSchema);
      const t0 = src ? Date.parse(src.startedAt) : NaN;
      const t1 = src ? Date.parse(src.endedAt) : NaN;
      if (Number.isFinite(t0) && Number.isFinite(t1)) seconds = Math.max(0, (t1 - t0) / 1000);
    }
    return { bytes, seconds };
  };
}

/** `<root>` of `<root>/trees/<tree>/nodes/<node>/published/attempt-N/<file>`, or null. */
export function workspaceRootOf(outputPath: string): string | null {
  const m = /^(.*)[\\/]trees[\\/][^\\/]+[\\/]nodes[\\/][^\\/]+[\\/]published[\\/]/.exec(outputPath);
  return m?.[1] ?? null;
}

/** One line for people: `2 hits, 1 miss (1 after waiting for another tree); saved 1.5 MB and 12.0s of compute`. */
export function formatCacheStats(s: CacheStats): string {
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const waits = s.sharedWaits > 0 ? ` (${s.sharedWaits} after waiting for another tree)` : '';
  const saved = s.hits > 0 ? `; saved ${formatBytes(s.bytesSaved)} and ${s.computeSecondsSaved.toFixed(1)}s of compute${s.unmeasured > 0 ? ` (${plural(s.unmeasured, 'hit', 'hits')} not measured: workspace not visible from here)` : ''}` : '';
  return `${plural(s.hits, 'hit', 'hits')}, ${plural(s.misses, 'miss', 'misses')}${waits}${saved}`;
}

/** `1.5 MB` (powers of 1024, one decimal from KB up). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * `file` read with `schema`; null when it cannot be read, is not JSON or does not match: a fact
 * that cannot be read makes the hit unmeasured (see the module's comment), never a wrong number.
 */
function readJson<T>(file: string, schema: z.ZodType<T>): T | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  return parseJsonAs(text, schema);
}

/** Bytes of the regular files below `dir`, except the hit's own `node-result.json`; null when unreadable. */
function folderBytes(dir: string): number | null {
  try {
    let total = 0;
    for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (!e.isFile() || (e.name === NODE_RESULT_FILE && e.parentPath === dir)) continue;
      total += statSync(path.join(e.parentPath, e.name)).size;
    }
    return total;
  } catch {
    return null;
  }
}
