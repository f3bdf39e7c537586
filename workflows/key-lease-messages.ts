/**
 * The signals between trees and key leases (workflows/key-lease.ts on the tree's side,
 * workflows/key-lease-workflow.ts on the lease's). Payload shapes are zod schemas in
 * common/schemas.ts; both sides parse what they receive and drop what does not parse.
 */
import { defineSignal } from '@temporalio/workflow';
import type { KeyGrant, LeaseClaim, LeaseRelease, LeaseRenewal } from '../common/schemas';

/** To a lease: one more node wants this key (it queues behind the owner, or owns the key when no one does). */
export const claimKeySignal = defineSignal<[LeaseClaim]>('claimKey');

/** To a lease: the owner's computation ended (`completed`, `failed` with an error, or `cancelled`). */
export const releaseKeySignal = defineSignal<[LeaseRelease]>('releaseKey');

/** To a lease: the owner still computes; its hold limit counts again from now (sent every half hold limit). */
export const renewKeySignal = defineSignal<[LeaseRenewal]>('renewKey');

/** To a tree: the lease's answer to one of its claims (`queued`, then `compute`, `ready` or `failed`). */
export const keyGrantSignal = defineSignal<[KeyGrant]>('keyGrant');

/** Workflow id prefix of key leases: `ragomics-key-<64 hex>`. */
export const KEY_LEASE_ID_PREFIX = 'ragomics-key-';

/** The workflow id of a key's lease. */
export function keyLeaseWorkflowId(key: string): string {
  return `${KEY_LEASE_ID_PREFIX}${key}`;
}
