/**
 * The key lease: one workflow per cache key, id `ragomics-key-<key>`, alive while some node
 * computes that key. It makes identical work in flight run once, across trees and workers.
 *
 * Why a workflow per key. Temporal guarantees that at most one execution with a given workflow
 * id is running in a namespace; the server decides, atomically, who started it first. So the
 * key's workflow id is the lock: no lock table, no database of ours, no clock skew between
 * workers. An activity id per key would not do: activity ids are unique only inside one
 * workflow execution, and two trees are two executions.
 *
 * Why the tree claims with `startChild` + a signal, from workflow code (workflows/key-lease.ts).
 * The claim is a command in the tree's own history (StartChildWorkflowExecution, then
 * SignalExternalWorkflowExecution when the id already runs), so it replays deterministically,
 * needs no worker slot, no client inside an activity and no activity retries. The alternative,
 * signal-with-start from an activity, would be one atomic call, but the answer would have to
 * come back through the activity's result while the grant itself arrives later anyway, and each
 * claim would hold an activity slot. The price of start-then-signal is a gap: the lease may end
 * between the failed start and the signal. The signal then fails (the workflow is closed) and
 * the claimer starts it again; the loop is bounded (MAX_CLAIM_ROUNDS in key-lease.ts).
 * The lease runs with `parentClosePolicy: ABANDON` and `cancellationType: ABANDON`, started in a
 * non-cancellable scope: it outlives the first claimer, and the first claimer's cancellation
 * (node, tree, or the whole workflow) never cancels the lease that others wait on. In the Web UI
 * the lease shows as a child workflow of the first claimer; that is only where it was started.
 * `workflowIdReusePolicy: ALLOW_DUPLICATE`: a claim after the lease ended starts a new one.
 *
 * Why grants are signals to the tree (`keyGrant`). Only the first claimer is the lease's parent,
 * and workflow code cannot await an external workflow's result; a signal to the tree's workflow
 * id (no run id) reaches whichever run of the tree is current, is durable (a tree whose worker
 * is down gets it when one comes back), and costs one event on each side. A tree does not
 * continue as new while a node waits (it drains in-flight nodes first, and a waiting node is
 * in flight), so a grant never lands in a run that forgot the claim, except for a waiter that
 * was cancelled: its tree ignores `ready`/`failed` and hands a `compute` straight back.
 *
 * Rules (workflows/lease-queue.ts): the first claim computes, later ones queue. `completed` →
 * every waiter is told `ready` and looks the key up again; `failed` → every waiter fails with
 * SharedComputationFailedError naming the owner (failures are not cached: the lease ends, and
 * the next claim computes afresh); `cancelled` → the next waiter computes, the rest keep
 * waiting. A live owner renews its hold every half hold limit (`renewKey`), through re-runs and
 * waits for a worker slot; an owner that neither releases, renews nor can be reached within its
 * `holdLimitSeconds` (its tree was terminated, say) is treated as cancelled: a lost lease costs at most a second
 * computation of the same key, never a wrong result (cache entries are published by one
 * rename; the loser of that race keeps its own output).
 *
 * Ending. The lease returns once no one owns or waits. A claim that arrives in the same
 * workflow task is in the inbox (drained before returning); one that arrives while the
 * completion is in flight makes the server reject the completion and deliver it in a new task;
 * one that arrives after finds the workflow closed and starts a new lease. Long-lived leases
 * continue as new when the server suggests it, carrying the queue.
 */
import { allHandlersFinished, condition, continueAsNew, getExternalWorkflowHandle, isCancellation, log, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { LeaseClaimSchema, LeaseReleaseSchema, LeaseRenewalSchema, type LeaseClaim, type LeaseRelease, type LeaseRenewal } from '../common/schemas';
import { claimKeySignal, keyGrantSignal, releaseKeySignal, renewKeySignal } from './key-lease-messages';
import { LeaseQueue, type LeaseNotice, type LeaseSnapshot } from './lease-queue';

/** Input of {@link keyLease}: the key and the claim that started it (it owns the key at once). */
export interface KeyLeaseInput {
  key: string;
  first: LeaseClaim;
  /** The queue carried from the previous run (continue-as-new); `first` is then ignored. */
  carried?: LeaseSnapshot;
}

/** What a lease returns when it ends: how many nodes owned the key and how many were served `ready`. */
export interface KeyLeaseResult {
  key: string;
  owners: number;
  served: number;
}

type Inbox = { kind: 'claim'; claim: LeaseClaim } | { kind: 'release'; release: LeaseRelease } | { kind: 'renew'; renewal: LeaseRenewal };

/** Short form of a key for summaries. */
export function shortKey(key: string): string {
  return key.slice(0, 12);
}

/** The lease workflow of one key (see the module comment). Never fails: bad signals are logged and dropped. */
export async function keyLease(input: KeyLeaseInput): Promise<KeyLeaseResult> {
  const queue = input.carried ? LeaseQueue.restore(input.carried) : LeaseQueue.start(input.key, input.first, Date.now());
  const inbox: Inbox[] = [];
  setHandler(claimKeySignal, (raw) => {
    const p = LeaseClaimSchema.safeParse(raw);
    if (p.success) inbox.push({ kind: 'claim', claim: p.data });
    else log.warn('key lease: dropped a claim that does not parse', { key: input.key });
  });
  setHandler(releaseKeySignal, (raw) => {
    const p = LeaseReleaseSchema.safeParse(raw);
    if (p.success) inbox.push({ kind: 'release', release: p.data });
    else log.warn('key lease: dropped a release that does not parse', { key: input.key });
  });
  setHandler(renewKeySignal, (raw) => {
    const p = LeaseRenewalSchema.safeParse(raw);
    if (p.success) inbox.push({ kind: 'renew', renewal: p.data });
    else log.warn('key lease: dropped a renewal that does not parse', { key: input.key });
  });

  const outbox: LeaseNotice[] = [];
  for (;;) {
    const now = Date.now();
    for (let m = inbox.shift(); m; m = inbox.shift()) {
      if (m.kind === 'claim') outbox.push(...queue.claim(m.claim, now));
      else if (m.kind === 'release') outbox.push(...queue.release(m.release, now));
      else queue.renew(m.renewal, now);
    }
    outbox.push(...queue.expire(now));
    if (outbox.length > 0) {
      // Signals that arrive meanwhile wait in the inbox for the next round.
      for (const claimId of await deliver(outbox.splice(0))) outbox.push(...queue.undeliverable(claimId, Date.now()));
      continue;
    }
    describe(input.key, queue);
    if (queue.idle()) {
      await condition(allHandlersFinished);
      if (inbox.length === 0) break;
      continue;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      if (inbox.length === 0) await continueAsNew<typeof keyLease>({ key: input.key, first: input.first, carried: queue.snapshot() });
      continue;
    }
    const deadline = queue.deadline();
    if (deadline === null) await condition(() => inbox.length > 0);
    else await condition(() => inbox.length > 0, Math.max(1, deadline - Date.now()));
  }
  return { key: input.key, ...queue.counts() };
}

/**
 * Sends the notices, all at once; returns the claims whose tree could not be signalled (it is
 * closed: finished, cancelled or terminated). A failed signal to an external workflow means
 * that, whatever its error type; a cancellation of the lease itself is rethrown.
 */
async function deliver(notices: LeaseNotice[]): Promise<string[]> {
  const sent = await Promise.allSettled(notices.map((n) => getExternalWorkflowHandle(n.to.treeId).signal(keyGrantSignal, n.grant)));
  const failed: string[] = [];
  sent.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    if (isCancellation(r.reason)) throw r.reason;
    failed.push(notices[i]!.to.claimId);
  });
  return failed;
}

/** The Web UI's "current details": who computes the key now and how many wait. */
function describe(key: string, queue: LeaseQueue): void {
  const o = queue.owner;
  setCurrentDetails(o
    ? `**cache key ${shortKey(key)}** · computing in tree ${o.claim.treeId} node ${o.claim.nodeId} · ${queue.waiters.length} waiting`
    : `**cache key ${shortKey(key)}** · ending`);
}
