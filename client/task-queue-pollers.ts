/**
 * Whether a worker polls a task queue, from the server's list of its pollers. Trees are read
 * (queries) and changed (updates) through their workers: without one a query fails after about
 * 30 s and an update waits until one comes, so callers that would rather fail fast ask first
 * (TreeHandle.hasWorker, and every CLI command that needs a worker).
 */
import type { WorkflowClient } from '@temporalio/client';

/**
 * A live worker opens a new long poll at least every ~70 s; the server lists pollers for minutes
 * after they are gone, so older entries count as gone.
 */
export const POLLER_FRESH_MS = 90_000;

/**
 * How often an empty poller list is asked again before it counts as "no worker", and the pause
 * between asks: a worker that started moments ago may not be listed yet (its first long poll has
 * not reached the server; seen in CI on a loaded host, where `hasWorker()` answered false for a
 * worker that then ran the tree). Only the no-worker answer pays the wait (here 2 × 300 ms).
 */
const EMPTY_LIST_ASKS = 3;
const EMPTY_LIST_PAUSE_MS = 300;

/**
 * True when at least one worker polled the workflow task queue `taskQueue` within the last
 * {@link POLLER_FRESH_MS}; an empty list is asked again ({@link EMPTY_LIST_ASKS}) before it
 * counts. Only a hint, so it never fails: a server that cannot list pollers (it is unreachable,
 * the call is denied or not implemented) answers true, and the call that follows reports what is
 * wrong.
 */
export async function hasPollers(client: WorkflowClient, taskQueue: string): Promise<boolean> {
  for (let ask = 1; ; ask++) {
    const listed = await listsFreshPoller(client, taskQueue);
    if (listed || ask >= EMPTY_LIST_ASKS) return listed;
    await new Promise((resolve) => setTimeout(resolve, EMPTY_LIST_PAUSE_MS));
  }
}

/** One ask of {@link hasPollers}. */
async function listsFreshPoller(client: WorkflowClient, taskQueue: string): Promise<boolean> {
  try {
    const res = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      // TASK_QUEUE_KIND_NORMAL and TASK_QUEUE_TYPE_WORKFLOW (numbers: @temporalio/proto is not a direct dependency).
      taskQueue: { name: taskQueue, kind: 1 },
      taskQueueType: 1,
    });
    const now = Date.now();
    return (res.pollers ?? []).some((p) => {
      const seconds = p.lastAccessTime?.seconds;
      return seconds == null || now - Number(seconds) * 1000 < POLLER_FRESH_MS;
    });
  } catch {
    return true;
  }
}
