/**
 * Unit tests of the pure TreeScheduler: readiness, ordering strategies, parallelism limits,
 * cascade cancellation, the transition table, the rebuild after continue-as-new, and scale.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { TreeScheduler, type RunOutcome, type SchedulerNode, type SchedulerNodeInput, type SchedulerOptions, type SchedulerSnapshot, type Transition } from '../../workflows/scheduler';
import { ALLOWED_TRANSITIONS, SchedulerError, isAllowedTransition } from '../../workflows/node-states';
import { DEFAULT_EXPECTED_DURATION } from '../../workflows/critical-path';
import { NODE_STATES, type NodeState, type PriorityStrategy } from '../../common/schemas';
import { prng } from '../helpers/timeline-checks';

const STRATEGIES: PriorityStrategy[] = ['depth_first', 'breadth_first', 'fifo', 'critical_path'];

function sched(over: Partial<SchedulerOptions> = {}): TreeScheduler {
  return new TreeScheduler({ strategy: 'depth_first', usePriority: true, maxParallel: 3, ...over });
}

function node(id: string, parentId: string | null = null, extra: Partial<SchedulerNodeInput> = {}): SchedulerNodeInput {
  return { id, parentId, blockKey: 'sleep', ...extra };
}

/** A copy of one node's scheduling record, or undefined. */
const get = (s: TreeScheduler, id: string): SchedulerNode | undefined => s.list().find((n) => n.id === id);
const stateOf = (s: TreeScheduler, id: string) => get(s, id)?.state;
const running = (s: TreeScheduler) => s.counts().RUNNING;
const ready = (s: TreeScheduler) => s.counts().READY;

/** What the workflow carries across continue-as-new for the scheduler (tree-state.ts): the nodes and the statistics, through JSON. */
function carried(s: TreeScheduler): SchedulerSnapshot {
  const stats = Object.entries(s.durationStats()).map(([blockKey, d]) => ({ blockKey, count: d.count, total: d.total }));
  return JSON.parse(JSON.stringify({ nodes: s.list(), stats })) as SchedulerSnapshot;
}
/** Everything observable about a scheduler, for before/after comparisons. */
const observe = (s: TreeScheduler) => ({ nodes: s.list(), counts: s.counts(), stats: s.durationStats() });

/** Starts and completes nodes until nothing is left, returning start batches. */
function drain(s: TreeScheduler): string[][] {
  const batches: string[][] = [];
  for (;;) {
    const { start } = s.next();
    if (start.length === 0) break;
    batches.push(start);
    for (const id of start) s.finish(id, 'COMPLETED');
  }
  return batches;
}

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SchedulerError, `expected SchedulerError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.name, 'SchedulerError');
    if (message) assert.match(err.message, message);
    return true;
  });
}


void describe('TreeScheduler: readiness', () => {
  void test('a root goes PENDING → WAITING → READY at once', () => {
    const s = sched();
    const t = s.addNode(node('root'));
    assert.deepEqual(t, [
      { nodeId: 'root', from: null, to: 'PENDING' },
      { nodeId: 'root', from: 'PENDING', to: 'WAITING' },
      { nodeId: 'root', from: 'WAITING', to: 'READY' },
    ]);
    assert.equal(get(s, 'root')?.state, 'READY');
    assert.equal(ready(s), 1);
  });

  void test('a child waits for its parent and becomes READY when it completes', () => {
    const s = sched();
    s.addNode(node('root'));
    const t = s.addNode(node('child', 'root'));
    assert.deepEqual(t.map((x) => x.to), ['PENDING', 'WAITING']);
    assert.equal(stateOf(s, 'child'), 'WAITING');
    assert.deepEqual(s.next().start, ['root']);
    const done = s.finish('root', 'COMPLETED', 2);
    assert.deepEqual(done, [
      { nodeId: 'root', from: 'RUNNING', to: 'COMPLETED' },
      { nodeId: 'child', from: 'WAITING', to: 'READY' },
    ]);
  });

  void test('a node added under a COMPLETED parent is READY at once', () => {
    const s = sched();
    s.addNode(node('root'));
    drain(s);
    assert.equal(s.addNode(node('late', 'root')).at(-1)?.to, 'READY');
  });

  void test('a node waits for every dependency, not just its parent', () => {
    const s = sched({ maxParallel: 10 });
    s.addNodes([node('a'), node('b'), node('c', 'a', { dependencies: ['b'] })]);
    assert.deepEqual(get(s, 'c')?.dependencies, ['a', 'b']);
    assert.deepEqual(s.next().start, ['a', 'b']);
    assert.deepEqual(s.finish('a', 'COMPLETED'), [{ nodeId: 'a', from: 'RUNNING', to: 'COMPLETED' }]);
    assert.equal(stateOf(s, 'c'), 'WAITING');
    assert.equal(s.finish('b', 'COMPLETED').at(-1)?.to, 'READY');
    assert.equal(stateOf(s, 'c'), 'READY');
  });

  void test('dependencies include the parent once; depth is 1 + the deepest dependency', () => {
    const s = sched();
    s.addNodes([node('a'), node('b', 'a'), node('c', 'b'), node('d', 'a', { dependencies: ['c', 'a', 'c'] })]);
    const d = get(s, 'd') as SchedulerNode;
    assert.deepEqual(d.dependencies, ['c', 'a']);
    assert.equal(d.depth, 3);
    assert.equal(d.seq, 3);
    assert.equal(get(s, 'a')?.depth, 0);
    assert.equal(s.depthOf('c'), 2);
    assert.equal(s.childCount('a'), 2);
    assert.equal(s.size, 4);
    assert.ok(s.has('d') && !s.has('zz'));
  });

  void test('a depth given by the caller is cross-checked', () => {
    const s = sched();
    s.addNode(node('a', null, { depth: 0 }));
    s.addNode(node('b', 'a', { depth: 1 }));
    throwsCode(() => s.addNode(node('c', 'b', { depth: 1 })), 'INVALID_ARGUMENT', /depth 1 given/);
    assert.equal(s.has('c'), false);
  });

  void test('addNode rejects duplicates, unknown and self dependencies, bad numbers — changing nothing', () => {
    const s = sched();
    s.addNode(node('a'));
    const before = observe(s);
    throwsCode(() => s.addNode(node('a')), 'DUPLICATE_NODE', /"a" already exists/);
    throwsCode(() => s.addNode(node('b', 'nope')), 'UNKNOWN_DEPENDENCY', /unknown node "nope"/);
    throwsCode(() => s.addNode(node('b', null, { dependencies: ['b'] })), 'UNKNOWN_DEPENDENCY', /depends on itself/);
    throwsCode(() => s.addNode(node('b', null, { priority: Number.NaN })), 'INVALID_ARGUMENT');
    throwsCode(() => s.addNode(node('b', null, { expectedDuration: -1 })), 'INVALID_ARGUMENT');
    assert.deepEqual(observe(s), before);
  });
});

void describe('TreeScheduler: ordering', () => {
  /**
   * Chain R → x → y completed, then READY leaves at different depths, added in order:
   * L1 (under R, depth 1), L2 (under y, depth 3), L3 (under x, depth 2), L4 (under R, depth 1).
   */
  function leaves(opts: Partial<SchedulerOptions>, extra: Record<string, Partial<SchedulerNodeInput>> = {}): TreeScheduler {
    const s = sched({ maxParallel: 10, ...opts });
    s.addNodes([node('R'), node('x', 'R'), node('y', 'x')]);
    drain(s);
    s.setMaxParallel(0);
    s.addNodes([
      node('L1', 'R', extra.L1),
      node('L2', 'y', extra.L2),
      node('L3', 'x', extra.L3),
      node('L4', 'R', extra.L4),
    ]);
    assert.equal(ready(s), 4);
    assert.deepEqual(s.next().start, [], 'maxParallel 0 starts nothing');
    s.setMaxParallel(10);
    return s;
  }

  void test('depth_first: deeper first, then insertion order', () => {
    assert.deepEqual(leaves({ strategy: 'depth_first' }).next().start, ['L2', 'L3', 'L1', 'L4']);
  });

  void test('breadth_first: shallower first, then insertion order', () => {
    assert.deepEqual(leaves({ strategy: 'breadth_first' }).next().start, ['L1', 'L4', 'L3', 'L2']);
  });

  void test('fifo: insertion order', () => {
    assert.deepEqual(leaves({ strategy: 'fifo' }).next().start, ['L1', 'L2', 'L3', 'L4']);
  });

  void test('priority comes before the strategy', () => {
    const pr = { L4: { priority: 10 }, L1: { priority: 5 }, L2: { priority: -1 } };
    assert.deepEqual(leaves({ strategy: 'depth_first' }, pr).next().start, ['L4', 'L1', 'L3', 'L2']);
    assert.deepEqual(leaves({ strategy: 'breadth_first' }, pr).next().start, ['L4', 'L1', 'L3', 'L2']);
    assert.deepEqual(leaves({ strategy: 'fifo' }, pr).next().start, ['L4', 'L1', 'L3', 'L2']);
    // Equal priorities fall through to the strategy.
    const tie = { L1: { priority: 3 }, L3: { priority: 3 } };
    assert.deepEqual(leaves({ strategy: 'depth_first' }, tie).next().start, ['L3', 'L1', 'L2', 'L4']);
  });

  void test('usePriority=false ignores priorities (strategy, then insertion order)', () => {
    const pr = { L4: { priority: 10 }, L1: { priority: 5 } };
    assert.deepEqual(leaves({ strategy: 'depth_first', usePriority: false }, pr).next().start, ['L2', 'L3', 'L1', 'L4']);
    assert.deepEqual(leaves({ strategy: 'fifo', usePriority: false }, pr).next().start, ['L1', 'L2', 'L3', 'L4']);
  });

  void test('next() starts in order but never beyond maxParallel, nor beyond limit', () => {
    const s = leaves({ strategy: 'fifo' });
    s.setMaxParallel(2);
    const first = s.next();
    assert.deepEqual(first.start, ['L1', 'L2']);
    assert.deepEqual(first.transitions, [
      { nodeId: 'L1', from: 'READY', to: 'RUNNING' },
      { nodeId: 'L2', from: 'READY', to: 'RUNNING' },
    ]);
    assert.deepEqual(s.next().start, [], 'no free slot');
    s.finish('L1', 'COMPLETED');
    assert.deepEqual(s.next().start, ['L3']);
    s.setMaxParallel(1); // lower than running: nothing stops, nothing starts
    assert.equal(running(s), 2);
    s.finish('L2', 'COMPLETED');
    assert.deepEqual(s.next().start, []);
    s.setMaxParallel(5);
    assert.deepEqual(s.next(0).start, []);
    assert.deepEqual(s.next(1).start, ['L4']);
  });

  void test("the seed's dependency example at maxParallel 2, depth_first", () => {
    const s = sched({ maxParallel: 2, strategy: 'depth_first' });
    s.addNodes([
      node('Root'),
      node('Child1', 'Root'),
      node('Child2', 'Root'),
      node('Grandchild1', 'Child1'),
      node('Grandchild2', 'Child1'),
      node('Grandchild3', 'Child2'),
    ]);
    const steps: string[][] = [];
    for (;;) {
      const { start } = s.next();
      if (start.length === 0) break;
      steps.push(start);
      for (const id of start) s.finish(id, 'COMPLETED', 1);
      assert.ok(running(s) <= 2);
    }
    assert.deepEqual(steps, [['Root'], ['Child1', 'Child2'], ['Grandchild1', 'Grandchild2'], ['Grandchild3']]);
    assert.ok(s.isQuiescent());
    assert.equal(s.counts().COMPLETED, 6);
  });

  void test('depth_first goes deep as slots free up (dives into the first finished branch)', () => {
    const s = sched({ maxParallel: 2, strategy: 'depth_first' });
    s.addNodes([node('r'), node('a', 'r'), node('b', 'r'), node('c', 'r'), node('a1', 'a')]);
    s.next();
    s.finish('r', 'COMPLETED');
    assert.deepEqual(s.next().start, ['a', 'b']);
    s.finish('a', 'COMPLETED');
    assert.deepEqual(s.next().start, ['a1'], 'a1 (depth 2) before c (depth 1)');
  });

  void test('breadth_first finishes a level before going deeper', () => {
    const s = sched({ maxParallel: 2, strategy: 'breadth_first' });
    s.addNodes([node('r'), node('a', 'r'), node('b', 'r'), node('c', 'r'), node('a1', 'a')]);
    s.next();
    s.finish('r', 'COMPLETED');
    assert.deepEqual(s.next().start, ['a', 'b']);
    s.finish('a', 'COMPLETED');
    assert.deepEqual(s.next().start, ['c'], 'c (depth 1) before a1 (depth 2)');
  });
});

void describe('TreeScheduler: critical_path', () => {
  void test('hints: the READY node heading the longest remaining chain goes first', () => {
    const s = sched({ strategy: 'critical_path', maxParallel: 0 });
    s.addNodes([
      node('p', null, { expectedDuration: 1 }),
      node('q', null, { expectedDuration: 5 }),
      node('r', null, { expectedDuration: 3 }),
      node('p1', 'p', { expectedDuration: 10 }),
      node('p2', 'p1', { expectedDuration: 0 }),
      node('r1', 'r', { expectedDuration: 2.5 }),
    ]);
    assert.equal(s.criticalPathOf('p'), 11);
    assert.equal(s.criticalPathOf('q'), 5);
    assert.equal(s.criticalPathOf('r'), 5.5);
    s.setMaxParallel(3);
    assert.deepEqual(s.next().start, ['p', 'r', 'q']);
  });

  void test('ties fall back to insertion order; priority still comes first', () => {
    const s = sched({ strategy: 'critical_path', maxParallel: 0 });
    s.addNodes([node('a', null, { expectedDuration: 2 }), node('b', null, { expectedDuration: 2 }), node('c', null, { expectedDuration: 1, priority: 1 })]);
    s.setMaxParallel(3);
    assert.deepEqual(s.next().start, ['c', 'a', 'b']);
  });

  void test('without hints: running mean of completed runs of the same block key, else 1 s', () => {
    const s = sched({ strategy: 'critical_path', maxParallel: 10 });
    s.addNodes([node('f1', null, { blockKey: 'fast' }), node('s1', null, { blockKey: 'slow' })]);
    assert.equal(s.expectedDurationOf('f1'), DEFAULT_EXPECTED_DURATION);
    assert.deepEqual(s.next().start, ['f1', 's1'], 'both 1 s: insertion order');
    s.finish('f1', 'COMPLETED', 2);
    s.finish('s1', 'COMPLETED', 30);
    assert.deepEqual(s.durationStats(), { fast: { count: 1, total: 2, mean: 2 }, slow: { count: 1, total: 30, mean: 30 } });

    s.setMaxParallel(0);
    s.addNodes([node('f2', null, { blockKey: 'fast' }), node('s2', null, { blockKey: 'slow' }), node('n1', null, { blockKey: 'new' })]);
    assert.equal(s.expectedDurationOf('s2'), 30);
    assert.equal(s.expectedDurationOf('n1'), 1);
    s.setMaxParallel(1);
    assert.deepEqual(s.next().start, ['s2']);
    s.finish('s2', 'COMPLETED', 0); // slow's mean drops to 15
    assert.equal(s.durationStats().slow?.mean, 15);
    assert.deepEqual(s.next().start, ['f2']);
  });

  void test('a changed mean reorders READY nodes already queued', () => {
    const s = sched({ strategy: 'critical_path', maxParallel: 1 });
    s.addNodes([node('warm', null, { blockKey: 'A' })]);
    s.next();
    s.addNodes([node('a', null, { blockKey: 'A' }), node('b', null, { blockKey: 'B', expectedDuration: 4 })]);
    assert.equal(s.criticalPathOf('a'), 1);
    s.finish('warm', 'COMPLETED', 9); // A's mean becomes 9: a now outranks b
    assert.equal(s.criticalPathOf('a'), 9);
    assert.deepEqual(s.next().start, ['a']);
  });

  void test('failed, timed-out and cancelled runs do not feed the mean; cancelled dependents stop counting', () => {
    const s = sched({ strategy: 'critical_path', maxParallel: 3 });
    s.addNodes([node('x', null, { blockKey: 'K' }), node('y', null, { blockKey: 'K' }), node('z', null, { blockKey: 'K' })]);
    s.next();
    s.finish('x', 'FAILED', 100, 'boom');
    s.finish('y', 'TIMEOUT', 100);
    s.finish('z', 'CANCELLED', 100);
    assert.deepEqual(s.durationStats(), {});

    const t = sched({ strategy: 'critical_path', maxParallel: 0 });
    t.addNodes([node('p', null, { expectedDuration: 1 }), node('q', null, { expectedDuration: 5 }), node('p1', 'p', { expectedDuration: 10 })]);
    assert.equal(t.criticalPathOf('p'), 11);
    t.cancel('p1', 'not needed');
    assert.equal(t.criticalPathOf('p'), 1);
    assert.equal(t.criticalPathOf('p1'), 0);
    t.setMaxParallel(1);
    assert.deepEqual(t.next().start, ['q']);
  });
});

void describe('TreeScheduler: failure and cancellation', () => {
  function chain(): TreeScheduler {
    // a → b → c → d, b → e, and f depends on e and a.
    const s = sched({ maxParallel: 5 });
    s.addNodes([node('a'), node('b', 'a'), node('c', 'b'), node('d', 'c'), node('e', 'b'), node('f', 'e', { dependencies: ['a'] })]);
    s.next();
    s.finish('a', 'COMPLETED');
    assert.deepEqual(s.next().start, ['b']);
    return s;
  }

  void test('a FAILED node cancels its dependents transitively, naming the cause and the root cause', () => {
    const s = chain();
    const t = s.finish('b', 'FAILED', 3, 'exit code 1');
    assert.deepEqual(t, [
      { nodeId: 'b', from: 'RUNNING', to: 'FAILED', reason: 'exit code 1' },
      { nodeId: 'c', from: 'WAITING', to: 'CANCELLED', reason: 'dependency "b" FAILED' },
      { nodeId: 'e', from: 'WAITING', to: 'CANCELLED', reason: 'dependency "b" FAILED' },
      { nodeId: 'd', from: 'WAITING', to: 'CANCELLED', reason: 'dependency "c" CANCELLED (root cause: "b" FAILED)' },
      { nodeId: 'f', from: 'WAITING', to: 'CANCELLED', reason: 'dependency "e" CANCELLED (root cause: "b" FAILED)' },
    ]);
    assert.deepEqual(get(s, 'd')?.rootCause, { id: 'b', state: 'FAILED' });
    assert.equal(get(s, 'b')?.reason, 'exit code 1');
    assert.ok(s.isQuiescent());
    assert.deepEqual(s.counts(), { PENDING: 0, WAITING: 0, READY: 0, RUNNING: 0, COMPLETED: 1, FAILED: 1, CANCELLED: 4, TIMEOUT: 0 });
  });

  void test('TIMEOUT cascades the same way', () => {
    const s = chain();
    const t = s.finish('b', 'TIMEOUT');
    assert.equal(t[0]?.reason, undefined);
    assert.equal(t.find((x) => x.nodeId === 'c')?.reason, 'dependency "b" TIMEOUT');
    assert.equal(t.find((x) => x.nodeId === 'd')?.reason, 'dependency "c" CANCELLED (root cause: "b" TIMEOUT)');
  });

  void test('a node added under an ended dependency is cancelled at once', () => {
    const s = chain();
    s.finish('b', 'FAILED');
    assert.deepEqual(s.addNode(node('late', 'b')), [
      { nodeId: 'late', from: null, to: 'PENDING' },
      { nodeId: 'late', from: 'PENDING', to: 'WAITING' },
      { nodeId: 'late', from: 'WAITING', to: 'CANCELLED', reason: 'dependency "b" FAILED' },
    ]);
    assert.equal(s.addNode(node('later', 'd')).at(-1)?.reason, 'dependency "d" CANCELLED (root cause: "b" FAILED)');
    // The first ended dependency in order is named, even if the parent is fine.
    assert.equal(s.addNode(node('mixed', 'a', { dependencies: ['later', 'b'] })).at(-1)?.reason, 'dependency "later" CANCELLED (root cause: "b" FAILED)');
  });

  void test('cancel: READY and WAITING nodes and their dependents; reasons name the cancelled node', () => {
    const s = sched({ maxParallel: 0 });
    s.addNodes([node('a'), node('b', 'a'), node('c', 'b')]);
    const t = s.cancel('a', 'user asked');
    assert.deepEqual(t, [
      { nodeId: 'a', from: 'READY', to: 'CANCELLED', reason: 'user asked' },
      { nodeId: 'b', from: 'WAITING', to: 'CANCELLED', reason: 'dependency "a" CANCELLED' },
      { nodeId: 'c', from: 'WAITING', to: 'CANCELLED', reason: 'dependency "b" CANCELLED (root cause: "a" CANCELLED)' },
    ]);
    assert.equal(ready(s), 0);
    s.setMaxParallel(3);
    assert.deepEqual(s.next().start, [], 'a cancelled READY node never starts');
    assert.deepEqual(s.cancel('a', 'again'), [], 'cancelling an ended node is a no-op');
  });

  void test('cancel of a WAITING node leaves its siblings alone; later completion of its parent skips it', () => {
    const s = sched({ maxParallel: 3 });
    s.addNodes([node('a'), node('b', 'a'), node('c', 'a')]);
    s.next();
    assert.deepEqual(s.cancel('b'), [{ nodeId: 'b', from: 'WAITING', to: 'CANCELLED', reason: 'cancelled' }]);
    assert.deepEqual(s.finish('a', 'COMPLETED'), [
      { nodeId: 'a', from: 'RUNNING', to: 'COMPLETED' },
      { nodeId: 'c', from: 'WAITING', to: 'READY' },
    ]);
  });

  void test('cancel of a RUNNING node does nothing; finish(CANCELLED) then cascades', () => {
    const s = sched();
    s.addNodes([node('a'), node('b', 'a')]);
    s.next();
    assert.deepEqual(s.cancel('a', 'stop'), []);
    assert.equal(stateOf(s, 'a'), 'RUNNING');
    assert.deepEqual(s.finish('a', 'CANCELLED', undefined, 'stop'), [
      { nodeId: 'a', from: 'RUNNING', to: 'CANCELLED', reason: 'stop' },
      { nodeId: 'b', from: 'WAITING', to: 'CANCELLED', reason: 'dependency "a" CANCELLED' },
    ]);
  });

  void test('cancel of an unknown node throws UNKNOWN_NODE', () => {
    throwsCode(() => sched().cancel('ghost', 'x'), 'UNKNOWN_NODE', /unknown node "ghost"/);
  });
});

void describe('TreeScheduler: transitions table and errors', () => {
  void test('ALLOWED_TRANSITIONS is the seed machine plus the workflow edges', () => {
    assert.deepEqual(Object.keys(ALLOWED_TRANSITIONS).sort(), [...NODE_STATES].sort());
    assert.deepEqual(ALLOWED_TRANSITIONS.PENDING, ['WAITING', 'CANCELLED']);
    assert.deepEqual(ALLOWED_TRANSITIONS.WAITING, ['READY', 'CANCELLED']);
    assert.deepEqual(ALLOWED_TRANSITIONS.READY, ['RUNNING', 'CANCELLED', 'WAITING']);
    assert.deepEqual(ALLOWED_TRANSITIONS.RUNNING, ['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED']);
    for (const t of ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'] as NodeState[]) assert.deepEqual(ALLOWED_TRANSITIONS[t], []);
    assert.ok(Object.isFrozen(ALLOWED_TRANSITIONS) && Object.isFrozen(ALLOWED_TRANSITIONS.READY));
    assert.ok(isAllowedTransition('RUNNING', 'TIMEOUT'));
    assert.ok(!isAllowedTransition('READY', 'COMPLETED'));
    assert.ok(!isAllowedTransition('COMPLETED', 'RUNNING'));
  });

  void test('illegal transitions throw SchedulerError and change nothing', () => {
    const s = sched();
    s.addNodes([node('a'), node('b', 'a')]);
    const before = observe(s);
    for (const outcome of ['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED'] as RunOutcome[]) {
      assert.throws(
        () => s.finish('a', outcome),
        (err: unknown) => err instanceof SchedulerError && err.code === 'ILLEGAL_TRANSITION' && err.from === 'READY' && err.to === outcome && err.nodeId === 'a',
      );
    }
    throwsCode(() => s.finish('b', 'COMPLETED'), 'ILLEGAL_TRANSITION', /illegal transition WAITING -> COMPLETED/);
    assert.deepEqual(observe(s), before);

    s.next();
    s.finish('a', 'COMPLETED');
    throwsCode(() => s.finish('a', 'COMPLETED'), 'ILLEGAL_TRANSITION', /COMPLETED -> COMPLETED/);
    throwsCode(() => s.finish('a', 'FAILED'), 'ILLEGAL_TRANSITION', /COMPLETED -> FAILED/);
  });

  void test('bad arguments throw INVALID_ARGUMENT / UNKNOWN_NODE', () => {
    const s = sched();
    s.addNode(node('a'));
    s.next();
    throwsCode(() => s.finish('zz', 'COMPLETED'), 'UNKNOWN_NODE');
    throwsCode(() => s.finish('a', 'DONE' as RunOutcome), 'INVALID_ARGUMENT');
    throwsCode(() => s.finish('a', 'COMPLETED', -1), 'INVALID_ARGUMENT');
    throwsCode(() => s.finish('a', 'COMPLETED', Number.POSITIVE_INFINITY), 'INVALID_ARGUMENT');
    assert.equal(stateOf(s, 'a'), 'RUNNING');
    throwsCode(() => s.setMaxParallel(-1), 'INVALID_ARGUMENT');
    throwsCode(() => s.setMaxParallel(1.5), 'INVALID_ARGUMENT');
    throwsCode(() => new TreeScheduler({ strategy: 'random' as PriorityStrategy, usePriority: true, maxParallel: 1 }), 'INVALID_ARGUMENT');
    throwsCode(() => s.expectedDurationOf('zz'), 'UNKNOWN_NODE');
    assert.equal(get(s, 'zz'), undefined);
  });

  void test('counts, isQuiescent and list', () => {
    const s = sched({ maxParallel: 1 });
    assert.ok(s.isQuiescent());
    s.addNodes([node('a'), node('b', 'a')]);
    assert.deepEqual(s.counts(), { PENDING: 0, WAITING: 1, READY: 1, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, TIMEOUT: 0 });
    assert.ok(!s.isQuiescent());
    s.next();
    assert.equal(running(s), 1);
    s.finish('a', 'COMPLETED');
    drain(s);
    assert.ok(s.isQuiescent());
    assert.deepEqual(s.list().map((n) => [n.id, n.state, n.seq]), [['a', 'COMPLETED', 0], ['b', 'COMPLETED', 1]]);
    const copy = s.list()[0] as SchedulerNode;
    copy.dependencies.push('x');
    copy.state = 'FAILED';
    assert.equal(stateOf(s, 'a'), 'COMPLETED', 'list returns copies');
    assert.deepEqual(get(s, 'a')?.dependencies, []);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests over random DAGs.

interface RandomTree {
  inputs: SchedulerNodeInput[];
}

function randomTree(rand: () => number, n: number): RandomTree {
  const inputs: SchedulerNodeInput[] = [];
  const keys = ['qc', 'pca', 'umap', 'leiden', 'inline:abc'];
  for (let i = 0; i < n; i++) {
    const id = `n${i}`;
    const isRoot = i === 0 || rand() < 0.05;
    const parentId = isRoot ? null : `n${Math.floor(rand() * i)}`;
    const deps: string[] = [];
    if (!isRoot && rand() < 0.3) {
      const extra = 1 + Math.floor(rand() * 3);
      for (let k = 0; k < extra; k++) deps.push(`n${Math.floor(rand() * i)}`);
    }
    inputs.push({
      id,
      parentId,
      dependencies: deps,
      priority: rand() < 0.3 ? Math.floor(rand() * 4) : 0,
      blockKey: keys[Math.floor(rand() * keys.length)] as string,
      ...(rand() < 0.3 ? { expectedDuration: Math.floor(rand() * 20) } : {}),
    });
  }
  return { inputs };
}

/** Independent, brute-force reference of the READY order, from public data only. */
function referenceOrder(s: TreeScheduler, opts: SchedulerOptions): string[] {
  const all = s.list();
  const byId = new Map(all.map((n) => [n.id, n]));
  const dependents = new Map<string, string[]>();
  for (const n of all) for (const d of n.dependencies) (dependents.get(d) ?? dependents.set(d, []).get(d) as string[]).push(n.id);
  const stats = s.durationStats();
  const terminal = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT']);
  const memo = new Map<string, number>();
  const cp = (id: string): number => {
    const hit = memo.get(id);
    if (hit !== undefined) return hit;
    const n = byId.get(id) as SchedulerNode;
    const exp = n.expectedDuration ?? stats[n.blockKey]?.mean ?? 1;
    let longest = 0;
    for (const d of dependents.get(id) ?? []) if (!terminal.has((byId.get(d) as SchedulerNode).state)) longest = Math.max(longest, cp(d));
    memo.set(id, exp + longest);
    return exp + longest;
  };
  const ready = all.filter((n) => n.state === 'READY');
  ready.sort((a, b) => {
    if (opts.usePriority && a.priority !== b.priority) return b.priority - a.priority;
    if (opts.strategy === 'depth_first' && a.depth !== b.depth) return b.depth - a.depth;
    if (opts.strategy === 'breadth_first' && a.depth !== b.depth) return a.depth - b.depth;
    if (opts.strategy === 'critical_path') {
      const ca = cp(a.id);
      const cb = cp(b.id);
      if (ca !== cb) return cb - ca;
    }
    return a.seq - b.seq;
  });
  return ready.map((n) => n.id);
}

/**
 * Runs a random tree to the end: random completion order, random outcomes, nodes added while
 * running, occasional cancels and rebuilds (continue-as-new). Checks every invariant after every step.
 */
function simulate(seed: number, opts: SchedulerOptions, n: number, checkOrder: boolean): TreeScheduler {
  // `checkOrder` compares every start batch with a brute-force reference order.
  const rand = prng(seed);
  const { inputs } = randomTree(rand, n);
  let s = new TreeScheduler(opts);
  const states = new Map<string, NodeState>();
  const applyAll = (ts: Transition[]): void => {
    for (const t of ts) {
      assert.equal(t.from, states.get(t.nodeId) ?? null, `transition of ${t.nodeId} from its current state`);
      if (t.from !== null) assert.ok(isAllowedTransition(t.from, t.to), `${t.from} -> ${t.to}`);
      states.set(t.nodeId, t.to);
    }
  };
  let added = 0;
  const addSome = (k: number): void => {
    for (let i = 0; i < k && added < inputs.length; i++) applyAll(s.addNode(inputs[added++] as SchedulerNodeInput));
  };
  addSome(Math.ceil(n / 3));
  const running: string[] = [];
  let guard = 0;
  for (;;) {
    assert.ok(guard++ < n * 20, 'simulation terminates');
    const expected = checkOrder ? referenceOrder(s, opts) : [];
    const { start, transitions } = s.next();
    applyAll(transitions);
    if (checkOrder) assert.deepEqual(start, expected.slice(0, start.length), 'starts follow the reference order');
    for (const id of start) {
      const rec = get(s, id) as SchedulerNode;
      for (const d of rec.dependencies) assert.equal(stateOf(s, d), 'COMPLETED', `${id} started before ${d} completed`);
      running.push(id);
    }
    assert.ok(s.counts().RUNNING <= opts.maxParallel, 'running ≤ maxParallel');
    assert.equal(s.counts().RUNNING, running.length);
    if (s.counts().READY > 0) assert.equal(s.counts().RUNNING, opts.maxParallel, 'no READY node waits while a slot is free');
    const counts = s.counts();
    for (const st of NODE_STATES) assert.equal(counts[st], [...states.values()].filter((x) => x === st).length, `count of ${st}`);

    if (running.length === 0) {
      if (added < inputs.length) {
        addSome(1 + Math.floor(rand() * 10));
        continue;
      }
      break;
    }
    // End one random running node.
    const idx = Math.floor(rand() * running.length);
    const id = running.splice(idx, 1)[0] as string;
    const r = rand();
    {
      const outcome: RunOutcome = r < 0.9 ? 'COMPLETED' : r < 0.95 ? 'FAILED' : r < 0.97 ? 'TIMEOUT' : 'CANCELLED';
      const ts = s.finish(id, outcome, Math.floor(rand() * 30));
      applyAll(ts);
      if (outcome !== 'COMPLETED') {
        for (const t of ts.slice(1)) {
          assert.equal(t.to, 'CANCELLED');
          assert.match(t.reason ?? '', /^dependency "[^"]+" (FAILED|TIMEOUT|CANCELLED)( \(root cause: "[^"]+" (FAILED|TIMEOUT|CANCELLED)\))?$/);
        }
      }
    }
    if (rand() < 0.3) addSome(1 + Math.floor(rand() * 5));
    // Now and then carry the scheduler across a (simulated) continue-as-new: the reference
    // order check above then also covers restored schedulers.
    if (rand() < 0.05) s = TreeScheduler.restore(carried(s), opts);
    if (rand() < 0.02) {
      const victim = `n${Math.floor(rand() * added)}`;
      if (stateOf(s, victim) !== 'RUNNING') applyAll(s.cancel(victim, 'user'));
    }
  }
  assert.ok(s.isQuiescent());
  assert.equal(s.size, n);
  return s;
}

void describe('TreeScheduler: properties over random DAGs', () => {
  for (const strategy of STRATEGIES) {
    for (const usePriority of [true, false]) {
      void test(`${strategy}, usePriority=${usePriority}: deps respected, limit kept, no idle slot, reference order`, () => {
        for (let seed = 1; seed <= 12; seed++) {
          const maxParallel = 1 + (seed % 5);
          simulate(seed * 7919 + STRATEGIES.indexOf(strategy), { strategy, usePriority, maxParallel }, 60 + seed * 5, true);
        }
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Rebuild after continue-as-new

void describe('TreeScheduler: restore (continue-as-new)', () => {
  void test('a restored scheduler makes the same decisions (lockstep, every strategy)', () => {
    for (const strategy of STRATEGIES) {
      const opts: SchedulerOptions = { strategy, usePriority: true, maxParallel: 3 };
      const rand = prng(42 + STRATEGIES.indexOf(strategy));
      const { inputs } = randomTree(rand, 120);
      const a = new TreeScheduler(opts);
      a.addNodes(inputs.slice(0, 80));
      const running: string[] = [];
      // Run a while, then snapshot mid-flight with nodes RUNNING, READY, WAITING and ended.
      for (let i = 0; i < 30; i++) {
        running.push(...a.next().start);
        if (running.length === 0) break;
        const id = running.splice(Math.floor(rand() * running.length), 1)[0] as string;
        a.finish(id, rand() < 0.9 ? 'COMPLETED' : 'FAILED', Math.floor(rand() * 20));
      }
      running.push(...a.next().start);
      const b = TreeScheduler.restore(carried(a), opts);
      assert.deepEqual(observe(b), observe(a), 'round trip');
      assert.deepEqual(b.counts(), a.counts());
      assert.deepEqual(b.durationStats(), a.durationStats());
      assert.equal(b.size, a.size);

      let added = 80;
      for (;;) {
        if (added < inputs.length && rand() < 0.3) {
          const inp = inputs[added++] as SchedulerNodeInput;
          assert.deepEqual(b.addNode(inp), a.addNode(inp));
        }
        const sa = a.next();
        const sb = b.next();
        assert.deepEqual(sb, sa, `${strategy}: same starts`);
        running.push(...sa.start);
        if (running.length === 0) {
          if (added >= inputs.length) break;
          continue;
        }
        const id = running.splice(Math.floor(rand() * running.length), 1)[0] as string;
        const outcome: RunOutcome = rand() < 0.9 ? 'COMPLETED' : 'TIMEOUT';
        const d = Math.floor(rand() * 20);
        assert.deepEqual(b.finish(id, outcome, d), a.finish(id, outcome, d));
      }
      assert.deepEqual(observe(b), observe(a));
      assert.ok(a.isQuiescent() && b.isQuiescent());
    }
  });

  void test('restore takes new options (e.g. a changed maxParallel)', () => {
    const a = sched({ maxParallel: 1 });
    a.addNodes([node('a'), node('b'), node('c')]);
    a.next();
    const b = TreeScheduler.restore(carried(a), { strategy: 'fifo', usePriority: true, maxParallel: 3 });
    assert.equal(running(b), 1);
    assert.deepEqual(b.next().start, ['b', 'c']);
    assert.equal(b.addNode(node('d')).length, 3);
    assert.equal(get(b, 'd')?.seq, 3);
  });

  void test('restore refuses a dependency on a later node, naming it', () => {
    const a = sched();
    a.addNodes([node('a'), node('b', 'a')]);
    const snap = carried(a);
    snap.nodes.reverse();
    throwsCode(() => TreeScheduler.restore(snap, { strategy: 'fifo', usePriority: true, maxParallel: 1 }), 'INVALID_ARGUMENT', /node "b" depends on "a", which is not an earlier node/);
  });
});

// ---------------------------------------------------------------------------------------------
// Scale

void describe('TreeScheduler: scale', () => {
  void test('5,000+ nodes with thousands READY: every strategy finishes quickly', () => {
    for (const strategy of STRATEGIES) {
      const t0 = performance.now();
      const s = new TreeScheduler({ strategy, usePriority: true, maxParallel: 8 });
      const rand = prng(7);
      // 5 roots with 2,000 children between them (2,000 READY at once), then a deeper part
      // (two children per node), plus some cross dependencies.
      const n = 6000;
      const inputs: SchedulerNodeInput[] = [];
      for (let i = 0; i < n; i++) {
        const parent = i < 5 ? null : i < 2005 ? `n${i % 5}` : `n${5 + Math.floor((i - 2005) / 2)}`;
        const deps = i > 100 && rand() < 0.1 ? [`n${Math.floor(rand() * (i - 50))}`] : [];
        inputs.push({ id: `n${i}`, parentId: parent, dependencies: deps, priority: Math.floor(rand() * 3), blockKey: `k${i % 7}` });
      }
      s.addNodes(inputs);
      const running: string[] = [];
      let maxReady = 0;
      let guard = 0;
      for (;;) {
        running.push(...s.next().start);
        maxReady = Math.max(maxReady, ready(s));
        if (running.length === 0) break;
        const id = running.splice(Math.floor(rand() * running.length), 1)[0] as string;
        s.finish(id, 'COMPLETED', rand() * 10);
        assert.ok(guard++ <= n);
      }
      const ms = performance.now() - t0;
      assert.equal(s.counts().COMPLETED, n);
      assert.ok(maxReady > 1000, `many READY at once (${maxReady})`);
      console.log(`  scheduler scale: ${strategy}: ${n} nodes, up to ${maxReady} READY, ${ms.toFixed(0)} ms`);
    }
  });

  void test('a 5,000-node chain: no recursion limits, cascade cancels all', () => {
    const s = sched({ strategy: 'critical_path' });
    const n = 5000;
    for (let i = 0; i < n; i++) s.addNode(node(`c${i}`, i === 0 ? null : `c${i - 1}`));
    assert.equal(get(s, `c${n - 1}`)?.depth, n - 1);
    assert.equal(s.criticalPathOf('c0'), n);
    assert.deepEqual(s.next().start, ['c0']);
    const t = s.finish('c0', 'FAILED');
    assert.equal(t.length, n);
    assert.equal(t.at(-1)?.reason, `dependency "c${n - 2}" CANCELLED (root cause: "c0" FAILED)`);
  });
});
