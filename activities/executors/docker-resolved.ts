/**
 * The image a node's cache lookup resolved, handed to the run of the same node attempt on the
 * same worker, so a cacheable node pings the engine and inspects its image once instead of twice
 * (the `lookupCache` activity's `runtimeIdentity`, then `run`).
 *
 * Why this is not a tag cache: a tag can be re-pointed by a rebuild at any time, and a cache of
 * tag → Id would go on returning the old Id. An entry here is not looked up by tag: it names one
 * node attempt, is taken at most once (by that attempt's first run; a retry resolves afresh)
 * and expires. The Id it holds is the very runtime the node's cache key names (`docker:<Id>`),
 * so running in it keeps the key true: if the tag moved between the lookup and the run,
 * resolving again would run the node in the new image and publish its output under a key that
 * names the old one. An Id is immutable; if its image was removed meanwhile, creating the
 * container fails (ExecutorUnavailableError, retried) and the retry resolves afresh.
 */
import type { ResolvedImage } from './docker-image';

/** Which node attempt a resolution is for (RunNodeInput's fields; the workflow attempt, not Temporal's). */
export interface ResolvedFor {
  treeId: string;
  runKey?: string;
  nodeId: string;
  attempt: number;
  /** The block's requirement set (another set is another image); [] for catalog blocks. */
  requirements: readonly string[];
}

/** Options of {@link ResolvedImages}. */
export interface ResolvedImagesOptions {
  /**
   * How long a lookup's resolution waits for its run. A node may wait long for a slot between
   * its lookup and its run; after this it resolves afresh (and, if the tag moved meanwhile, runs
   * in the new image, as before this hand-over existed). @default 600000 (10 min)
   */
  ttlMs?: number;
  /** Entries kept at most; the oldest go first (lookups whose node was a cache hit are never taken). @default 1024 */
  max?: number;
  /** Clock (tests). @default performance.now */
  now?: () => number;
}

/** Resolutions waiting for their node's run; see the module comment. Not thread-shared: one per executor. */
export class ResolvedImages {
  private readonly entries = new Map<string, { image: ResolvedImage; at: number }>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: ResolvedImagesOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 600_000;
    this.max = opts.max ?? 1024;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Records what `node`'s lookup resolved (replacing an earlier entry for it); drops expired entries and the oldest beyond `max`. */
  put(node: ResolvedFor, image: ResolvedImage): void {
    const key = keyOf(node);
    this.entries.delete(key); // re-inserted last: Map order is age order
    this.entries.set(key, { image, at: this.now() });
    const cutoff = this.now() - this.ttlMs;
    for (const [k, e] of this.entries) {
      if (this.entries.size > this.max || e.at < cutoff) this.entries.delete(k);
      else break;
    }
  }

  /** The resolution recorded for `node`, removed; null when there is none or it expired. */
  take(node: ResolvedFor): ResolvedImage | null {
    const key = keyOf(node);
    const e = this.entries.get(key);
    if (!e) return null;
    this.entries.delete(key);
    return this.now() - e.at <= this.ttlMs ? e.image : null;
  }

  /** Entries held (tests). */
  get size(): number {
    return this.entries.size;
  }
}

function keyOf(n: ResolvedFor): string {
  // JSON of an array: no separator an id or a requirement could forge.
  return JSON.stringify([n.treeId, n.runKey ?? null, n.nodeId, n.attempt, [...new Set(n.requirements)].sort()]);
}
