/**
 * Decides which of this system's containers are orphans at worker start: a container is still
 * live only when its tree's workflow has a started activity for it, run by the worker named in
 * the container's labels. Everything else (the worker died, the node ended, the tree closed) is
 * removed. Asking Temporal instead of guessing keeps other live workers' containers on a shared
 * Docker engine safe.
 */
import type Docker from 'dockerode';
import { Client, type Connection } from '@temporalio/client';
import { cleanupOrphanContainers } from '../activities';

/** Workers (identities) that have a started node activity, per tree; `null` when the tree is closed or unknown. */
async function liveWorkersOf(client: Client, treeId: string): Promise<Set<string> | null> {
  try {
    const d = await client.workflow.getHandle(treeId).describe();
    if (d.status.name !== 'RUNNING') return null;
    const live = new Set<string>();
    for (const a of d.raw.pendingActivities ?? []) {
      // PENDING_ACTIVITY_STATE_STARTED = 2: a worker is (or was, until the heartbeat times out) running it.
      if (a.state === 2 && a.lastWorkerIdentity) live.add(a.lastWorkerIdentity);
    }
    return live;
  } catch {
    return null;
  }
}

/**
 * Removes managed containers whose attempt no live worker owns. Returns the removed ids.
 * A container of a worker that is still heart-beating for its tree is kept.
 */
export async function removeOrphanContainers(docker: Docker, connection: Connection, namespace: string): Promise<string[]> {
  const client = new Client({ connection, namespace });
  const cache = new Map<string, Set<string> | null>();
  const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: ['ragomics.managed=true'] }) });
  for (const c of containers) {
    const tree = c.Labels['ragomics.tree'];
    if (tree && !cache.has(tree)) cache.set(tree, await liveWorkersOf(client, tree));
  }
  return cleanupOrphanContainers(docker, (c) => {
    const tree = c.Labels['ragomics.tree'];
    const worker = c.Labels['ragomics.worker'];
    const live = tree ? cache.get(tree) : null;
    return Boolean(live && worker && live.has(worker));
  });
}
