/**
 * The generic warm pool (activities/executors/warm-pool.ts) with stand-in members: take never
 * waits, refills, backs off on failures, never hands out a dead member, and drains. The pools of
 * real runner processes: test/executor-local-warm.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWarmPool, type WarmPool } from '../../activities/executors/warm-pool';

interface Member {
  id: number;
  dead: boolean;
  destroyed: boolean;
}

/** A controllable `create`: each call waits for release(), or fails while `failing`. */
function members() {
  const made: Member[] = [];
  const waiting: (() => void)[] = [];
  const state = { failing: false, calls: 0, instant: true };
  const create = async (): Promise<Member> => {
    state.calls++;
    if (state.failing) throw new Error('cannot start');
    if (!state.instant) await new Promise<void>((resolve) => waiting.push(resolve));
    const m = { id: made.length, dead: false, destroyed: false };
    made.push(m);
    return m;
  };
  const destroy = async (m: Member): Promise<void> => {
    m.destroyed = true;
  };
  return { made, waiting, state, create, destroy, alive: (m: Member) => !m.dead };
}

/** Waits for the state `cond` describes (polling every millisecond; fails after 5 s). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.ok(cond(), what);
}

const filled = (pool: WarmPool<Member>, n: number) => until(() => pool.stats().idle === n, `pool holds ${n} idle members`);

void test('take never waits: null while members are still starting, a member once one is started', async () => {
  const m = members();
  m.state.instant = false;
  const pool = createWarmPool({ size: 2, create: m.create, destroy: m.destroy, alive: m.alive });
  assert.equal(pool.take(), null, 'nothing started yet: null at once, not a wait');
  assert.equal(pool.stats().missed, 1);
  assert.equal(pool.stats().starting, 2);
  await until(() => m.waiting.length === 2, 'both creations under way');
  m.waiting.shift()!();
  await filled(pool, 1);
  m.state.instant = true; // the replacement take() starts
  const got = pool.take();
  assert.equal(got?.id, 0);
  assert.equal(pool.stats().taken, 1);
  m.waiting.splice(0).forEach((release) => release());
  await pool.drain();
});

void test('refill after take: the pool starts a replacement for every member taken', async () => {
  const m = members();
  const pool = createWarmPool({ size: 2, create: m.create, destroy: m.destroy, alive: m.alive });
  await filled(pool, 2);
  const a = pool.take();
  const b = pool.take();
  assert.ok(a && b && a !== b, 'two distinct members');
  await filled(pool, 2);
  assert.equal(m.state.calls, 4, 'two made at start, two replacements');
  assert.equal(pool.stats().created, 4);
  await pool.drain();
  assert.ok(!a.destroyed && !b.destroyed, 'members handed out belong to their attempts, not to the pool');
});

void test('creation failures back off and are counted, never thrown; the pool fills once creation works again', async () => {
  const m = members();
  m.state.failing = true;
  const errors: unknown[] = [];
  const pool = createWarmPool({ size: 1, create: m.create, destroy: m.destroy, backoffMs: 20, maxBackoffMs: 40, onError: (e) => errors.push(e) });
  await until(() => pool.stats().failures >= 3, 'three failures counted');
  assert.equal(pool.take(), null, 'no member: null, no throw');
  assert.ok(errors.every((e) => e instanceof Error && e.message === 'cannot start'), 'each failure reported to onError');
  // Backed off: far fewer calls than an unthrottled retry loop would make in the same time.
  const before = m.state.calls;
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.ok(m.state.calls - before <= 2, `at most one retry per back-off (${m.state.calls - before} calls in 30 ms at 40 ms ceiling)`);
  m.state.failing = false;
  await filled(pool, 1);
  assert.ok(pool.take());
  await pool.drain();
});

void test('dead members are never handed out: dropped, destroyed, counted and replaced', async () => {
  const m = members();
  const pool = createWarmPool({ size: 2, create: m.create, destroy: m.destroy, alive: m.alive, backoffMs: 1 });
  await filled(pool, 2);
  m.made[0]!.dead = true;
  const got = pool.take();
  assert.equal(got?.id, 1, 'the live member, not the dead one');
  await until(() => m.made[0]!.destroyed, 'the dead member was destroyed');
  assert.equal(pool.stats().dead, 1);
  // Both dead: take returns null rather than a dead member.
  await filled(pool, 2);
  for (const x of m.made) if (!x.destroyed && x !== got) x.dead = true;
  assert.equal(pool.take(), null);
  // evict(): the executor saw an idle member die.
  await filled(pool, 2);
  const idle = m.made.filter((x) => !x.dead && !x.destroyed && x !== got);
  pool.evict(idle[0]!);
  await until(() => idle[0]!.destroyed, 'the evicted member was destroyed');
  assert.notEqual(pool.take(), idle[0]);
  await pool.drain();
});

void test('drain destroys idle and starting members; later take() returns null and nothing is created', async () => {
  const m = members();
  const pool = createWarmPool({ size: 3, create: m.create, destroy: m.destroy, alive: m.alive });
  await filled(pool, 3);
  m.state.instant = false;
  pool.take(); // starts a replacement that is still starting when the drain begins
  assert.equal(pool.stats().starting, 1);
  await until(() => m.waiting.length === 1, 'the replacement is being created');
  const drained = pool.drain();
  m.waiting.splice(0).forEach((release) => release());
  await drained;
  const left = m.made.filter((x) => x.id !== 0);
  assert.equal(left.length, 3);
  assert.ok(left.every((x) => x.destroyed), 'idle and late-started members destroyed');
  assert.equal(pool.take(), null);
  const calls = m.state.calls;
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(m.state.calls, calls, 'no creation after drain');
  assert.equal(pool.stats().draining, true);
  await pool.drain(); // idempotent
});

void test('size 0 holds nothing and creates nothing', async () => {
  const m = members();
  const pool = createWarmPool({ size: 0, create: m.create, destroy: m.destroy });
  assert.equal(pool.take(), null);
  await pool.drain();
  assert.equal(m.state.calls, 0);
});

void test('take prefers a ready member over an older one still warming up', async () => {
  const m = members();
  const ready = new Set<number>();
  const pool = createWarmPool({ size: 2, create: m.create, destroy: m.destroy, alive: m.alive, ready: (x) => ready.has(x.id) });
  await filled(pool, 2);
  assert.equal(pool.stats().ready, 0);
  ready.add(1);
  assert.equal(pool.stats().ready, 1);
  assert.equal(pool.take()?.id, 1, 'the ready one, though member 0 is older');
  assert.equal(pool.take()?.id, 0, 'none ready: the oldest still warming up rather than null');
  await pool.drain();
});

void test('maxStarting bounds the creations in flight; the pool still fills one after another', async () => {
  const m = members();
  m.state.instant = false;
  const pool = createWarmPool({ size: 3, maxStarting: 1, create: m.create, destroy: m.destroy });
  assert.equal(pool.stats().starting, 1);
  for (let n = 1; n <= 3; n++) {
    await until(() => m.waiting.length === 1, `creation ${n} under way`);
    assert.equal(pool.stats().starting, 1, 'never more than one at once');
    m.waiting.shift()!();
    await filled(pool, n);
  }
  assert.equal(pool.stats().starting, 0);
  await pool.drain();
});

void test('mayStart defers creations, asks again on its own, and is told how many members are starting', async () => {
  const m = members();
  m.state.instant = false;
  let allow = false;
  const asked: number[] = [];
  const pool = createWarmPool({
    size: 2, create: m.create, destroy: m.destroy, alive: m.alive, recheckMs: 5,
    mayStart: (starting) => {
      asked.push(starting);
      return allow && starting === 0; // at most one at a time, and only once allowed
    },
  });
  assert.equal(pool.stats().starting, 0, 'nothing started while mayStart says no');
  assert.equal(pool.take(), null, 'take still never waits');
  await until(() => pool.stats().deferred >= 2, 'the pool asked again without being poked');
  assert.equal(m.state.calls, 0);
  allow = true;
  await until(() => m.waiting.length === 1, 'one creation once allowed');
  assert.equal(pool.stats().starting, 1, 'the second waits: mayStart was told one is starting');
  assert.ok(asked.includes(1), 'mayStart saw the count of members starting');
  m.waiting.shift()!();
  await until(() => m.waiting.length === 1, 'the second starts once the first settled');
  m.state.instant = true;
  m.waiting.shift()!();
  await filled(pool, 2);
  allow = false;
  assert.ok(pool.take(), 'a member is handed out whatever mayStart says');
  await until(() => pool.stats().deferred >= 3, 'its replacement is deferred');
  assert.equal(pool.stats().idle, 1);
  await pool.drain();
  const callsAtDrain = m.state.calls;
  allow = true;
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(m.state.calls, callsAtDrain, 'a drained pool never starts a deferred creation');
});

void test('a mayStart that throws counts as yes: the pool is never held back by its own policy failing', async () => {
  const m = members();
  const pool = createWarmPool({ size: 1, create: m.create, destroy: m.destroy, mayStart: () => { throw new Error('policy broke'); } });
  await filled(pool, 1);
  await pool.drain();
});
