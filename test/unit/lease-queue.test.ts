/**
 * Unit tests of the pure lease rules (workflows/lease-queue.ts): who computes, who waits, what
 * each release tells the waiters, hold limits, undeliverable notices, stale releases, and the
 * snapshot carried across continue-as-new. The workflow around it: test/key-lease.test.ts.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseQueue, type LeaseNotice } from '../../workflows/lease-queue';
import { holdLimitSeconds, leaseOutcome, HOLD_LIMIT_SLACK_SECONDS, MAX_HOLD_LIMIT_SECONDS } from '../../workflows/key-lease';
import { FailureTypes } from '../../common/failure-types';
import { LeaseClaimSchema, type LeaseClaim } from '../../common/schemas';

const KEY = 'a'.repeat(64);
const claim = (n: number, holdLimitSeconds = 60): LeaseClaim => ({ claimId: `run${n}:node${n}:1`, treeId: `tree${n}`, nodeId: `node${n}`, holdLimitSeconds });
/** `role→tree (owner tree)` per notice, compact to compare. */
const brief = (ns: LeaseNotice[]) => ns.map((n) => `${n.grant.role}→${n.to.treeId} (${n.grant.owner.treeId})`);

void describe('lease queue', () => {
  void test('the first claim owns the key; later claims queue and are told whom they wait for', () => {
    const q = LeaseQueue.start(KEY, claim(1), 0);
    assert.equal(q.owner?.claim.claimId, claim(1).claimId);
    assert.deepEqual(brief(q.claim(claim(2), 10)), ['queued→tree2 (tree1)']);
    assert.deepEqual(brief(q.claim(claim(3), 20)), ['queued→tree3 (tree1)']);
    assert.deepEqual(q.waiters.map((w) => w.treeId), ['tree2', 'tree3']);
    // The same claim again (a duplicate signal) changes nothing.
    assert.deepEqual(q.claim(claim(2), 30), []);
    assert.equal(q.waiters.length, 2);
    assert.equal(q.idle(), false);
  });

  void test('completed: every waiter is told ready, naming the owner; the lease is then idle', () => {
    const q = LeaseQueue.start(KEY, claim(1), 0);
    q.claim(claim(2), 1);
    q.claim(claim(3), 2);
    const out = q.release({ claimId: claim(1).claimId, outcome: 'completed' }, 3);
    assert.deepEqual(brief(out), ['ready→tree2 (tree1)', 'ready→tree3 (tree1)']);
    assert.equal(out[0]!.grant.key, KEY);
    assert.equal(out[0]!.grant.claimId, claim(2).claimId);
    assert.equal(q.idle(), true);
    // A claim before the lease has ended is answered ready at once.
    assert.deepEqual(brief(q.claim(claim(4), 4)), ['ready→tree4 (tree1)']);
    assert.deepEqual(q.counts(), { served: 3, owners: 1 });
  });

  void test('failed: every waiter is told failed with the owner and its error; a later claim computes afresh', () => {
    const q = LeaseQueue.start(KEY, claim(1), 0);
    q.claim(claim(2), 1);
    const out = q.release({ claimId: claim(1).claimId, outcome: 'failed', error: 'BlockCrashedError: boom' }, 2);
    assert.deepEqual(brief(out), ['failed→tree2 (tree1)']);
    assert.equal(out[0]!.grant.error, 'BlockCrashedError: boom');
    assert.deepEqual(out[0]!.grant.owner, { treeId: 'tree1', nodeId: 'node1' });
    assert.equal(q.idle(), true);
    assert.deepEqual(brief(q.claim(claim(3), 3)), ['compute→tree3 (tree3)']);
    assert.equal(q.owner?.claim.treeId, 'tree3');
  });

  void test('a failure without an error message still names one', () => {
    const q = LeaseQueue.start(KEY, claim(1), 0);
    q.claim(claim(2), 1);
    const [n] = q.release({ claimId: claim(1).claimId, outcome: 'failed' }, 2);
    assert.ok(n?.grant.error && n.grant.error.length > 0);
  });

  void test('cancelled: the next waiter computes, the others learn their new owner', () => {
    const q = LeaseQueue.start(KEY, claim(1), 0);
    q.claim(claim(2), 1);
    q.claim(claim(3), 2);
    assert.deepEqual(brief(q.release({ claimId: claim(1).claimId, outcome: 'cancelled' }, 5)), ['compute→tree2 (tree2)', 'queued→tree3 (tree2)']);
    assert.equal(q.owner?.claim.treeId, 'tree2');
    assert.equal(q.deadline(), 5 + 60_000);
    assert.deepEqual(brief(q.release({ claimId: claim(2).claimId, outcome: 'completed' }, 6)), ['ready→tree3 (tree2)']);
    assert.deepEqual(q.counts(), { served: 1, owners: 2 });
  });

  void test('cancelled with no one waiting: idle, and the next claim computes', () => {
    const q = LeaseQueue.start(KEY, claim(1), 0);
    assert.deepEqual(q.release({ claimId: claim(1).claimId, outcome: 'cancelled' }, 1), []);
    assert.equal(q.idle(), true);
    assert.deepEqual(brief(q.claim(claim(2), 2)), ['compute→tree2 (tree2)']);
  });

  void test('an owner past its hold limit is treated as cancelled; its late completion serves the waiters', () => {
    const q = LeaseQueue.start(KEY, claim(1, 10), 1000);
    q.claim(claim(2, 10), 2000);
    q.claim(claim(3, 10), 3000);
    assert.equal(q.deadline(), 11_000);
    assert.deepEqual(q.expire(10_999), [], 'not before the deadline');
    assert.deepEqual(brief(q.expire(11_000)), ['compute→tree2 (tree2)', 'queued→tree3 (tree2)']);
    assert.equal(q.deadline(), 21_000, 'the new owner gets its own hold limit from its grant');
    // The first owner finishes after all: its published result serves tree3; tree2 goes on.
    assert.deepEqual(brief(q.release({ claimId: claim(1).claimId, outcome: 'completed' }, 12_000)), ['ready→tree3 (tree1)']);
    assert.equal(q.owner?.claim.treeId, 'tree2');
    // A late failure or cancellation of a former owner changes nothing.
    q.claim(claim(4), 13_000);
    assert.deepEqual(q.release({ claimId: claim(1).claimId, outcome: 'failed', error: 'x' }, 14_000), []);
    assert.deepEqual(q.release({ claimId: claim(1).claimId, outcome: 'cancelled' }, 14_000), []);
    assert.equal(q.waiters.length, 1);
  });

  void test('an owner\'s renewal restarts its hold limit; a renewal from anyone else changes nothing', () => {
    const q = LeaseQueue.start(KEY, claim(1, 10), 1000);
    q.claim(claim(2, 10), 2000);
    assert.equal(q.renew({ claimId: claim(1).claimId, holdLimitSeconds: 10 }, 6000), true);
    assert.equal(q.deadline(), 16_000, 'counted again from the renewal');
    assert.deepEqual(q.expire(11_000), [], 'the first deadline has passed, the owner keeps the key');
    // A renewal may carry another limit; it holds from then on (and survives continue-as-new).
    assert.equal(q.renew({ claimId: claim(1).claimId, holdLimitSeconds: 20 }, 7000), true);
    assert.equal(LeaseQueue.restore(q.snapshot()).deadline(), 27_000);
    // A waiter's renewal, or an unknown claim's, changes nothing.
    assert.equal(q.renew({ claimId: claim(2).claimId, holdLimitSeconds: 99 }, 8000), false);
    assert.equal(q.renew({ claimId: 'gone:node:1', holdLimitSeconds: 99 }, 8000), false);
    assert.equal(q.deadline(), 27_000);
    // An owner that stops renewing loses the key at its deadline; its late renewal does not take it back.
    assert.deepEqual(brief(q.expire(27_000)), ['compute→tree2 (tree2)']);
    assert.equal(q.renew({ claimId: claim(1).claimId, holdLimitSeconds: 10 }, 28_000), false);
    assert.equal(q.owner?.claim.treeId, 'tree2');
    assert.equal(q.deadline(), 37_000);
  });

  void test('an owner whose tree cannot be signalled is handed over; an unreachable waiter is forgotten', () => {
    const q = LeaseQueue.start(KEY, claim(1), 0);
    q.claim(claim(2), 1);
    q.claim(claim(3), 2);
    assert.deepEqual(q.undeliverable(claim(3).claimId, 3), []);
    assert.deepEqual(q.waiters.map((w) => w.treeId), ['tree2']);
    // tree2 is handed the key after a cancellation, but is closed: the key goes on to no one.
    assert.deepEqual(brief(q.release({ claimId: claim(1).claimId, outcome: 'cancelled' }, 4)), ['compute→tree2 (tree2)']);
    assert.deepEqual(q.undeliverable(claim(2).claimId, 5), []);
    assert.equal(q.idle(), true);
  });

  void test('a release from an unknown claim, or from a waiter, hands nothing over', () => {
    const q = LeaseQueue.start(KEY, claim(1), 0);
    q.claim(claim(2), 1);
    assert.deepEqual(q.release({ claimId: 'nobody:x:1', outcome: 'completed' }, 2), []);
    assert.deepEqual(q.release({ claimId: claim(2).claimId, outcome: 'cancelled' }, 2), [], 'a waiter withdrawing');
    assert.equal(q.waiters.length, 0);
    assert.equal(q.owner?.claim.treeId, 'tree1');
  });

  void test('the snapshot survives JSON (continue-as-new) and goes on where it was', () => {
    const q = LeaseQueue.start(KEY, claim(1, 5), 0);
    q.claim(claim(2), 1);
    q.expire(5000);
    const copy = LeaseQueue.restore(JSON.parse(JSON.stringify(q.snapshot())));
    assert.deepEqual(copy.snapshot(), q.snapshot());
    assert.deepEqual(brief(copy.release({ claimId: claim(1).claimId, outcome: 'completed' }, 6000)), []);
    assert.deepEqual(brief(copy.release({ claimId: claim(2).claimId, outcome: 'completed' }, 7000)), []);
    assert.equal(copy.idle(), true);
    assert.deepEqual(copy.counts(), { served: 0, owners: 2 });
  });

  void test('hold limit: every attempt may take its timeout, plus back-offs and slack', () => {
    assert.equal(holdLimitSeconds(10, 0), 10 + HOLD_LIMIT_SLACK_SECONDS);
    assert.equal(holdLimitSeconds(10, 2, 5), 30 + 5 + 10 + HOLD_LIMIT_SLACK_SECONDS);
    // Back-offs stop doubling at 100× the delay (Temporal's default maximum interval).
    assert.equal(holdLimitSeconds(1, 8, 1), 9 + (1 + 2 + 4 + 8 + 16 + 32 + 64 + 100) + HOLD_LIMIT_SLACK_SECONDS);
    // The largest spec (a week per attempt, 100 retries, a day's delay) stays within what a claim accepts.
    const most = holdLimitSeconds(7 * 24 * 3600, 100, 24 * 3600);
    assert.equal(most, MAX_HOLD_LIMIT_SECONDS);
    assert.ok(LeaseClaimSchema.safeParse({ claimId: 'r:n:1', treeId: 't', nodeId: 'n', holdLimitSeconds: most }).success);
  });
});

void describe('what an owner tells its waiters (leaseOutcome)', () => {
  void test('a stored success is completed; a success not stored hands the key on', () => {
    assert.equal(leaseOutcome('COMPLETED', undefined, true), 'completed');
    // Publishing to the cache failed, or a repair changed the code: nothing to look up.
    assert.equal(leaseOutcome('COMPLETED', undefined, false), 'cancelled');
  });

  void test('failures that follow from the key fail the waiters; failures of the owner\'s limits or hosts hand the key on', () => {
    for (const t of [FailureTypes.BlockCrashed, FailureTypes.InvalidParameters, FailureTypes.InvalidBlockCode, FailureTypes.InputMissing, FailureTypes.InputCountMismatch]) {
      assert.equal(leaseOutcome('FAILED', t, false), 'failed', t);
    }
    // A waiter may have a longer timeout, more memory, another task queue: it computes itself.
    assert.equal(leaseOutcome('TIMEOUT', FailureTypes.BlockTimeout, false), 'cancelled');
    for (const t of [FailureTypes.OutOfMemory, FailureTypes.ExecutorUnavailable, 'Timeout:HEARTBEAT', 'WorkerShutdown', FailureTypes.CallbackFailed, 'Error', undefined]) {
      assert.equal(leaseOutcome('FAILED', t, false), 'cancelled', String(t));
    }
    assert.equal(leaseOutcome('CANCELLED', 'Cancelled', false), 'cancelled');
  });
});
