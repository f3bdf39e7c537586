/** Removal of containers left behind by a worker that died mid-attempt. */
import type Docker from 'dockerode';
import { MANAGED_LABEL } from './executors/docker-spec';

/** Which managed containers {@link cleanupOrphanContainers} considers. */
export interface OrphanFilter {
  /** Only this worker's containers (label `ragomics.worker`); other workers on the same engine keep theirs. */
  workerId?: string;
  /** Only this tree's containers (label `ragomics.tree`); tests use it. */
  treeId?: string;
}

/**
 * Force-removes every container labelled `ragomics.managed=true` (narrowed by `filter`) for
 * which `isStillRunning` is false, running or not. Call it at worker start, before polling,
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
  if (filter.treeId) labels.push(`ragomics.tree=${filter.treeId}`);
  const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: labels }) });
  const removed: string[] = [];
  for (const c of containers) {
    if (isStillRunning(c)) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(c.Id);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
  }
  return removed;
}
