/**
 * Where a chain's handoff goes, from one workflow's history (issue 15, goal 3: profile before
 * optimising). A handoff is a node's compute end → the next node's compute start; in a chain it is
 * the sum of five phases, each between two timestamps of this machine's one clock:
 *  - `after`: compute end → ActivityTaskCompleted (the activity's own work after the node, and
 *    its completion RPC);
 *  - `server`: ActivityTaskCompleted → WorkflowTaskStarted (the server persists the completion and
 *    hands the workflow task to the worker);
 *  - `workflow`: WorkflowTaskStarted → WorkflowTaskCompleted (the worker runs the activation and
 *    answers);
 *  - `dispatch`: WorkflowTaskCompleted → the next ActivityTaskStarted (eager dispatch: ~0);
 *  - `before`: ActivityTaskStarted → the next compute start (the activity's own work before the
 *    node).
 * Pure: the caller fetches the history (`WorkflowHandle.fetchHistory()`) and gives the nodes'
 * own compute intervals in chain order.
 */
import type { temporal } from '@temporalio/proto';

/** The phases of one handoff, in milliseconds (see the module comment). */
export interface HandoffPhases { after: number; server: number; workflow: number; dispatch: number; before: number }

/** Phase names in path order. */
export const PHASES: readonly (keyof HandoffPhases)[] = ['after', 'server', 'workflow', 'dispatch', 'before'];

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const ms = (e: HistoryEvent): number => {
  const t = e.eventTime;
  if (!t) throw new Error(`history event ${String(e.eventId)} has no time`);
  return Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6;
};

/**
 * The phases of each of a chain's `intervals.length - 1` handoffs. `activityType` names the
 * chain's activity (others, e.g. a cache lookup, are ignored); the history must hold exactly one
 * scheduled, started and completed event of it per interval, in chain order, and one completed
 * workflow task after each completion but the last. Throws when it does not (a run that failed,
 * retried or was not a chain): a wrong row is never recorded.
 */
export function chainHandoffPhases(events: readonly HistoryEvent[], activityType: string, intervals: readonly { start: number; end: number }[]): HandoffPhases[] {
  const scheduled = new Set<string>();
  const started: number[] = [];
  const completed: number[] = [];
  // After each completion: the first workflow task started after it, and that task's completion.
  const tasks: { started?: number; completed?: number }[] = [];
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === activityType) scheduled.add(String(e.eventId));
    else if (e.activityTaskStartedEventAttributes && scheduled.has(String(e.activityTaskStartedEventAttributes.scheduledEventId))) started.push(ms(e));
    else if (e.activityTaskCompletedEventAttributes && scheduled.has(String(e.activityTaskCompletedEventAttributes.scheduledEventId))) {
      completed.push(ms(e));
      tasks.push({});
    } else if (e.workflowTaskStartedEventAttributes && tasks.length > 0 && tasks[tasks.length - 1]!.started === undefined) tasks[tasks.length - 1]!.started = ms(e);
    // Only a task started after the completion: one already in flight then (e.g. a signal's) is not it.
    else if (e.workflowTaskCompletedEventAttributes && tasks.length > 0 && tasks[tasks.length - 1]!.started !== undefined && tasks[tasks.length - 1]!.completed === undefined) tasks[tasks.length - 1]!.completed = ms(e);
  }
  const n = intervals.length;
  if (scheduled.size !== n || started.length !== n || completed.length !== n) {
    throw new Error(`history holds ${scheduled.size} scheduled, ${started.length} started, ${completed.length} completed "${activityType}" activities for a chain of ${n}`);
  }
  return intervals.slice(1).map((next, i) => {
    const task = tasks[i]!;
    if (task.started === undefined || task.completed === undefined) throw new Error(`no completed workflow task after node ${i} of the chain`);
    return {
      after: completed[i]! - intervals[i]!.end,
      server: task.started - completed[i]!,
      workflow: task.completed - task.started,
      dispatch: started[i + 1]! - task.completed,
      before: next.start - started[i + 1]!,
    };
  });
}
