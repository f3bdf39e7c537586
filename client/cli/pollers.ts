/**
 * Whether a worker polls a tree's task queue. Queries (status, timeline, summary) are answered
 * by workers, also for ended trees: without one a query hangs for about 30 s and then fails, so
 * the CLI checks first and says what to start instead.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { ServiceUnavailableError, TreeNotFoundError } from '../errors';
import { wrapServiceError } from '../service-errors';
import type { RagomicsClient, TreeHandle } from '../sdk';

/**
 * A live worker opens a new long poll at least every ~70 s; the server lists pollers for minutes
 * after they are gone, so older entries count as gone.
 */
const POLLER_FRESH_MS = 90_000;

/** True when at least one worker polled the task queue recently. */
export async function hasWorkers(rc: RagomicsClient, taskQueue: string): Promise<boolean> {
  try {
    const res = await rc.client.workflowService.describeTaskQueue({
      namespace: rc.client.options.namespace,
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
    // Only a hint: never fail a command because of it.
    return true;
  }
}

/** The task queue a tree runs on. @throws TreeNotFoundError */
export async function treeTaskQueue(tree: TreeHandle): Promise<string> {
  try {
    return (await tree.workflow.describe()).taskQueue;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new TreeNotFoundError(`no tree with id "${tree.treeId}"`, { cause: err });
    throw wrapServiceError(err);
  }
}

/** How to start a worker for `taskQueue`, for messages. */
export function startWorkerHint(taskQueue: string): string {
  return `start one with \`ragomics worker --task-queue ${taskQueue}\` (or \`ragomics dev\`)`;
}

/**
 * Returns the tree once a worker can answer its queries.
 * @throws TreeNotFoundError for an unknown id; ServiceUnavailableError when no worker polls its task queue.
 */
export async function queryableTree(rc: RagomicsClient, treeId: string): Promise<TreeHandle> {
  const tree = rc.getTree(treeId);
  const taskQueue = await treeTaskQueue(tree);
  if (!(await hasWorkers(rc, taskQueue))) {
    throw new ServiceUnavailableError(`no worker is polling task queue "${taskQueue}", and tree ${treeId} is read through its workers; ${startWorkerHint(taskQueue)}`);
  }
  return tree;
}

/** Waits (polling every 2 s) until a worker polls `taskQueue`; `onWait` is called once if it has to wait. */
export async function waitForWorker(rc: RagomicsClient, taskQueue: string, onWait: () => void): Promise<void> {
  let told = false;
  while (!(await hasWorkers(rc, taskQueue))) {
    if (!told) onWait();
    told = true;
    await new Promise((r) => setTimeout(r, 2000));
  }
}
