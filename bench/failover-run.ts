/**
 * One failover, measured: a real `ragomics worker` process (A) runs a tree (a short node, then a
 * long one), a second one (B) joins, A is SIGKILLed while the long node runs, and that node runs
 * again on B. Shared by bench/failover.ts (the sweep over
 * heartbeat and sticky settings) and test/failover.test.ts (the structural facts).
 *
 * The order makes the victim certain without racing: only A polls when the tree starts, so A
 * takes its first workflow task (the workflow is then cached on A, sticky to it) and the node; B
 * starts once the server reports the node's activity STARTED by A; A is killed once B is ready
 * and the activity is still STARTED by A (checked, not assumed: the node sleeps far longer than
 * B takes to start, and a run where it did not is an error, not a figure).
 *
 * Where the times come from: the kill is this process's clock; the lost attempt's worker, the
 * heartbeat timeout and the workflow task that learned of it are history events (server clock);
 * the new attempt's start and worker are the node's timeline entry (worker clock). Server, workers
 * and this process share a host clock here; the production stack's containers share the host's
 * kernel clock too.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import type { TimelineEntry } from '../workflows/views';
import { startWorkerProcess, type WorkerProcessHandle } from './worker-process';

const EventType = temporal.api.enums.v1.EventType;
const PendingState = temporal.api.enums.v1.PendingActivityState;

/** What one failover run is given. */
export interface FailoverRunOptions {
  address: string;
  namespace?: string;
  /** The run's own task queue (only A and B poll it). */
  taskQueue: string;
  /** The tree's `heartbeatTimeout`, seconds; unset: the spec's default. */
  heartbeatTimeoutS?: number;
  /** The workers' RAGOMICS_STICKY_TIMEOUT, seconds; unset: the worker's default. */
  stickyTimeoutS?: number;
  /** The workers' RAGOMICS_HEARTBEAT_INTERVAL, seconds; unset: the worker's default. */
  heartbeatIntervalS?: number;
  /** How long the node sleeps (each attempt). Must leave room for B to start before it ends. @default 30 */
  nodeSeconds?: number;
  /** Folder for the workspace and the workers' logs. @default a new temporary folder */
  dir?: string;
  /** Bound of every wait (worker start, node running, tree end after the kill). @default 180000 */
  waitMs?: number;
}

/** What a run keeps of one timeline entry. */
export type AttemptFacts = Pick<TimelineEntry, 'attempt' | 'state' | 'worker' | 'queued' | 'started' | 'ended' | 'error'>;

/** What one failover run measured, and the facts a test asserts. */
export interface FailoverRun {
  treeId: string;
  workerA: string;
  workerB: string;
  /** Kill → the server timed the lost attempt out (history ActivityTaskTimedOut), ms. */
  detectMs: number;
  /** The timeout type Temporal recorded (HEARTBEAT expected). */
  timeoutType: string;
  /** Kill → the workflow task that learned of the timeout started on a live worker, ms. */
  workflowTaskMs: number;
  /** Worker identity that took that workflow task. */
  workflowTaskWorker: string;
  /** True when that task first waited on A's sticky queue and timed out there. */
  stickyTimedOut: boolean;
  /** Kill → the node's new attempt started on B (worker clock), ms: the failover time. */
  failoverMs: number;
  /** Kill → the tree ended (the workflow's close time), ms. */
  treeEndMs: number;
  /** The long node's timeline entries (attempt, state, worker). */
  attempts: AttemptFacts[];
  /** Timeline entries of `first`, the short node that completed on A before the long one started. */
  firstAttempts: AttemptFacts[];
  /** Worker identity of the activity attempt that timed out (history ActivityTaskStarted). */
  lostAttemptWorker: string;
  /** The tree's final state. */
  treeState: string;
  /** The history's activity events, one line each (what a failed assertion prints). */
  activityEvents: string[];
  /** The last lines of both workers' logs (what a failed assertion prints). */
  workerLogs: string;
  /** The run's folder (workspace, worker logs). */
  dir: string;
}

const tsMs = (t: temporal.api.history.v1.IHistoryEvent['eventTime']): number => (t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN);

async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const ACTIVITY_EVENTS = new Set<number>([
  EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
  EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
]);

/** One line per activity (and workflow task) event: id, type, time after the kill, identity, activity id, timeout type. */
function activityEvents(events: temporal.api.history.v1.IHistoryEvent[], killAt: number): string[] {
  return events.filter((e) => ACTIVITY_EVENTS.has(e.eventType ?? 0)).map((e) => {
    const name = (EventType[e.eventType ?? 0] ?? '?').replace(/^EVENT_TYPE_/, '');
    const extra = [
      e.activityTaskScheduledEventAttributes?.activityId,
      e.activityTaskStartedEventAttributes?.identity,
      e.activityTaskStartedEventAttributes ? `attempt ${e.activityTaskStartedEventAttributes.attempt}` : undefined,
      e.workflowTaskStartedEventAttributes?.identity,
      e.activityTaskTimedOutEventAttributes ? `scheduled ${e.activityTaskTimedOutEventAttributes.scheduledEventId} ${temporal.api.enums.v1.TimeoutType[e.activityTaskTimedOutEventAttributes.failure?.timeoutFailureInfo?.timeoutType ?? 0]}` : undefined,
    ].filter(Boolean).join(' ');
    return `  ${e.eventId} ${name} ${tsMs(e.eventTime) - killAt} ${extra}`;
  });
}

/** The last 40 lines of a worker's log, headed by its id. */
function logTail(w: WorkerProcessHandle): string {
  let text = '';
  try {
    text = readFileSync(w.logFile, 'utf8');
  } catch {
    text = '(no log)';
  }
  return `--- ${w.workerId} (${w.logFile}), last lines:\n${text.split('\n').slice(-40).join('\n')}`;
}

/** The node's activity as the server sees it (state and the identity of the worker that started it). */
async function pendingNode(tree: TreeHandle): Promise<{ started: boolean; worker: string } | null> {
  const d = await tree.workflow.describe();
  const p = (d.raw.pendingActivities ?? [])[0];
  if (!p) return null;
  return { started: p.state === PendingState.PENDING_ACTIVITY_STATE_STARTED, worker: p.lastWorkerIdentity ?? '' };
}

/** Runs one failover (see the module comment); every process it started is gone when it returns or throws. */
export async function runFailover(opts: FailoverRunOptions): Promise<FailoverRun> {
  const nodeSeconds = opts.nodeSeconds ?? 30;
  const waitMs = opts.waitMs ?? 180_000;
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'ragomics-failover-'));
  const tag = `${opts.taskQueue}`;
  const common = {
    address: opts.address, namespace: opts.namespace, taskQueue: opts.taskQueue, workspace: path.join(dir, 'ws'), logDir: dir,
    stickyTimeoutSeconds: opts.stickyTimeoutS, heartbeatIntervalSeconds: opts.heartbeatIntervalS, readyTimeoutMs: waitMs,
  };
  const workerA = `${tag}-A`;
  const workerB = `${tag}-B`;
  const treeId = `${tag}-tree`;
  let a: WorkerProcessHandle | undefined;
  let b: WorkerProcessHandle | undefined;
  let client: RagomicsClient | undefined;
  let tree: TreeHandle | undefined;
  try {
    a = startWorkerProcess({ ...common, workerId: workerA });
    await a.ready;
    client = await RagomicsClient.connect({ address: opts.address, namespace: opts.namespace, taskQueue: opts.taskQueue });
    // `first` ends before `long` starts: a node finished before the kill, which must not run again.
    tree = await client.startTree({
      id: treeId, jobTimeout: nodeSeconds * 10, ...(opts.heartbeatTimeoutS === undefined ? {} : { heartbeatTimeout: opts.heartbeatTimeoutS }),
      nodes: [
        { id: 'first', block: { name: 'sleep', parameters: { seconds: 0.2 } } },
        { id: 'long', parentId: 'first', block: { name: 'sleep', parameters: { seconds: nodeSeconds } } },
      ],
    });
    const t = tree;
    await until('the node\'s activity STARTED by worker A', async () => {
      const p = await pendingNode(t);
      return p?.started && p.worker === workerA;
    }, waitMs);
    b = startWorkerProcess({ ...common, workerId: workerB });
    await b.ready;
    const before = await pendingNode(t);
    if (!before?.started || before.worker !== workerA) {
      throw new Error(`the node was no longer running on ${workerA} when ${workerB} was ready (${JSON.stringify(before)}): raise the node's seconds (${nodeSeconds}) above worker start-up time`);
    }
    const killAt = Date.now();
    a.kill('SIGKILL');
    await a.waitExit(30_000);
    const result = await Promise.race([
      t.result(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`tree ${treeId} did not end within ${waitMs} ms of the kill`)), waitMs).unref()),
    ]);
    const desc = await t.workflow.describe();
    const treeEndMs = (desc.closeTime?.getTime() ?? Date.now()) - killAt;
    const timeline = await t.timeline();
    const pick = (node: string): AttemptFacts[] => timeline.filter((e) => e.node === node).map(({ attempt, state, worker, queued, started, ended, error }) => ({ attempt, state, worker, queued, started, ended, error }));
    const attempts = pick('long');

    const events = (await t.workflow.fetchHistory()).events ?? [];
    const timedOutIdx = events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
    if (timedOutIdx < 0) throw new Error(`tree ${treeId}: no ActivityTaskTimedOut event in its history (attempts: ${JSON.stringify(attempts)})`);
    const timedOut = events[timedOutIdx]!;
    const startedEventId = timedOut.activityTaskTimedOutEventAttributes?.startedEventId;
    const startedEvent = events.find((e) => String(e.eventId) === String(startedEventId));
    const lostAttemptWorker = startedEvent?.activityTaskStartedEventAttributes?.identity ?? '';
    const timeoutType = temporal.api.enums.v1.TimeoutType[timedOut.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType ?? 0] ?? '?';
    const after = events.slice(timedOutIdx + 1);
    const wftStarted = after.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
    const stickyTimedOut = after.slice(0, wftStarted ? after.indexOf(wftStarted) : after.length)
      .some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT);
    // The attempt that completed the node (normally the second; a run where another attempt was
    // lost on the way is reported as such by the caller, with the history that explains it).
    const rerun = attempts.find((x) => x.state === 'COMPLETED');
    if (!rerun?.started) {
      throw new Error(`tree ${treeId}: the node has no completed attempt with a start time (attempts: ${JSON.stringify(attempts)})\n`
        + `activity events, ms after the kill:\n${activityEvents(events, killAt).join('\n')}\n${[a, b].map((w) => w && logTail(w)).join('\n')}`);
    }
    return {
      treeId, workerA, workerB,
      detectMs: tsMs(timedOut.eventTime) - killAt,
      timeoutType: timeoutType.replace(/^TIMEOUT_TYPE_/, ''),
      workflowTaskMs: wftStarted ? tsMs(wftStarted.eventTime) - killAt : NaN,
      workflowTaskWorker: wftStarted?.workflowTaskStartedEventAttributes?.identity ?? '',
      stickyTimedOut,
      failoverMs: Date.parse(rerun.started) - killAt,
      activityEvents: activityEvents(events, killAt),
      workerLogs: [a, b].map((w) => logTail(w!)).join('\n'),
      treeEndMs,
      attempts,
      firstAttempts: pick('first'),
      lostAttemptWorker,
      treeState: result.state,
      dir,
    };
  } finally {
    if (tree && await tree.isRunning().catch(() => false)) await tree.workflow.terminate('failover run cleanup').catch(() => undefined);
    await client?.close();
    for (const w of [a, b]) {
      if (!w) continue;
      w.kill('SIGTERM');
      await w.waitExit(30_000).catch(() => w.kill('SIGKILL'));
    }
  }
}
