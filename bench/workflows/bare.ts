/**
 * The least a Temporal workflow can do per node: run no-op activities one after another (chain)
 * or with a bound on how many run at once (fan). Used by bench/orchestration-overhead.ts as the
 * floor of any design on this Temporal server: its handoff is the server round trip (activity
 * completion persisted → workflow task → next activity dispatched), with no ragomics code around.
 */
import { proxyActivities } from '@temporalio/workflow';

/** Activities of the bare workflows (see bench/orchestration-overhead.ts). */
export interface BareActivities {
  /** Sleeps `ms` (0 = returns at once) and returns its own start and end (epoch ms). */
  noop(ms: number): Promise<{ start: number; end: number }>;
}

const { noop } = proxyActivities<BareActivities>({ startToCloseTimeout: '1 minute' });

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
