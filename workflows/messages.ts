/**
 * The messages an analysis-tree workflow answers: updates (validated, with a result), signals
 * (fire-and-forget) and queries (read-only). Clients and tests import these definitions so the
 * names and payload types are spelled once.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AddNodesRequest, AddSamplesRequest } from '../common/schemas';
import type { TreeMetrics, TreeStatus, TimelinePage, TreeSummary } from './views';

/** Result of an accepted `addNodes` update. */
export interface AddNodesResult {
  requestId: string;
  /** Ids of the nodes added by this request (empty when the request id was already applied). */
  added: string[];
  /** True when this request id had been applied before; nothing changed this time. */
  duplicate: boolean;
}

/**
 * Adds nodes to a running tree. The validator rejects the whole request, naming the offending
 * id, when any node is invalid (duplicate or unknown ids, cycles, limits, bad parameters);
 * nothing changes then. Accepted nodes are scheduled at once. Idempotent by `requestId`.
 */
export const addNodesUpdate = defineUpdate<AddNodesResult, [AddNodesRequest]>('addNodes');

/** Result of an accepted `addSamples` update. */
export interface AddSamplesResult {
  requestId: string;
  /** Sample ids added (empty when the request id was already applied). */
  samples: string[];
  /** Ids of the nodes expanded for them. */
  added: string[];
  /** Gather nodes that now read the new samples too. */
  gathers: string[];
  /** True when this request id had been applied before; nothing changed this time. */
  duplicate: boolean;
}

/**
 * Adds samples to a running cohort: expands the `forEachSample` templates for them and adds
 * their nodes to every gather over a template. All or nothing, idempotent by `requestId`. The
 * validator rejects bad or duplicate rows, a tree without templates, and any gather over the
 * templates that has already started (one line naming it and its state); nothing changes then.
 */
export const addSamplesUpdate = defineUpdate<AddSamplesResult, [AddSamplesRequest]>('addSamples');

/** Fire-and-forget form of {@link addNodesUpdate}: invalid requests are recorded as rejected in the status. */
export const addNodesSignal = defineSignal<[AddNodesRequest]>('addNodesSignal');

/** Request to cancel one node (and, through failure semantics, its dependents). */
export interface CancelNodeRequest {
  nodeId: string;
  reason?: string;
}

/**
 * Cancels one node and its dependents; rejects unknown or already-ended nodes. Returns the ids
 * cancelled: for a node that has not started, it and its dependents; for a running node, the
 * node alone, whose cancellation is then under way (its container is stopped, and its dependents
 * are cancelled when it ends; a node whose result arrives first still COMPLETES).
 */
export const cancelNodeUpdate = defineUpdate<{ cancelled: string[] }, [CancelNodeRequest]>('cancelNode');

/** Cancels the whole tree: running containers stop, nothing new starts; the workflow ends CANCELLED. */
export const cancelTreeSignal = defineSignal<[{ reason?: string }]>('cancelTree');

/** Pauses (true) or resumes (false) dispatching of new nodes; running nodes go on. */
export const setPausedSignal = defineSignal<[boolean]>('setPaused');

/** Changes `maxParallelJobs` while running; validated (an integer from 1 to 1000). Returns the previous value. */
export const setMaxParallelJobsUpdate = defineUpdate<{ previous: number; current: number }, [number]>('setMaxParallelJobs');

/** Closes a tree kept open for an external agent (`expansion.idleTimeout`): it ends once idle. */
export const closeTreeSignal = defineSignal<[]>('closeTree');

/** Options of the status query: nodes are paged so large trees answer within the payload limit. */
export interface StatusQueryOptions {
  /** First node (insertion order). @default 0 */
  offset?: number;
  /** Most nodes returned. @default 1000 */
  limit?: number;
  /** Include each node's transitions. @default false */
  transitions?: boolean;
  /** Include each node's block (name or code, parameters) and dependencies. @default false */
  details?: boolean;
}

/**
 * What every query answers while a new run (after continue-as-new) is still reading the tree's
 * state from the workspace, a fraction of a second: a query cannot wait, and an empty tree would
 * be a wrong answer. The SDK asks again until it gets the tree (client/sdk.ts).
 */
export interface TreeLoading {
  loading: true;
  treeId: string;
}

/** Per-node states and the seed's `running_jobs`, `queue_size`, `total_processed`. */
export const statusQuery = defineQuery<TreeStatus | TreeLoading, [StatusQueryOptions?]>('status');

/** The seed's metrics plus makespan, critical path and parallel efficiency. */
export const metricsQuery = defineQuery<TreeMetrics | TreeLoading>('metrics');

/** One entry per node attempt, paged. */
export const timelineQuery = defineQuery<TimelinePage | TreeLoading, [{ offset?: number; limit?: number }?]>('timeline');

/** Small summary: counts, state and a version number that changes whenever anything changes (for watching). */
export const summaryQuery = defineQuery<TreeSummary | TreeLoading>('summary');
