/**
 * The tree's side of key leases (the lease itself, and why it is built this way:
 * workflows/key-lease-workflow.ts). A node whose cache key has no published entry calls
 * {@link acquireKeyLease} before it computes; the answer says whether it computes, waits for
 * someone else's result (`ready`), or fails with that computation. Workflow code: deterministic,
 * no I/O. The tree workflow calls {@link installKeyGrantHandler} before its first await.
 */
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { INPUT_DETERMINED_FAILURE_TYPES } from '../common/failure-types';
import { KeyGrantSchema, formatZodError, type KeyGrant, type LeaseHolder } from '../common/schemas';
import { claimKeySignal, keyGrantSignal, keyLeaseWorkflowId, releaseKeySignal, renewKeySignal } from './key-lease-messages';
import { keyLease, shortKey } from './key-lease-workflow';

/** What {@link acquireKeyLease} answers. */
export type LeaseGrant =
  | {
      role: 'compute';
      /**
       * Tells the lease how the computation ended: `completed` (the output is published under the
       * key: waiters look it up), `failed` (waiters fail with `error`), `cancelled` (the next
       * waiter computes). Call it exactly once, also when the node was cancelled: it runs in a
       * non-cancellable scope and never throws (a lease that has ended is not told anything).
       */
      release(outcome: LeaseOutcome, error?: string): Promise<void>;
    }
  /** `owner` published the key: look it up again. */
  | { role: 'ready'; owner: LeaseHolder }
  /** `owner`'s computation of the key failed with `error` (failures are not cached). */
  | { role: 'failed'; owner: LeaseHolder; error: string };

/** What a key's owner tells the lease when its computation ended (LeaseGrant.release). */
export type LeaseOutcome = 'completed' | 'failed' | 'cancelled';

/**
 * What the owner of a key tells its waiters, from how its node ended:
 * - `completed` only when the output is stored under the key (`stored`): the waiters look it up.
 *   A success that was not stored (publishing failed, or a repair changed the code) is
 *   `cancelled`, so one waiter computes instead of every waiter missing the lookup at once.
 * - `failed` only for a failure that follows from the key itself (INPUT_DETERMINED_FAILURE_TYPES:
 *   the block crashed, bad parameters, code or input): every waiter would fail the same way.
 * - `cancelled` for everything else, a timeout, out of memory, a lost worker, an unavailable
 *   executor, which depends on the owner's own limits and hosts: the next waiter computes.
 */
export function leaseOutcome(outcome: 'COMPLETED' | 'FAILED' | 'TIMEOUT' | 'CANCELLED', errorType: string | undefined, stored: boolean): LeaseOutcome {
  if (outcome === 'COMPLETED') return stored ? 'completed' : 'cancelled';
  if (outcome === 'CANCELLED') return 'cancelled';
  return errorType !== undefined && INPUT_DETERMINED_FAILURE_TYPES.includes(errorType) ? 'failed' : 'cancelled';
}

/** What a node claims a key with. */
export interface KeyClaim {
  treeId: string;
  nodeId: string;
  /** How long this node may own the key before waiters stop waiting for it; see {@link holdLimitSeconds}. */
  holdLimitSeconds: number;
}

/** Optional hooks of {@link acquireKeyLease}. */
export interface AcquireOptions {
  /**
   * Called when the node queues behind another node computing the same key, and again after a
   * hand-over with the new owner (the node is then RUNNING without running anything).
   */
  onWait?(owner: LeaseHolder): void;
}

/**
 * Patch id of hold renewals: an owner renews its hold every half hold limit until it releases
 * (new timers and signals in the tree's history, so histories from before replay without them).
 */
export const LEASE_RENEWAL_PATCH = 'lease-renewal';

/** Rounds of start-then-signal before a claimer gives up on the lease and computes on its own. */
export const MAX_CLAIM_ROUNDS = 5;

/** Seconds added to a node's attempts in its hold limit: the start-to-close grace, a retry back-off, publishing. */
export const HOLD_LIMIT_SLACK_SECONDS = 30;

/** Longest hold limit (ten years; what a lease claim accepts, common/schemas.ts LeaseClaimSchema). */
export const MAX_HOLD_LIMIT_SECONDS = 10 * 365 * 24 * 3600;

/**
 * How long a node may own a key: every attempt may take its timeout, plus
 * {@link HOLD_LIMIT_SLACK_SECONDS} and the retry back-offs (`retryDelay`, doubling, at most 100×
 * `retryDelay` each: Temporal's default maximum interval), at most {@link MAX_HOLD_LIMIT_SECONDS}.
 * Past it the lease hands the key to the next waiter, so a waiter never waits for an owner whose
 * tree was terminated much longer than that owner could have computed. A live owner renews its
 * hold every half limit ({@link LEASE_RENEWAL_PATCH}), so re-runs the workflow makes (more
 * memory, a lost worker, a repair) and waits for a worker slot do not count against it.
 */
export function holdLimitSeconds(timeoutSeconds: number, maxRetries: number, retryDelaySeconds = 0): number {
  let backoff = 0;
  for (let i = 0; i < maxRetries; i++) backoff += Math.min(retryDelaySeconds * 2 ** i, retryDelaySeconds * 100);
  return Math.min(MAX_HOLD_LIMIT_SECONDS, timeoutSeconds * (maxRetries + 1) + backoff + HOLD_LIMIT_SLACK_SECONDS);
}

interface PendingClaim {
  key: string;
  grant?: KeyGrant;
  onWait?: (owner: LeaseHolder) => void;
}

/** Claims waiting for the lease's answer, by claim id (per workflow execution: module state is per workflow). */
const pending = new Map<string, PendingClaim>();
let installed = false;
let claims = 0;

/**
 * Registers the tree's `keyGrant` handler. Call once, before the workflow's first await (like
 * every handler), so grants that arrived with a task are delivered. A grant for a claim this run
 * no longer waits for (its node was cancelled) is dropped, except `compute`, which is handed
 * straight back (`cancelled`) so the next waiter computes.
 */
export function installKeyGrantHandler(): void {
  installed = true;
  setHandler(keyGrantSignal, async (raw) => {
    const p = KeyGrantSchema.safeParse(raw);
    // Said, as the lease workflow says of what it drops: a node waiting for this grant would
    // otherwise wait its whole hold limit with nothing in the logs.
    if (!p.success) return log.warn('key lease: dropped a grant that does not parse', { issues: formatZodError(p.error) });
    const g = p.data;
    const claim = pending.get(g.claimId);
    if (!claim) {
      if (g.role === 'compute') await sendRelease(g.key, g.claimId, 'cancelled');
      return;
    }
    if (g.role === 'queued') claim.onWait?.(g.owner);
    else claim.grant = g;
  });
}

/**
 * Claims `key` for one node and resolves when the node may go on: `compute` (it owns the key:
 * compute, publish, then `release`), `ready` (someone published it meanwhile) or `failed`.
 * Call it inside the node's cancellation scope: cancelling the node while it waits rejects with
 * a CancelledFailure and tells the lease nothing (the lease skips the claim later); cancelling it
 * never cancels the owner's computation. Must run in a workflow that called
 * {@link installKeyGrantHandler}. After {@link MAX_CLAIM_ROUNDS} rounds in which the lease ended
 * between start and signal each time, the node computes without a lease (a second computation
 * of the key, never a wrong result).
 */
export async function acquireKeyLease(key: string, claim: KeyClaim, options: AcquireOptions = {}): Promise<LeaseGrant> {
  if (!installed) throw new Error('acquireKeyLease: the workflow did not call installKeyGrantHandler()');
  // The whole run id: a prefix of it is not unique (run ids are UUIDv7, time first: two trees started
  // in the same minute share the first 8 digits).
  const claimId = `${workflowInfo().runId}:${claim.nodeId}:${++claims}`;
  const full = { claimId, treeId: claim.treeId, nodeId: claim.nodeId, holdLimitSeconds: claim.holdLimitSeconds };
  const waiting: PendingClaim = { key, onWait: options.onWait };
  // Registered before the claim goes out: the answer may arrive in the very next task.
  pending.set(claimId, waiting);
  try {
    const leaseId = keyLeaseWorkflowId(key);
    /** Starts the lease (this claim owns the key) or queues in the running one. */
    const claimRound = () => CancellationScope.nonCancellable(async () => {
      for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
        try {
          await startChild(keyLease, {
            workflowId: leaseId,
            args: [{ key, first: full }],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            cancellationType: ChildWorkflowCancellationType.ABANDON,
            workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
            staticSummary: `cache key ${shortKey(key)} · computing in tree ${claim.treeId} node ${claim.nodeId}`,
          });
          return 'owner' as const;
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
        try {
          await getExternalWorkflowHandle(leaseId).signal(claimKeySignal, full);
          return 'queued' as const;
        } catch (err) {
          // The lease ended between the start and the signal: start it again.
          if (isCancellation(err)) throw err;
        }
      }
      return 'alone' as const;
    });
    for (;;) {
      const claimed = await claimRound();
      if (claimed === 'owner') return computeGrant(key, claimId, claim.holdLimitSeconds);
      if (claimed === 'alone') return { role: 'compute', release: () => Promise.resolve() };
      // Cancellable: a node cancelled while it waits ends here. Nothing heard for a whole hold
      // limit: claim again with the same id (a lease that has it ignores the repeat; one that was
      // terminated by hand is started anew), so no lease mishap leaves a node waiting for ever.
      if (await condition(() => waiting.grant !== undefined, claim.holdLimitSeconds * 1000)) break;
    }
    const g = waiting.grant!;
    if (g.role === 'compute') return computeGrant(key, claimId, claim.holdLimitSeconds);
    if (g.role === 'ready') return { role: 'ready', owner: g.owner };
    return { role: 'failed', owner: g.owner, error: g.error ?? 'the shared computation failed' };
  } finally {
    pending.delete(claimId);
  }
}

function computeGrant(key: string, claimId: string, holdLimitSeconds: number): LeaseGrant {
  let released = false;
  const renewals = patched(LEASE_RENEWAL_PATCH) ? renewWhileOwned(key, claimId, holdLimitSeconds) : undefined;
  return {
    role: 'compute',
    async release(outcome, error) {
      if (released) return;
      released = true;
      renewals?.cancel();
      await sendRelease(key, claimId, outcome, error);
    },
  };
}

/**
 * Renews the hold every half hold limit until the returned scope is cancelled (at release), so
 * the lease hands the key over only when the owner stops renewing: its tree is gone, or its
 * workers have all been down for half a hold limit (a second computation then, never a wrong
 * result). A child of the caller's scope: a cancelled node stops renewing too, and its release
 * follows. The loop ends quietly when cancelled or when the lease has ended (its signal fails).
 */
function renewWhileOwned(key: string, claimId: string, holdLimitSeconds: number): CancellationScope {
  const scope = new CancellationScope();
  scope.run(async () => {
    for (;;) {
      await sleep(holdLimitSeconds * 500);
      await getExternalWorkflowHandle(keyLeaseWorkflowId(key)).signal(renewKeySignal, { claimId, holdLimitSeconds });
    }
  }).catch(() => undefined); // cancelled at release, or the lease ended: nothing more to renew
  return scope;
}

/** Tells the lease how a computation ended; a lease that has ended (or was terminated) is not told. */
async function sendRelease(key: string, claimId: string, outcome: LeaseOutcome, error?: string): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    try {
      await getExternalWorkflowHandle(keyLeaseWorkflowId(key)).signal(releaseKeySignal, { claimId, outcome, ...(error !== undefined ? { error: error.slice(0, 4000) } : {}) });
    } catch (err) {
      if (isCancellation(err)) throw err;
    }
  });
}
