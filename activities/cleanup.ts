/** Removal of containers left behind by a worker that died mid-attempt. */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { containerIdentity } from './executors/docker-identity';
import { CONTAINER_WORKSPACE, MANAGED_LABEL, POOL_LABEL } from './executors/docker-spec';

/** Which managed containers {@link cleanupOrphanContainers} considers. */
export interface OrphanFilter {
  /** Only this worker's containers (label `ragomics.worker`, which cold and pooled containers carry); other workers on the same engine keep theirs. */
  workerId?: string;
  /**
   * Only the containers running this tree's attempts, by their identity (docker-identity.ts
   * `containerIdentity`): cold ones by their `ragomics.tree` label, pooled ones by the name they
   * got at hand-over. Idle pool members belong to no tree and are never selected by it.
   */
  treeId?: string;
}

/**
 * Force-removes every container labelled `ragomics.managed=true` (narrowed by `filter`) for
 * which `isStillRunning` is false, running or not, and the host folder of each removed pool
 * member (its input hard links and output; see {@link poolMemberDir}). Call it at worker start, before polling,
 * when no activity of this worker can own one; pass e.g. `(c) => executor.activeContainers().has(c.Id)`
 * when calling it later. Returns the removed container ids; a container that vanished
 * meanwhile is not an error.
 */
export async function cleanupOrphanContainers(
  docker: Docker,
  isStillRunning: (container: Docker.ContainerInfo) => boolean = () => false,
  filter: OrphanFilter = {},
): Promise<string[]> {
  const labels = [`${MANAGED_LABEL}=true`];
  if (filter.workerId) labels.push(`ragomics.worker=${filter.workerId}`);
  const listed = await docker.listContainers({ all: true, filters: JSON.stringify({ label: labels }) });
  const containers = filter.treeId ? listed.filter((c) => containerIdentity(c)?.treeId === filter.treeId) : listed;
  return removeContainersUnless(docker, containers, isStillRunning);
}

/**
 * Force-removes each of `containers` (entries of a listing already made) for which `keep` is
 * false, with the host folder of each removed pool member. A caller that judged the containers
 * from facts gathered after its listing (workers/orphans.ts asks Temporal) passes that same
 * listing: a container created, or a pool member handed its node, after it was listed is then
 * never judged by facts older than itself. Returns the removed ids; a container that vanished
 * meanwhile is not an error, any other Docker error is thrown.
 */
export async function removeContainersUnless(
  docker: Docker,
  containers: readonly Docker.ContainerInfo[],
  keep: (container: Docker.ContainerInfo) => boolean,
): Promise<string[]> {
  const removed: string[] = [];
  for (const c of containers) {
    if (keep(c)) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(c.Id);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
    const dir = poolMemberDir(c);
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
  return removed;
}

/**
 * The host folder of a pool member (the parent of its `ws/` folder mounted at /workspace,
 * docker-warm.ts), or null for other containers.
 */
export function poolMemberDir(c: Pick<Docker.ContainerInfo, 'Labels' | 'Mounts'>): string | null {
  if (c.Labels?.[POOL_LABEL] !== 'true') return null;
  const ws = c.Mounts?.find((m) => m.Destination === CONTAINER_WORKSPACE)?.Source;
  return ws && path.basename(ws) === 'ws' ? path.dirname(ws) : null;
}
