/**
 * Nodes that a tree has dispatched but no worker has started yet. The workflow marks a node
 * RUNNING when it schedules the node's activity; whether a worker took it is known only to the
 * server. When every worker slot on the task queue is busy (the worker's cap,
 * `RAGOMICS_MAX_CONCURRENT_NODES`, is below what the trees ask for), such nodes wait, and a
 * status read from the workflow alone would show them as running. Here the client merges the
 * workflow's pending activities (`describe()`, no history read) into the status: each node
 * activity's id names its node (common/activity-ids.ts), and its state says SCHEDULED (waiting)
 * or STARTED (a worker runs it).
 */
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { nodeIdOfActivity } from '../common/activity-ids';
import type { NodeStatus, TreeStatus } from '../workflows/views';

const { PendingActivityState } = temporal.api.enums.v1;
type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;
type Timestamp = temporal.api.workflow.v1.IPendingActivityInfo['scheduledTime'];

/** Why a dispatched node has not started yet. */
export interface NodeWait {
  /**
   * `worker-slot`: the activity is scheduled and no worker has taken it: every slot of the
   * workers polling its task queue is busy, or none polls it. `retry-backoff`: a failed
   * attempt is to be retried and Temporal waits out the retry delay first.
   */
  kind: 'worker-slot' | 'retry-backoff';
  /** Task queue the node's activity waits on. */
  taskQueue: string;
  /** When the current attempt was scheduled (ISO-8601). */
  since: string;
  /** With `retry-backoff`: when the next attempt is scheduled (ISO-8601). */
  until?: string;
  /** Temporal's attempt number of the activity that waits (1 for the first). */
  attempt: number;
  /** One line for people, naming the task queue and what to do. */
  reason: string;
}

/** A node of the status, with why it waits when it was dispatched but has not started. */
export interface LiveNodeStatus extends NodeStatus {
  /** Set while the node is RUNNING in the workflow's view but no worker has started it. */
  waitingFor?: NodeWait;
}

/** The tree's status with the server's view of its dispatched nodes merged in. */
export interface LiveTreeStatus extends Omit<TreeStatus, 'nodes'> {
  nodes: LiveNodeStatus[];
  /** RUNNING nodes that wait for a worker slot (counted in `counts.RUNNING`). */
  waitingForWorkerSlot?: number;
}

function tsToMs(ts: Timestamp): number | null {
  if (!ts?.seconds && !ts?.nanos) return null;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : (ts.seconds?.toNumber() ?? 0);
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** What the server says about one node's current activity. */
export interface NodeActivityView {
  /** Set when the node waits. */
  wait?: NodeWait;
  /** When a worker started the current attempt (ISO-8601), for a STARTED activity. */
  startedAt?: string;
}

/**
 * Reads the node activities among a workflow's pending activities. `taskQueue` is the tree's
 * own queue, used when the server does not say the activity's; `now` decides whether a retry
 * delay is still running. Activities of other kinds (callbacks) are skipped.
 */
export function nodeActivityViews(pending: readonly PendingActivity[], taskQueue: string, now = Date.now()): Map<string, NodeActivityView> {
  const out = new Map<string, NodeActivityView>();
  for (const a of pending) {
    const nodeId = a.activityId ? nodeIdOfActivity(a.activityId) : null;
    if (!nodeId) continue;
    if (a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) {
      const started = iso(tsToMs(a.lastStartedTime));
      out.set(nodeId, started ? { startedAt: started } : {});
      continue;
    }
    if (a.state !== PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED) continue;
    const queue = a.activityOptions?.taskQueue?.name || taskQueue;
    const attempt = a.attempt ?? 1;
    const next = tsToMs(a.nextAttemptScheduleTime);
    const since = iso(tsToMs(a.scheduledTime)) ?? new Date(now).toISOString();
    if (next !== null && next > now) {
      const failure = a.lastFailure?.message ? ` after: ${a.lastFailure.message.split('\n')[0]}` : '';
      out.set(nodeId, {
        wait: {
          kind: 'retry-backoff', taskQueue: queue, since, until: new Date(next).toISOString(), attempt,
          reason: `waiting to retry: attempt ${attempt} is scheduled for ${new Date(next).toISOString()} (retry delay${failure})`,
        },
      });
      continue;
    }
    out.set(nodeId, {
      wait: {
        kind: 'worker-slot', taskQueue: queue, since, attempt,
        reason: `waiting for a worker slot on task queue "${queue}": activity scheduled, not yet started (every slot of the workers polling it is busy, or none polls it; raise RAGOMICS_MAX_CONCURRENT_NODES or add workers)`,
      },
    });
  }
  return out;
}

/**
 * Merges the server's view into a status read from the workflow: a RUNNING node whose activity
 * waits gets `waitingFor` and `startedAt: null` (it has not started); one a worker started
 * gets that start time. Nodes in other states are left as they are (the views may be a moment
 * apart). Returns a new object; `status` is not changed.
 */
export function mergeNodeActivityViews(status: TreeStatus, views: ReadonlyMap<string, NodeActivityView>): LiveTreeStatus {
  let waiting = 0;
  const nodes = status.nodes.map((n): LiveNodeStatus => {
    const v = n.state === 'RUNNING' ? views.get(n.id) : undefined;
    if (!v) return n;
    if (v.wait) {
      if (v.wait.kind === 'worker-slot') waiting++;
      return { ...n, startedAt: null, waitingFor: v.wait };
    }
    return v.startedAt ? { ...n, startedAt: v.startedAt } : n;
  });
  return { ...status, nodes, waitingForWorkerSlot: waiting };
}

/** The server's view of a running tree's node activities (one `describe()` call). */
export async function describeNodeActivities(workflow: WorkflowHandle): Promise<Map<string, NodeActivityView>> {
  const d = await workflow.describe();
  return nodeActivityViews(d.raw.pendingActivities ?? [], d.taskQueue);
}
