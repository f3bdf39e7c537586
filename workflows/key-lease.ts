/**
 * Key leases: identical work in flight runs once. A node that is about to compute a cache key
 * (workflows/node-runner.ts) asks for the key's lease first; one claimant computes, the others
 * wait for its outcome.
 *
 * STUB (issue 14, helper "cache"): every claimant computes. The helper "lease" replaces this
 * file with the real lease (one Temporal workflow per key); the interface below is fixed by the
 * session brief so both pieces fit.
 */

/** What a claimant of a key may do. */
export type LeaseGrant =
  /** Compute the key, then report the outcome exactly once (also when cancelled). */
  | { role: 'compute'; release(outcome: 'completed' | 'failed' | 'cancelled', error?: string): Promise<void> }
  /** Someone published the key while this claimant waited: look it up again. */
  | { role: 'ready' }
  /** The computation this claimant waited for failed. */
  | { role: 'failed'; owner: { treeId: string; nodeId: string }; error: string };

/**
 * Claims the lease of `key` for the node `claim` names. Called from workflow code (the node
 * runner). `holdLimitSeconds`: how long the claimant may hold the lease before others stop
 * waiting for it.
 *
 * The stub grants `compute` at once and its release does nothing.
 */
export function acquireKeyLease(key: string, claim: { treeId: string; nodeId: string; holdLimitSeconds: number }): Promise<LeaseGrant> {
  void key;
  void claim;
  return Promise.resolve({ role: 'compute', release: async () => undefined });
}
