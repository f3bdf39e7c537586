/**
 * Follows a tree until it ends, feeding a progress renderer: polls the cheap summary query and
 * fetches the full status when the tree changed, and also on every poll while a node waits for
 * a worker (its start changes nothing in the workflow, so the summary would not show it).
 * Used by `run` and `watch`.
 */
import type { LiveTreeStatus, TreeHandle } from '../sdk';
import type { ProgressRenderer } from './progress';

/** Options of {@link followTree}. */
export interface FollowOptions {
  /** Milliseconds between summary polls. @default 500 */
  intervalMs?: number;
  /** Renders progress; none for `--json`. */
  renderer?: ProgressRenderer;
}

/** Waits until the tree ends and returns its final status (every node). */
export async function followTree(tree: TreeHandle, options: FollowOptions = {}): Promise<LiveTreeStatus> {
  const renderer = options.renderer;
  const intervalMs = options.intervalMs ?? 500;
  let version = -1;
  let waiting = false;
  for (;;) {
    const summary = await tree.summary();
    if (summary.state !== 'RUNNING') break;
    if (renderer && (summary.version !== version || waiting)) {
      const status = await tree.status();
      waiting = status.nodes.some((n) => n.waitingFor !== undefined);
      renderer.update(status);
    }
    version = summary.version;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  // The workflow decides its state before it returns; wait for the result so that "ended"
  // really means closed (and a failed workflow surfaces as an error).
  await tree.result();
  const final = await tree.status();
  renderer?.finish(final);
  return final;
}
