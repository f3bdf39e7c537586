/**
 * What a node's record says while it waits for another node computing the same cache key (key
 * leases, workflows/key-lease.ts): the node is RUNNING (it holds one of its tree's
 * `maxParallelJobs` slots, no worker slot), `sharedWait` names whom it waits for and since
 * when, a transition reason says it in words, and `cache.waitedFor` keeps the owner after the
 * wait. Workflow code: the time is the workflow clock.
 */
import type { LeaseHolder } from '../common/schemas';
import type { NodeRecord } from './node-record';
import { recordEvent } from './provenance';

/** The transition reason of a node that starts (or goes on) waiting for `owner`. */
export function sharedWaitReason(owner: LeaseHolder, key: string): string {
  return `waiting for the same computation in tree ${owner.treeId} node ${owner.nodeId} (cache key ${key.slice(0, 12)})`;
}

/** Records that `rec` waits for `owner` (called when it queues, and again after a hand-over). */
export function noteSharedWait(rec: NodeRecord, owner: LeaseHolder, key: string, now: number): void {
  rec.sharedWait = { treeId: owner.treeId, nodeId: owner.nodeId, since: rec.sharedWait?.since ?? now };
  if (rec.cache) rec.cache.waitedFor = { treeId: owner.treeId, nodeId: owner.nodeId };
  rec.transitions.push(['RUNNING', now, sharedWaitReason(owner, key)]);
  recordEvent(rec, 'shared-wait', sharedWaitReason(owner, key), now);
}

/** The wait is over (granted, failed or cancelled): `cache.waitedFor` stays, `sharedWait` goes. */
export function endSharedWait(rec: NodeRecord): void {
  delete rec.sharedWait;
}
