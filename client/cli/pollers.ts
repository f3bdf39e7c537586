/**
 * Whether a worker polls a tree's task queue. Queries (status, timeline, summary) are answered
 * by workers, also for ended trees: without one a query hangs for about 30 s and then fails, so
 * the CLI checks first and says what to start instead.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { NoWorkerError, ServiceUnavailableError, TreeFinishedError, TreeNotFoundError } from '../errors';
import { wrapServiceError } from '../service-errors';
import { hasPollers } from '../task-queue-pollers';
import { TREE_WORKFLOW_TYPE, type RagomicsClient, type TreeHandle } from '../sdk';

/** True when at least one worker polled the task queue recently (see {@link hasPollers}). */
export function hasWorkers(rc: RagomicsClient, taskQueue: string): Promise<boolean> {
  return hasPollers(rc.client.workflow, taskQueue);
}

/** The task queue a tree runs on. @throws TreeNotFoundError for an unknown id or a workflow that is not a tree. */
export async function treeTaskQueue(tree: TreeHandle): Promise<string> {
  return (await describeTree(tree)).taskQueue;
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

/** What a steering command learns of a tree before it changes it (one `describe` call). */
export interface SteeredTree {
  tree: TreeHandle;
  /** The tree's workflow is running (its latest run). */
  running: boolean;
  taskQueue: string;
}

/**
 * The tree `treeId`, checked before a command changes it: it exists, and its workflow is a tree.
 * Signals (pause, resume, cancel) reach any running workflow, so an id that names another kind
 * of workflow (a key lease, another application's) is refused rather than signalled.
 * @throws TreeNotFoundError for an unknown id or a workflow that is not a tree.
 */
export async function steeredTree(rc: RagomicsClient, treeId: string): Promise<SteeredTree> {
  return describeTree(rc.getTree(treeId));
}

async function describeTree(tree: TreeHandle): Promise<SteeredTree> {
  const treeId = tree.treeId;
  let d;
  try {
    d = await tree.workflow.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new TreeNotFoundError(`no tree with id "${treeId}"`, { cause: err });
    throw wrapServiceError(err);
  }
  if (d.type !== TREE_WORKFLOW_TYPE) throw new TreeNotFoundError(`no tree with id "${treeId}" (that id is a workflow of type ${d.type}, not a tree)`);
  return { tree, running: d.status.name === 'RUNNING', taskQueue: d.taskQueue };
}

/**
 * For changes a worker must apply while the caller waits (updates: add, add-samples,
 * parallelism, cancel --node): the tree is running and a worker polls its task queue. An update
 * waits for a worker: without this check the command would wait for ever.
 * @throws TreeFinishedError for an ended tree; NoWorkerError when no worker polls its queue.
 */
export async function changeableTree(rc: RagomicsClient, treeId: string): Promise<TreeHandle> {
  const t = await steeredTree(rc, treeId);
  if (!t.running) throw TreeFinishedError.of(treeId);
  if (!(await hasWorkers(rc, t.taskQueue))) {
    throw new NoWorkerError(`no worker is polling task queue "${t.taskQueue}", which applies changes to tree ${treeId}; nothing was changed; ${startWorkerHint(t.taskQueue)}`);
  }
  return t.tree;
}
