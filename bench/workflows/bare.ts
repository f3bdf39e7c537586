/**
 * The least a Temporal workflow can do per node: run no-op activities one after another (chain)
 * or with a bound on how many run at once (fan). Used by bench/orchestration-overhead.ts as the
 * floor of any design on this Temporal server: its handoff is the server round trip (activity
 * completion persisted → workflow task → next activity dispatched), with no ragomics code around.
 *
 * The `…Work` workflows do the same with the in-process pool's work per node instead of a no-op:
 * the real `runNode` activity on a `sleep` node (attempt folder, publishing with sha256, the
 * attempt's record), each node reading its parent's published output as the pool's nodes do: the
 * floor of a design that runs one such activity per node through this server, under the least
 * workflow code (measured, where a sum of the other variants' figures could only estimate it). Such
 * a design beats it only by making that activity or the SDK's path cheaper.
 */
import { proxyActivities } from '@temporalio/workflow';

/** Activities of the bare workflows (see bench/orchestration-overhead.ts). */
export interface BareActivities {
  /** Sleeps `ms` (0 = returns at once) and returns its own start and end (epoch ms). */
  noop(ms: number): Promise<{ start: number; end: number }>;
}

/** What the `work` activity reports of one node: its compute interval and its published output. */
export interface WorkInterval { start: number; end: number; outputPath: string }

/** Activities of the `…Work` workflows: the pool's work per node (bench/workflows/bare-worker.ts). */
export interface BareWorkActivities {
  /** Runs `runNode` on a `sleep` node of `ms` milliseconds reading `inputPath` (null: a root). */
  work(ms: number, inputPath: string | null): Promise<WorkInterval>;
}

const { noop } = proxyActivities<BareActivities>({ startToCloseTimeout: '1 minute' });
const { work } = proxyActivities<BareWorkActivities>({ startToCloseTimeout: '1 minute' });

/** Runs `n` no-op activities one after another; returns their intervals. */
export async function bareChain(n: number, ms: number): Promise<{ start: number; end: number }[]> {
  const out: { start: number; end: number }[] = [];
  for (let i = 0; i < n; i++) out.push(await noop(ms));
  return out;
}

/** Runs `n` no-op activities, at most `parallel` at once, each starting as soon as a slot frees. */
export async function bareFan(n: number, parallel: number, ms: number): Promise<{ start: number; end: number }[]> {
  const out: { start: number; end: number }[] = [];
  let next = 0;
  async function lane(): Promise<void> {
    while (next < n) {
      next++;
      out.push(await noop(ms));
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, lane));
  return out;
}

/** {@link bareChain} with the pool's work per node: each node reads the previous one's output. */
export async function bareChainWork(n: number, ms: number): Promise<WorkInterval[]> {
  const out: WorkInterval[] = [];
  for (let i = 0; i < n; i++) out.push(await work(ms, out[i - 1]?.outputPath ?? null));
  return out;
}

/**
 * The pool's fan shape with its work per node: a root, then `n - 1` children reading its output,
 * at most `parallel` at once, each starting as soon as a slot frees. Returns the root's interval
 * first, then the children's in the order they ended.
 */
export async function bareFanWork(n: number, parallel: number, ms: number): Promise<WorkInterval[]> {
  const root = await work(ms, null);
  const out: WorkInterval[] = [root];
  let next = 1;
  async function lane(): Promise<void> {
    while (next < n) {
      next++;
      out.push(await work(ms, root.outputPath));
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, n - 1) }, lane));
  return out;
}
