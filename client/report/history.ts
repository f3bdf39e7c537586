/**
 * The block (name or inline code, and parameters) of each node, read back from the tree's
 * workflow history: the start input (spec nodes, or the node records carried over by
 * continue-as-new) and every accepted `addNodes` update or `addNodesSignal`. The status query
 * names only the block, and a report should show what each node was asked to do.
 * Nodes added by expansion rules or block results are not in these events; they show no
 * parameters.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { Block } from '../../common/schemas';
import type { TreeHandle } from '../sdk';

/** Block spec and dependencies of a node, as recorded in history. */
export interface RecordedNode {
  block: Block;
  dependencies: string[];
}

interface NodeLike { id?: unknown; block?: unknown; dependencies?: unknown; parentId?: unknown }

/** Reads the recorded blocks of every node it can find; an empty map when history is unavailable. */
export async function recordedNodes(tree: TreeHandle): Promise<Map<string, RecordedNode>> {
  const out = new Map<string, RecordedNode>();
  let history;
  try {
    history = await tree.workflow.fetchHistory();
  } catch {
    return out;
  }
  const take = (nodes: unknown): void => {
    if (!Array.isArray(nodes)) return;
    for (const n of nodes as NodeLike[]) {
      if (typeof n?.id !== 'string' || typeof n.block !== 'object' || n.block === null) continue;
      const deps = Array.isArray(n.dependencies) ? n.dependencies.filter((d): d is string => typeof d === 'string') : [];
      if (typeof n.parentId === 'string' && !deps.includes(n.parentId)) deps.unshift(n.parentId);
      out.set(n.id, { block: n.block as Block, dependencies: deps });
    }
  };
  for (const event of history.events ?? []) {
    const started = event.workflowExecutionStartedEventAttributes;
    if (started) {
      const input = decodeFirst(started.input?.payloads) as { spec?: { nodes?: unknown }; carried?: { nodes?: unknown } } | undefined;
      take(input?.carried?.nodes);
      take(input?.spec?.nodes);
      continue;
    }
    const update = event.workflowExecutionUpdateAcceptedEventAttributes;
    if (update && update.acceptedRequest?.input?.name === 'addNodes') {
      take((decodeFirst(update.acceptedRequest.input.args?.payloads) as { nodes?: unknown } | undefined)?.nodes);
      continue;
    }
    const signal = event.workflowExecutionSignaledEventAttributes;
    // A signalled request may have been rejected; a node it names exists only if the status lists it.
    if (signal?.signalName === 'addNodesSignal') take((decodeFirst(signal.input?.payloads) as { nodes?: unknown } | undefined)?.nodes);
  }
  return out;
}

function decodeFirst(payloads: readonly unknown[] | null | undefined): unknown {
  const first = payloads?.[0];
  if (!first) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(first as Parameters<typeof defaultPayloadConverter.fromPayload>[0]);
  } catch {
    return undefined;
  }
}
