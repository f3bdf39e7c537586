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

/**
 * Waits until the tree ends and returns its final status (every node): the one in the tree's
 * result when it has one (TreeResult.status), else a status query of the closed workflow.
 */
export async function followTree(tree: TreeHandle, options: FollowOptions = {}): Promise<LiveTreeStatus> {
  const renderer = options.renderer;
  const intervalMs = options.intervalMs ?? 500;
  // The workflow's result, asked for once from the start (a long poll on the server): the wait
  // between polls ends the moment the tree closes, not up to a poll interval later. It also
  // makes "ended" mean closed, and a failed workflow surface as an error.
  const result = tree.result();
  let closed = false;
  // Cancels the call still on its way when the tree closes: a closed workflow's query waits for
  // a worker to replay its history, and an open call would keep the process from exiting. One
  // controller per call: the client adds an `abort` listener to the signal of every call and
  // never removes it, so a signal shared by all the polls gathered two listeners a second
  // (Node's MaxListenersExceededWarning after ~5 s).
  let inFlight: AbortController | null = null;
  const signal = (): AbortSignal => (inFlight = new AbortController()).signal;
  const close = (): void => {
    closed = true;
    inFlight?.abort();
  };
  const closing = result.then(close, close);
  // A call's answer, or null once the tree closed first (the call is then cancelled, and its
  // error dropped); a call that fails while the tree runs rejects as it came.
  const untilClosed = <T>(call: Promise<T>): Promise<T | null> => {
    const settled = call.catch((err: unknown) => {
      if (closed) return null;
      throw err;
    });
    return Promise.race([settled, closing.then(() => null)]);
  };
  let version = -1;
  let waiting = false;
  while (!closed) {
    const summary = await untilClosed(tree.summary({ signal: signal() }));
    if (summary === null || summary.state !== 'RUNNING') break;
    if (renderer && (summary.version !== version || waiting)) {
      const status = await untilClosed(tree.status({ signal: signal() }));
      if (status === null) break;
      waiting = status.nodes.some((n) => n.waitingFor !== undefined);
      renderer.update(status);
    }
    version = summary.version;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closing, new Promise((r) => (timer = setTimeout(r, intervalMs)))]);
    clearTimeout(timer);
  }
  // The result carries the final status of all but the biggest trees: asking a closed workflow
  // instead makes a worker replay its whole history. Closed, no node waits for a worker any
  // more, so the server's view of pending work adds nothing.
  const final = (await result).status ?? await tree.status({ nodeWaits: false });
  renderer?.finish(final);
  return final;
}
