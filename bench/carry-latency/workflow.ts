/**
 * Bench-only workflow (bundled by bench/carry-latency/run.ts, never by the project's worker): it
 * decodes the node table it was given, encodes it again in the same form and continues as new,
 * `left` times. Each run is what a tree's continue-as-new costs for its carried state: the server
 * storing and handing over the payload, and the decode and encode in the workflow sandbox.
 */
import { continueAsNew } from '@temporalio/workflow';
import { deflateSync, inflateSync, strFromU8, strToU8 } from 'fflate';
import { decodeNodes, encodeNodes, type EncodedNodes } from '../../workflows/carry-codec';
import type { NodeRecord } from '../../workflows/node-record';

/** How the node table travels: the columnar codec (JSON), or plain JSON deflated (a binary payload). */
export type CarryForm = 'codec' | 'deflate';

/** Carries `state` through `left` continue-as-new runs; returns the number of nodes at the end. */
export async function carryLoop(form: CarryForm, left: number, state: EncodedNodes | Uint8Array): Promise<number> {
  const nodes = form === 'codec' ? decodeNodes(state as EncodedNodes) : (JSON.parse(strFromU8(inflateSync(state as Uint8Array))) as NodeRecord[]);
  if (left <= 0) return nodes.length;
  const next = form === 'codec' ? encodeNodes(nodes) : deflateSync(strToU8(JSON.stringify(nodes)), { level: 6 });
  return await continueAsNew<typeof carryLoop>(form, left - 1, next);
}
