/**
 * A pool of pre-started runtimes ("warm members": a runner process or container that already
 * imported its libraries and waits for one job), shared by the local and Docker executors.
 *
 * The pool never makes an attempt wait and never fails one: {@link WarmPool.take} hands out an
 * idle member at once or returns null (the executor then runs the attempt cold, as without a
 * pool). Every member serves one attempt only; taking one starts its replacement.
 */

/** Options of {@link createWarmPool}. */
export interface WarmPoolOptions<M> {
  /** Members kept started (idle or starting). 0 makes a pool that never holds anything. */
  size: number;
  /**
   * Most `create` calls in flight at once (members being started). A warm-up costs CPU that
   * running nodes then lack, so a small cap bounds what the pool takes from them while it
   * refills. @default size
   */
  maxStarting?: number;
  /**
   * Starts one member and resolves once it is started (it may still be importing: the job line
   * waits in its stdin). Rejects when it cannot be started; the pool then backs off. `signal`
   * aborts when the pool drains: a creation still under way should then give up (and clean up)
   * promptly, since drain() waits for it.
   */
  create(signal: AbortSignal): Promise<M>;
  /** Ends a member that will not be handed out (drain, dead, evicted). Errors are ignored. */
  destroy(member: M): Promise<void>;
  /** False for a member that died while idle; such a member is destroyed, never handed out. @default always alive */
  alive?(member: M): boolean;
  /** True once a member finished its warm-up; take() prefers ready members over ones still starting. @default always ready */
  ready?(member: M): boolean;
  /**
   * Asked before each creation, with the number of members already starting: false defers it, and
   * the pool asks again every `recheckMs` (and whenever a member is taken or settles). The Docker executor starts members only from CPU its
   * running nodes leave over (see docker-warm.ts). A throw counts as true. @default always true
   */
  mayStart?(starting: number): boolean;
  /** How often a deferred refill asks {@link mayStart} again (ms). @default 250 */
  recheckMs?: number;
  /** Called with each creation failure (for the worker's log); never throws back into the pool. */
  onError?(error: unknown): void;
  /** First back-off after a failure, doubled per consecutive failure. @default 500 */
  backoffMs?: number;
  /** Ceiling of the back-off. @default 30000 */
  maxBackoffMs?: number;
}

/** Counters of a pool, for logs, tests and benchmarks. */
export interface WarmPoolStats {
  size: number;
  /** Members started and waiting to be taken. */
  idle: number;
  /** Of `idle`, those whose warm-up is done (`ready`). */
  ready: number;
  /** `create` calls not yet settled. */
  starting: number;
  /** Members created successfully so far. */
  created: number;
  /** Members handed out by take(). */
  taken: number;
  /** take() calls that returned null (the attempt ran cold). */
  missed: number;
  /** Creation failures plus members that died while idle (both back off). */
  failures: number;
  /** Idle members found dead (by alive() or evict()) and dropped. */
  dead: number;
  /** Times a creation the pool wanted was deferred because `mayStart` said no (one per refill pass). */
  deferred: number;
  draining: boolean;
}

/** A pool made by {@link createWarmPool}. */
export interface WarmPool<M> {
  /**
   * An idle member, or null when none is idle or the pool is draining: the oldest ready one,
   * else the oldest still warming up (its job waits in its stdin: still sooner than a cold
   * start). Never waits, never throws; starts replacements for what it took or dropped.
   */
  take(): M | null;
  /**
   * Drops an idle member the caller saw die (it is destroyed and replaced after a back-off,
   * so a runtime that cannot stay up does not spin). A member not idle is ignored.
   */
  evict(member: M): void;
  /** Stops refilling, destroys every idle member and every member still starting; idempotent. Later take() returns null. */
  drain(): Promise<void>;
  stats(): WarmPoolStats;
}

/**
 * Creates a pool and starts filling it at once (up to `size` creations at a time).
 *
 * Failure modes: a `create` rejection or a member dying while idle counts as a failure and
 * delays the next creation (`backoffMs` doubling up to `maxBackoffMs`, reset by a success);
 * nothing is thrown at callers. `destroy` rejections are swallowed.
 */
export function createWarmPool<M>(opts: WarmPoolOptions<M>): WarmPool<M> {
  const size = Math.max(0, Math.floor(opts.size));
  const maxStarting = Math.max(1, Math.floor(opts.maxStarting ?? size));
  const baseBackoff = opts.backoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const idle: M[] = [];
  const pending = new Set<Promise<void>>();
  const destroying = new Set<Promise<void>>();
  let starting = 0;
  let created = 0;
  let taken = 0;
  let missed = 0;
  let failures = 0;
  let dead = 0;
  let deferred = 0;
  let consecutive = 0;
  let draining = false;
  let backoff: NodeJS.Timeout | undefined;
  let recheck: NodeJS.Timeout | undefined;
  const recheckMs = opts.recheckMs ?? 250;
  const draining$ = new AbortController();

  const destroy = (member: M): void => {
    const p = Promise.resolve()
      .then(() => opts.destroy(member))
      .catch(() => undefined)
      .finally(() => destroying.delete(p));
    destroying.add(p);
  };

  const failed = (error: unknown): void => {
    failures++;
    consecutive++;
    try {
      opts.onError?.(error);
    } catch {
      // a logger's failure is not the pool's
    }
    if (draining || backoff) return;
    const delay = Math.min(maxBackoff, baseBackoff * 2 ** (consecutive - 1));
    backoff = setTimeout(() => {
      backoff = undefined;
      refill();
    }, delay);
    backoff.unref(); // a back-off never keeps the worker's process alive
  };

  const mayStart = (): boolean => {
    try {
      return opts.mayStart ? opts.mayStart(starting) : true;
    } catch {
      return true;
    }
  };

  const refill = (): void => {
    while (!draining && !backoff && idle.length + starting < size && starting < maxStarting) {
      if (!mayStart()) {
        if (!recheck) {
          deferred++;
          recheck = setTimeout(() => {
            recheck = undefined;
            refill();
          }, recheckMs);
          recheck.unref(); // a deferred refill never keeps the worker's process alive
        }
        return;
      }
      starting++;
      const p = Promise.resolve()
        .then(() => opts.create(draining$.signal))
        .then(
          (member) => {
            starting--;
            created++;
            consecutive = 0;
            if (draining) destroy(member);
            else idle.push(member);
          },
          (error: unknown) => {
            starting--;
            if (!draining) failed(error); // a creation given up because of drain() is no failure
          },
        )
        .finally(() => {
          pending.delete(p);
          refill();
        });
      pending.add(p);
    }
  };

  const isAlive = (member: M): boolean => {
    try {
      return opts.alive ? opts.alive(member) : true;
    } catch {
      return false;
    }
  };

  const isReady = (member: M): boolean => {
    try {
      return opts.ready ? opts.ready(member) : true;
    } catch {
      return false;
    }
  };

  refill();
  return {
    take(): M | null {
      if (draining) {
        missed++;
        return null;
      }
      for (const member of idle.filter((m) => !isAlive(m))) {
        idle.splice(idle.indexOf(member), 1);
        dead++;
        destroy(member);
        failed(new Error('a warm member died while idle'));
      }
      const i = idle.findIndex(isReady);
      const found = idle.length === 0 ? null : idle.splice(i >= 0 ? i : 0, 1)[0]!;
      if (found === null) missed++;
      else taken++;
      refill();
      return found;
    },
    evict(member: M): void {
      const i = idle.indexOf(member);
      if (i < 0) return;
      idle.splice(i, 1);
      dead++;
      destroy(member);
      failed(new Error('a warm member died while idle'));
      refill();
    },
    async drain(): Promise<void> {
      draining = true;
      draining$.abort();
      clearTimeout(backoff);
      backoff = undefined;
      clearTimeout(recheck);
      recheck = undefined;
      // Creations in flight destroy their member themselves once they settle (draining is set).
      while (pending.size > 0) await Promise.all([...pending]);
      for (const member of idle.splice(0)) destroy(member);
      while (destroying.size > 0) await Promise.all([...destroying]);
    },
    stats: (): WarmPoolStats => ({ size, idle: idle.length, ready: idle.filter(isReady).length, starting, created, taken, missed, failures, dead, deferred, draining }),
  };
}
