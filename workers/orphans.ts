/**
 * Decides which of this system's containers are orphans at worker start: a container is still
 * live only when its tree's workflow has a started activity for it, run by the worker named in
 * the container's labels. Everything else (the worker died, the node ended, the tree closed) is
 * removed. Asking Temporal instead of guessing keeps other live workers' containers on a shared
 * Docker engine safe.
 */
import type Docker from 'dockerode';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { cleanupOrphanContainers } from '../activities';
import { containerIdentity } from '../activities/executors/docker-identity';
import { POOL_LABEL } from '../activities/executors/docker-spec';

const { PendingActivityState } = temporal.api.enums.v1;

/**
 * Workers (identities) that have a started node activity, per tree; `null` when the tree is
 * closed; `'unknown'` when this server and namespace do not know the tree (or cannot say now).
 */
async function liveWorkersOf(client: Client, treeId: string): Promise<Set<string> | null | 'unknown'> {
  try {
    const d = await client.workflow.getHandle(treeId).describe();
    if (d.status.name !== 'RUNNING') return null;
    const live = new Set<string>();
    for (const a of d.raw.pendingActivities ?? []) {
      // STARTED: a worker is (or was, until the heartbeat times out) running it.
      if (a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED && a.lastWorkerIdentity) live.add(a.lastWorkerIdentity);
    }
    return live;
  } catch {
    // Not found: the tree belongs to another server or namespace sharing the Docker engine (or
    // to a test driving the executor directly), so it is not ours to judge. Any other error:
    // we cannot tell now; a later sweep will.
    return 'unknown';
  }
}

/**
 * Removes managed containers whose attempt no live worker owns: their tree's workflow is closed,
 * or it is running and no started activity belongs to the worker named in the container's label
 * (that worker died and Temporal timed its activity out). Returns the removed ids. Kept: a
 * container of a worker that is still heart-beating for its tree, containers for which `keep`
 * is true, and containers of trees this server does not know (another server or namespace on
 * the same engine).
 *
 * Which attempt a container runs is its identity (docker-identity.ts `containerIdentity`):
 * labels for a cold container, the name it got at hand-over for a warm pool container (label
 * `ragomics.pool`). A pool container without one is idle: see {@link idleMemberVerdict}. A removed
 * pool container's host folder (hard links to inputs, its output) is deleted with it.
 */
export async function removeOrphanContainers(docker: Docker, connection: Connection, namespace: string, keep: (c: Docker.ContainerInfo) => boolean = () => false): Promise<string[]> {
  const client = new Client({ connection, namespace });
  const cache = new Map<string, Set<string> | null | 'unknown'>();
  const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: ['ragomics.managed=true'] }) });
  for (const c of containers) {
    const tree = containerIdentity(c)?.treeId;
    if (tree && !cache.has(tree) && !keep(c)) cache.set(tree, await liveWorkersOf(client, tree));
  }
  const judgedAt = Date.now() / 1000;
  return cleanupOrphanContainers(docker, (c) => {
    if (keep(c)) return true;
    const identity = containerIdentity(c);
    if (!identity) return c.Labels[POOL_LABEL] === 'true' ? idleMemberVerdict(c, judgedAt) === 'keep' : true;
    const live = cache.get(identity.treeId);
    // Listed after the cache was filled (a container just created or handed its node): not judged this time.
    if (!cache.has(identity.treeId)) return true;
    if (live === 'unknown') return true;
    return Boolean(live && identity.workerId && live.has(identity.workerId));
  });
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
  onRemoved: (ids: string[]) => void;
  onError: (err: unknown) => void;
}): () => Promise<void> {
  let connection: Connection | null = null;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = async (): Promise<void> => {
    connection ??= await Connection.connect(opts.connectionOptions);
    const removed = await removeOrphanContainers(opts.docker, connection, opts.namespace, (c) => opts.isActive(c.Id));
    if (removed.length > 0) opts.onRemoved(removed);
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(sweep).catch(opts.onError);
  }, opts.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
    await connection?.close().catch(() => undefined);
  };
}
