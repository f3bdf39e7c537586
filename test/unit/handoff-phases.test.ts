/**
 * bench/handoff-phases.ts: a chain's handoffs split into phases from a history's event times and
 * the nodes' own stamps; other activities are ignored, and a history that is not one clean chain
 * is refused rather than turned into a row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainHandoffPhases, PHASES } from '../../bench/handoff-phases';

type Ev = Parameters<typeof chainHandoffPhases>[0][number];
let id = 0;
// Event ids and seconds are Longs in the SDK's types; the module reads them with Number(), as a plain number reads.
const ev = (fields: Record<string, unknown>): Ev => fields as Ev;
const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
const scheduled = (type: string, ms: number): Ev => ev({ eventId: ++id, eventTime: at(ms), activityTaskScheduledEventAttributes: { activityType: { name: type } } });
const started = (sched: Ev, ms: number): Ev => ev({ eventId: ++id, eventTime: at(ms), activityTaskStartedEventAttributes: { scheduledEventId: sched.eventId } });
const completed = (sched: Ev, ms: number): Ev => ev({ eventId: ++id, eventTime: at(ms), activityTaskCompletedEventAttributes: { scheduledEventId: sched.eventId } });
const wftStarted = (ms: number): Ev => ev({ eventId: ++id, eventTime: at(ms), workflowTaskStartedEventAttributes: {} });
const wftCompleted = (ms: number): Ev => ev({ eventId: ++id, eventTime: at(ms), workflowTaskCompletedEventAttributes: {} });

/** A chain of two nodes at base time 10 000 ms, with a foreign activity in between when asked. */
function twoNodeChain(withLookup: boolean): Ev[] {
  const a = scheduled('runNode', 10_000);
  const events: Ev[] = [wftStarted(9_990), wftCompleted(9_995), a, started(a, 10_000), completed(a, 10_010), wftStarted(10_012), wftCompleted(10_017)];
  if (withLookup) {
    const l = scheduled('lookupCache', 10_017);
    events.push(l, started(l, 10_017), completed(l, 10_018), wftStarted(10_019), wftCompleted(10_020));
  }
  const b = scheduled('runNode', 10_017);
  events.push(b, started(b, 10_017), completed(b, 10_030));
  return events;
}

void test('handoff phases: one handoff split into its five phases, summing to the handoff', () => {
  // Node 1 computes 10 001–10 008, node 2 from 10 020.
  const [p, ...rest] = chainHandoffPhases(twoNodeChain(false), 'runNode', [{ start: 10_001, end: 10_008 }, { start: 10_020, end: 10_025 }]);
  assert.equal(rest.length, 0);
  assert.deepEqual(p, { after: 2, server: 2, workflow: 5, dispatch: 0, before: 3 });
  assert.equal(PHASES.reduce((a, k) => a + p![k], 0), 10_020 - 10_008);
});

void test('handoff phases: activities of another type are not nodes of the chain', () => {
  const phases = chainHandoffPhases(twoNodeChain(true), 'runNode', [{ start: 10_001, end: 10_008 }, { start: 10_020, end: 10_025 }]);
  assert.equal(phases.length, 1);
  // The workflow task right after the node's completion counts, not the one after the lookup.
  assert.equal(phases[0]!.workflow, 5);
});

void test('handoff phases: a workflow task already in flight when a node completes is not that handoff\'s', () => {
  const a = scheduled('runNode', 10_000);
  const b = scheduled('runNode', 10_017);
  // A signal's task started at 10 009, before node 1 completed at 10 010, and completed at 10 011.
  const events = [wftStarted(9_990), wftCompleted(9_995), a, started(a, 10_000), wftStarted(10_009), completed(a, 10_010), wftCompleted(10_011), wftStarted(10_012), wftCompleted(10_017), b, started(b, 10_017), completed(b, 10_030)];
  const [p] = chainHandoffPhases(events, 'runNode', [{ start: 10_001, end: 10_008 }, { start: 10_020, end: 10_025 }]);
  assert.deepEqual(p, { after: 2, server: 2, workflow: 5, dispatch: 0, before: 3 });
});

void test('handoff phases: a history that is not the chain asked for is refused', () => {
  assert.throws(() => chainHandoffPhases(twoNodeChain(false), 'runNode', [{ start: 1, end: 2 }, { start: 3, end: 4 }, { start: 5, end: 6 }]), /2 scheduled, 2 started, 2 completed "runNode" activities for a chain of 3/);
  assert.throws(() => chainHandoffPhases(twoNodeChain(false), 'noop', [{ start: 1, end: 2 }, { start: 3, end: 4 }]), /0 scheduled/);
  const noTask = twoNodeChain(false).filter((e) => !e.workflowTaskCompletedEventAttributes || Number(e.eventId) < 5);
  assert.throws(() => chainHandoffPhases(noTask, 'runNode', [{ start: 10_001, end: 10_008 }, { start: 10_020, end: 10_025 }]), /no completed workflow task after node 0/);
});
