/**
 * Decides which of this system's containers are orphans at worker start: a container is still
 * live only when its tree's workflow has a started activity for it, run by the worker named in
 * the container's labels. Everything else (the worker died, the node ended, the tree closed) is
 * removed. Asking Temporal instead of guessing keeps other live workers' containers on a shared
 * Docker engine safe.
 */
import type Docker from 'dockerode';
import { Client, Connection, WorkflowNotFoundError, type ConnectionOptions } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { removeContainersUnless } from '../activities';
import { containerIdentity } from '../activities/executors/docker-identity';
import { isRunKeyOf } from '../common/run-key';
import { isServerUnreachable } from '../client/service-errors';
import { POOL_LABEL } from '../activities/executors/docker-spec';

const { PendingActivityState } = temporal.api.enums.v1;

/**
 * Pending-activity states whose attempt still runs on its worker: started, and started with a
 * cancel or a pause requested (the worker learns of it at its next heartbeat, and its container
 * runs until then; killed now, a cancelled node would end FAILED, not CANCELLED).
 */
const RUNNING_STATES: ReadonlySet<number> = new Set([
  PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
  PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED,
  PendingActivityState.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED,
]);

/**
 * The workers running an attempt of these pending activities (a running workflow's, from
 * describe): each activity in one of {@link RUNNING_STATES} names its worker. SCHEDULED (waiting
 * for a retry) and PAUSED ones name the worker of an attempt that has ended, so not theirs.
 */
export function liveWorkersIn(pending: readonly Pick<temporal.api.workflow.v1.IPendingActivityInfo, 'state' | 'lastWorkerIdentity'>[]): Set<string> {
  const live = new Set<string>();
  for (const a of pending) {
    if (RUNNING_STATES.has(a.state ?? PendingActivityState.PENDING_ACTIVITY_STATE_UNSPECIFIED) && a.lastWorkerIdentity) live.add(a.lastWorkerIdentity);
  }
  return live;
}

/** What the sweep knows of a tree id in this namespace: see {@link liveWorkersOf}. */
interface TreeState {
  /**
   * Workers (identities) running an attempt of its latest execution ({@link liveWorkersIn}); `null` when
   * that execution is closed; `'unknown'` when this server and namespace do not know the tree
   * (or cannot say now).
   */
  live: Set<string> | null | 'unknown';
  /** The latest execution's first run id (its run key: common/run-key.ts `isRunKeyOf`); null when unknown. */
  firstRunId: string | null;
  /** The latest execution's task queue, whose pollers tell which workers are alive ({@link pollingWorkers}); null when unknown. */
  taskQueue: string | null;
}

/**
 * What a failed describe of a tree says about it: `not-found`, the tree belongs to another server
 * or namespace sharing the Docker engine (or to a test driving the executor directly), so it is
 * not ours to judge; `unreachable`, the server does not answer now and a later sweep will ask
 * again; `problem`, anything else (a denied call, an unknown namespace: a worker set up wrongly),
 * which keeps the tree's containers like the others but is reported, or the sweep would fail
 * silently on every run.
 */
export function describeFailureKind(err: unknown): 'not-found' | 'unreachable' | 'problem' {
  if (err instanceof WorkflowNotFoundError) return 'not-found';
  return isServerUnreachable(err) ? 'unreachable' : 'problem';
}

/** The log line and fields for trees a sweep kept because it could not judge them (`onUnjudged`). */
export function unjudgedWarning(err: unknown, treeIds: string[], when = ''): [string, { trees: string[] }] {
  return [`orphan container sweep${when} could not judge ${treeIds.length} tree(s), whose containers it kept: ${(err as Error).message}`, { trees: treeIds.slice(0, 20) }];
}

/** The latest execution of `treeId` in this namespace: its live workers and its run key. */
async function liveWorkersOf(client: Client, treeId: string, onProblem: (err: unknown) => void): Promise<TreeState> {
  try {
    const d = await client.workflow.getHandle(treeId).describe();
    const first = d.raw.workflowExecutionInfo?.firstRunId;
    const firstRunId = first || null;
    const taskQueue = d.taskQueue || null;
    if (d.status.name !== 'RUNNING') return { live: null, firstRunId, taskQueue };
    return { live: liveWorkersIn(d.raw.pendingActivities ?? []), firstRunId, taskQueue };
  } catch (e) {
    // Whatever the reason, the tree cannot be judged now: its containers are kept (describeFailureKind).
    if (describeFailureKind(e) === 'problem') onProblem(e);
    return { live: 'unknown', firstRunId: null, taskQueue: null };
  }
}

/**
 * The workers (identities) polling `taskQueue` for workflow or activity tasks, as the server
 * lists them: every poll of the last 5 minutes (the server's poller history; a live worker polls
 * at least once a minute, a long poll lasting up to one), or `'unknown'` when the server cannot
 * say now. A worker that died stays listed until 5 minutes after its last poll.
 *
 * Why pollers: a local activity (a tree with `localActivities`) is no pending activity in its
 * workflow's describe, so {@link liveWorkersIn} never names the worker running it; that worker
 * holds the tree's workflow task, which it polled from this queue.
 */
export async function pollingWorkers(client: Client, namespace: string, taskQueue: string): Promise<Set<string> | 'unknown'> {
  const { TaskQueueType } = temporal.api.enums.v1;
  try {
    const answers = await Promise.all([TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY].map((taskQueueType) =>
      client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType })));
    return new Set(answers.flatMap((a) => (a.pollers ?? []).map((p) => p.identity ?? '')).filter((id) => id !== ''));
  } catch {
    return 'unknown';
  }
}

/**
 * The verdict on a local activity run's container (its identity has a `localRun` tag) of a
 * running tree: kept while its worker polls the tree's task queue ({@link pollingWorkers}),
 * removed once it does not. A local run lives inside its worker's workflow task, so its worker
 * being alive is the one sign Temporal gives that it still runs; a run whose worker is alive but
 * whose workflow task moved on (the worker lost the server for longer than the task timeout)
 * is kept until it ends by itself (its nodes are short: LOCAL_NODE_MAX_TIMEOUT_SECONDS).
 */
export function localRunVerdict(workerId: string | null, pollers: Set<string> | 'unknown'): 'keep' | 'remove' {
  if (pollers === 'unknown') return 'keep';
  return workerId !== null && pollers.has(workerId) ? 'keep' : 'remove';
}

/**
 * Whether this namespace holds an execution of `treeId` whose run key is `runKey` (the first run
 * of a chain has the chain's first run id as its own run id). Such an execution is not
 * the latest one (that one's run key differs), so it is closed: one workflow id has at most one
 * open execution. False when none is found (another server or namespace's execution, or one
 * past retention) and when the list fails (a later sweep asks again).
 */
async function isOwnEarlierExecution(client: Client, treeId: string, runKey: string): Promise<boolean> {
  try {
    // Tree ids are IdSchema ids ([A-Za-z0-9_.-]): nothing to escape in the quoted value.
    for await (const w of client.workflow.list({ query: `WorkflowId = '${treeId}'` })) {
      if (isRunKeyOf(runKey, w.runId)) return true;
    }
  } catch {
    // Visibility unavailable now: keep the container, a later sweep judges it.
  }
  return false;
}

/**
 * Removes managed containers whose attempt no live worker owns: their tree's workflow is closed,
 * or it is running and no started activity belongs to the worker named in the container's label
 * (that worker died and Temporal timed its activity out), or, for a local activity's run, that
 * worker no longer polls the tree's task queue ({@link localRunVerdict}). Returns the removed ids, and gives
 * `onRemoved` each removed container as listed (for a log naming its attempt). Kept: a
 * container of a worker that is still heart-beating for its tree, containers for which `keep`
 * is true, and containers of trees this server does not know (another server or namespace on
 * the same engine) or cannot describe now. When a describe failed for another reason than those
 * two (describeFailureKind `problem`), `onUnjudged` gets the first error and the trees it kept
 * for it, once per sweep.
 *
 * Which attempt a container runs is its identity (docker-identity.ts `containerIdentity`):
 * labels for a cold container, the name it got at hand-over for a warm pool container (label
 * `ragomics.pool`). A pool container without one is idle: see {@link idleMemberVerdict}. A removed
 * pool container's host folder (hard links to inputs, its output) is deleted with it.
 *
 * A container whose identity carries a run key other than the tree's latest execution's belongs
 * to another execution of that tree id: removed when this namespace holds that execution (an
 * earlier, closed one), kept otherwise (another server or namespace on the same engine whose
 * tree has the same id). Containers without a run key (named or labelled by a version before
 * run keys) are judged by the tree's latest execution, as that version did.
 */
export async function removeOrphanContainers(
  docker: Docker,
  connection: Connection,
  namespace: string,
  keep: (c: Docker.ContainerInfo) => boolean = () => false,
  onRemoved: (c: Docker.ContainerInfo) => void = () => undefined,
  onUnjudged: (err: unknown, treeIds: string[]) => void = () => undefined,
): Promise<string[]> {
  const client = new Client({ connection, namespace });
  const trees = new Map<string, TreeState>();
  /** `<tree>\0<run key>` → whether that execution is an earlier one of this namespace. */
  const earlier = new Map<string, boolean>();
  /** Task queue → the workers polling it, asked only for a running tree's local run containers. */
  const pollers = new Map<string, Set<string> | 'unknown'>();
  /** Trees whose describe failed for a reason other than not-found or unreachable (describeFailureKind). */
  const problems: { tree: string; e: unknown }[] = [];
  const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: ['ragomics.managed=true'] }) });
  // The time of the listing, whose states are judged: not of the verdict, which comes after
  // every tree's describe (seconds each while the server restarts).
  const judgedAt = Date.now() / 1000;
  for (const c of containers) {
    const identity = keep(c) ? null : containerIdentity(c);
    if (!identity) continue;
    const tree = identity.treeId;
    if (!trees.has(tree)) trees.set(tree, await liveWorkersOf(client, tree, (e) => problems.push({ tree, e })));
    const state = trees.get(tree)!;
    const other = `${tree}\0${identity.runKey}`;
    if (identity.runKey !== null && state.firstRunId !== null && !isRunKeyOf(identity.runKey, state.firstRunId) && !earlier.has(other)) {
      earlier.set(other, await isOwnEarlierExecution(client, tree, identity.runKey));
    }
    if (identity.localRun !== null && state.live instanceof Set && state.taskQueue !== null && !pollers.has(state.taskQueue)) {
      pollers.set(state.taskQueue, await pollingWorkers(client, namespace, state.taskQueue));
    }
  }
  // Judge the listing made before Temporal was asked, not a new one: a container listed with an
  // attempt had that attempt started on the server before it was listed (the worker creates or
  // renames a container only once it holds the activity), so the describe above saw its worker.
  // A container created, or a pool member handed its node, after the listing is judged by the
  // next sweep: judged now, by a describe older than its attempt, it would be killed while its
  // attempt runs. (A current attempt killed by SIGKILL, with no other killer in sight, failed
  // case 10c once in CI: a node re-run after the Temporal restart fits this window.)
  const removed = await removeContainersUnless(docker, containers, (c) => {
    if (keep(c)) return true;
    const identity = containerIdentity(c);
    if (!identity) return c.Labels[POOL_LABEL] === 'true' ? idleMemberVerdict(c, judgedAt) === 'keep' : true;
    const state = trees.get(identity.treeId);
    // `keep` spared it while the states were read (its worker's own attempt, ended since): its tree was not asked, so not judged this time.
    if (!state || state.live === 'unknown') return true;
    if (identity.runKey !== null && state.firstRunId !== null && !isRunKeyOf(identity.runKey, state.firstRunId)) {
      // Another execution of this tree id: ours and closed (remove), or not ours (keep); not asked yet: next sweep.
      const own = earlier.get(`${identity.treeId}\0${identity.runKey}`);
      return own !== true;
    }
    if (identity.localRun !== null && state.live !== null) {
      return localRunVerdict(identity.workerId, state.taskQueue === null ? 'unknown' : pollers.get(state.taskQueue) ?? 'unknown') === 'keep';
    }
    return Boolean(state.live && identity.workerId && state.live.has(identity.workerId));
  });
  const gone = new Set(removed);
  for (const c of containers) if (gone.has(c.Id)) onRemoved(c);
  // Once per sweep, with the first error: a worker set up wrongly fails the same way for every tree.
  if (problems.length > 0) onUnjudged(problems[0]!.e, problems.map((p) => p.tree));
  return removed;
}

/** A pool container never started by its worker is left alone this long (its worker may be between create and start). */
const POOL_CREATED_GRACE_S = 60;

/**
 * The verdict on a pool container that runs no attempt (no attempt name yet). Running: kept,
 * because an idle member's stdin is its worker's attach connection (StdinOnce): when that
 * worker dies the runner reads EOF and exits by itself, and then it is removed here. Exited:
 * removed. Created but never started: removed after {@link POOL_CREATED_GRACE_S}.
 */
function idleMemberVerdict(c: Docker.ContainerInfo, now: number): 'keep' | 'remove' {
  if (c.State === 'running') return 'keep';
  if (c.State === 'created') return now - c.Created > POOL_CREATED_GRACE_S ? 'remove' : 'keep';
  return 'remove';
}

/**
 * Runs {@link removeOrphanContainers} every `intervalMs` while a worker runs. The sweep at
 * worker start cannot remove the containers of a worker that died moments before (Temporal
 * still counts it live until its heartbeat times out), and such a container would otherwise
 * run on and stay forever. The executor's own running containers are never touched. Returns
 * a function that stops the sweeper (waits for a sweep in progress).
 */
export function startOrphanSweeper(opts: {
  docker: Docker;
  connectionOptions: ConnectionOptions;
  namespace: string;
  intervalMs: number;
  isActive: (containerId: string) => boolean;
  /** The containers one sweep removed, as listed before (their names say which attempt each ran: docker-identity.ts). */
  onRemoved: (removed: Docker.ContainerInfo[]) => void;
  /** A sweep failed as a whole (the engine or the server), or could not judge some trees (see removeOrphanContainers' `onUnjudged`). */
  onError: (err: unknown, treeIds?: string[]) => void;
}): () => Promise<void> {
  let connection: Connection | null = null;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = async (): Promise<void> => {
    connection ??= await Connection.connect(opts.connectionOptions);
    const removed: Docker.ContainerInfo[] = [];
    await removeOrphanContainers(opts.docker, connection, opts.namespace, (c) => opts.isActive(c.Id), (c) => removed.push(c), opts.onError);
    if (removed.length > 0) opts.onRemoved(removed);
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(sweep).catch((e: unknown) => opts.onError(e));
  }, opts.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
    await connection?.close().catch(() => undefined);
  };
}
