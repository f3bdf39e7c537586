/**
 * The rules of one key's lease, as a pure state machine (no Temporal import, unit-tested on its
 * own in test/unit/lease-queue.test.ts); workflows/key-lease-workflow.ts drives it and delivers
 * what it answers. One owner computes, later claims queue behind it in arrival order:
 *
 * - release `completed` → every waiter is told `ready` (the key is published: look it up);
 * - release `failed` → every waiter is told `failed`, naming the owner and its error. Failures
 *   are not cached: once the lease has ended, the next claim computes afresh;
 * - release `cancelled` (the owner's node or tree was cancelled), an owner past its hold limit,
 *   or an owner whose tree can no longer be told anything → the next waiter is told `compute`,
 *   the others are told who they now wait for.
 *
 * An owner that is alive renews its hold every half hold limit (`renew`), so the limit bounds how
 * long a gone owner keeps the key, not how long a live one may compute.
 *
 * Times are epoch milliseconds, passed in, so the caller decides the clock (the workflow's).
 */
import type { KeyGrant, LeaseClaim, LeaseHolder, LeaseRelease, LeaseRenewal } from '../common/schemas';

/** A message the lease must send: `grant` to the tree of `to`. */
export interface LeaseNotice {
  to: LeaseClaim;
  grant: KeyGrant;
}

/** The current owner: its claim and when it was granted or last renewed (the hold limit counts from there). */
export interface LeaseOwner {
  claim: LeaseClaim;
  /** When the key was granted, or last renewed (the name is kept: snapshots carried across continue-as-new hold it). */
  grantedAt: number;
}

/** Everything a lease knows, plain JSON (carried across continue-as-new). */
export interface LeaseSnapshot {
  key: string;
  owner: LeaseOwner | null;
  waiters: LeaseClaim[];
  /**
   * How the last computation ended, while no one owns the key: `completed` answers later claims
   * `ready` (until the lease ends); `failed` or none lets the next claim compute.
   */
  ended: { outcome: 'completed' | 'failed'; by: LeaseHolder } | null;
  /** Claims that owned the key and lost it (hold limit, hand-over): a later release of theirs is stale. */
  formerOwners: LeaseClaim[];
  /** Claims answered `ready` so far (for the result and the Web UI). */
  served: number;
  /** Owners so far (more than one after a hand-over). */
  owners: number;
}

/** Most former owners remembered (a stale release of an older one is ignored like any unknown claim). */
const MAX_FORMER_OWNERS = 100;

const holder = (c: LeaseClaim): LeaseHolder => ({ treeId: c.treeId, nodeId: c.nodeId });

/** One key's owner and queue. */
export class LeaseQueue {
  private constructor(private readonly s: LeaseSnapshot) {}

  /** A lease whose first claim already owns the key (it started the lease, so it was told nothing). */
  static start(key: string, first: LeaseClaim, now: number): LeaseQueue {
    return new LeaseQueue({ key, owner: { claim: first, grantedAt: now }, waiters: [], ended: null, formerOwners: [], served: 0, owners: 1 });
  }

  /** A lease carried across continue-as-new (a copy: the caller's object is not kept). */
  static restore(snapshot: LeaseSnapshot): LeaseQueue {
    return new LeaseQueue(structuredCloneJson(snapshot));
  }

  /** A copy of the state. */
  snapshot(): LeaseSnapshot {
    return structuredCloneJson(this.s);
  }

  get owner(): LeaseOwner | null {
    return this.s.owner;
  }

  get waiters(): readonly LeaseClaim[] {
    return this.s.waiters;
  }

  /** True when no one owns or waits: the lease can end (a later claim starts a new one). */
  idle(): boolean {
    return this.s.owner === null && this.s.waiters.length === 0;
  }

  /** When the owner's hold limit runs out, or null without an owner. */
  deadline(): number | null {
    const o = this.s.owner;
    return o ? o.grantedAt + o.claim.holdLimitSeconds * 1000 : null;
  }

  /** A claim: it owns the key when no one does, else it queues (and is told for whom it waits). */
  claim(c: LeaseClaim, now: number): LeaseNotice[] {
    if (this.known(c.claimId)) return [];
    const o = this.s.owner;
    if (o) {
      this.s.waiters.push(c);
      return [this.notice(c, 'queued', holder(o.claim))];
    }
    if (this.s.ended?.outcome === 'completed') {
      this.s.served++;
      return [this.notice(c, 'ready', this.s.ended.by)];
    }
    return [this.grantTo(c, now)];
  }

  /** The owner's release (a stale one, from an owner that lost the key, only ever adds `ready`). */
  release(r: LeaseRelease, now: number): LeaseNotice[] {
    const o = this.s.owner;
    if (!o || o.claim.claimId !== r.claimId) {
      // A waiter withdrawing (nothing to hand over), or an owner that lost the key and finished
      // anyway: its published result serves the waiters at once; the current owner goes on.
      const i = this.s.waiters.findIndex((w) => w.claimId === r.claimId);
      if (i >= 0) { this.s.waiters.splice(i, 1); return []; }
      const former = this.s.formerOwners.find((f) => f.claimId === r.claimId);
      if (r.outcome !== 'completed' || !former) return [];
      return this.readyAll(holder(former));
    }
    const by = holder(o.claim);
    this.s.owner = null;
    if (r.outcome === 'cancelled') return this.handOver(now);
    this.s.ended = { outcome: r.outcome, by };
    if (r.outcome === 'completed') return this.readyAll(by);
    const error = r.error ?? 'the shared computation failed';
    return this.s.waiters.splice(0).map((w) => this.notice(w, 'failed', by, error));
  }

  /**
   * The owner is still computing: its hold limit counts again from `now`, for the renewal's
   * `holdLimitSeconds`. A renewal from anyone but the current owner (an owner that already lost
   * the key, a waiter) changes nothing. Returns whether it was taken.
   */
  renew(r: LeaseRenewal, now: number): boolean {
    const o = this.s.owner;
    if (!o || o.claim.claimId !== r.claimId) return false;
    this.s.owner = { claim: { ...o.claim, holdLimitSeconds: r.holdLimitSeconds }, grantedAt: now };
    return true;
  }

  /** The owner held the key past its hold limit: the lease goes on as if it had been cancelled. */
  expire(now: number): LeaseNotice[] {
    const d = this.deadline();
    if (d === null || now < d) return [];
    return this.dropOwner(now);
  }

  /**
   * A notice could not be delivered: the claim's tree is closed (it finished, was cancelled or
   * terminated). An owner that cannot be reached is handed over; a waiter is forgotten.
   */
  undeliverable(claimId: string, now: number): LeaseNotice[] {
    if (this.s.owner?.claim.claimId === claimId) return this.dropOwner(now);
    const i = this.s.waiters.findIndex((w) => w.claimId === claimId);
    if (i >= 0) this.s.waiters.splice(i, 1);
    return [];
  }

  /** Claims answered `ready` and owners so far. */
  counts(): { served: number; owners: number } {
    return { served: this.s.served, owners: this.s.owners };
  }

  private dropOwner(now: number): LeaseNotice[] {
    const o = this.s.owner;
    if (!o) return [];
    this.s.formerOwners.push(o.claim);
    if (this.s.formerOwners.length > MAX_FORMER_OWNERS) this.s.formerOwners.shift();
    this.s.owner = null;
    return this.handOver(now);
  }

  /** The next waiter computes; the others learn whom they wait for now. */
  private handOver(now: number): LeaseNotice[] {
    const next = this.s.waiters.shift();
    if (!next) return [];
    const out = [this.grantTo(next, now)];
    for (const w of this.s.waiters) out.push(this.notice(w, 'queued', holder(next)));
    return out;
  }

  private grantTo(c: LeaseClaim, now: number): LeaseNotice {
    this.s.owner = { claim: c, grantedAt: now };
    this.s.ended = null;
    this.s.owners++;
    return this.notice(c, 'compute', holder(c));
  }

  private readyAll(by: LeaseHolder): LeaseNotice[] {
    const ws = this.s.waiters.splice(0);
    this.s.served += ws.length;
    return ws.map((w) => this.notice(w, 'ready', by));
  }

  private known(claimId: string): boolean {
    return this.s.owner?.claim.claimId === claimId || this.s.waiters.some((w) => w.claimId === claimId);
  }

  private notice(to: LeaseClaim, role: KeyGrant['role'], owner: LeaseHolder, error?: string): LeaseNotice {
    return { to, grant: { key: this.s.key, claimId: to.claimId, role, owner, ...(error !== undefined ? { error } : {}) } };
  }
}

function structuredCloneJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
