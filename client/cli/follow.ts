/**
 * Follows a tree until it ends, feeding a progress renderer: polls the cheap summary query and
 * fetches the full status only when the tree changed. Used by `run` and `watch`.
 */
import type { TreeHandle } from '../sdk';
import type { TreeStatus } from '../../workflows/views';
import type { ProgressRenderer } from './progress';

/** Options of {@link followTree}. */
export interface FollowOptions {
  /** Milliseconds between summary polls. @default 500 */
  intervalMs?: number;
  /** Renders progress; none for `--json`. */
  renderer?: ProgressRenderer;
}

/** Waits until the tree ends and returns its final status (every node). */
export async function followTree(tree: TreeHandle, options: FollowOptions = {}): Promise<TreeStatus> {
  const renderer = options.renderer;
  for await (const summary of tree.watch(options.intervalMs ?? 500)) {
    if (summary.state !== 'RUNNING') break;
    if (renderer) renderer.update(await tree.status());
  }
  // The workflow decides its state before it returns; wait for the result so that "ended"
  // really means closed (and a failed workflow surfaces as an error).
  await tree.result();
  const final = await tree.status();
  renderer?.finish(final);
  return final;
}
