/**
 * What the workflow remembers about each node: its spec, its state, every transition with its
 * time, and every attempt. Plain JSON so it can be carried across continue-as-new and returned
 * from queries. Times are epoch milliseconds.
 */
import type { Block, NodeCache, NodeState, Resources } from '../common/schemas';
import type { NodeEvent, Provenance } from './provenance';

/** How one attempt of a node ended. `LOST`: its worker vanished (heartbeat timeout) and it was re-run. */
export type AttemptState = 'RUNNING' | 'COMPLETED' | 'FAILED' | 'TIMEOUT' | 'CANCELLED' | 'LOST';

/** One execution attempt of a node, as the timeline shows it. */
export interface AttemptRecord {
  /** 1-based, counting every attempt of the node. */
  n: number;
  /** Workflow-level attempt: bumps on re-runs the workflow decides (lost worker, more memory, repaired code). */
  runIndex: number;
  /** When the workflow scheduled the activity. */
  scheduledAt: number;
  /** Real start and end as the worker saw them, when known. */
  startedAt: number | null;
  endedAt: number | null;
  state: AttemptState;
  worker?: string;
  error?: string;
  errorType?: string;
  exitCode?: number;
  memoryMB?: number;
  peakMemoryMB?: number;
  /** True when a retry found this attempt's output already published and did not run again. */
  reused?: boolean;
  /** True when the attempt reused a cached output (activities/cache) and ran nothing. */
  cached?: boolean;
}

/** A cacheable node's cache facts, shown in the status (`cache`); its one form is common/schemas.ts's. */
export type NodeCacheRecord = NodeCache;

/** A state change: `[to, at, reason?]`, compact because big trees carry thousands of them. */
export type TransitionRecord = [NodeState, number, string?];

/** Where a node's published output is, and what it held. */
export interface NodeOutput {
  outputDir: string;
  outputPath: string;
  sha256: string;
  shape: [number, number] | null;
  summary: string;
  figures: string[];
  metrics: Record<string, unknown>;
  imageDigest: string | null;
}

/** Everything the workflow keeps about one node. */
export interface NodeRecord {
  id: string;
  parentId: string | null;
  dependencies: string[];
  priority: number;
  depth: number;
  block: Block;
  timeout?: number;
  maxRetries?: number;
  resources?: Resources;
  expectedDuration?: number;
  taskQueue?: string;
  /**
   * Set while the node waits for another node computing the same cache key (workflows/shared-wait.ts):
   * whom it waits for and since when (epoch ms). Never carried: a tree does not continue as new while a node waits.
   */
  sharedWait?: { treeId: string; nodeId: string; since: number };
  /** The spec's `cache: false`: this node neither reuses nor publishes cached results. */
  noCache?: true;
  /** Who added the node: spec, client, signal, result, rule, policy, samples, fork (= `provenance.by`). */
  source: string;
  /**
   * Who or what added the node, and when (workflows/provenance.ts). Absent on records written
   * before provenance existed: `provenanceOf` derives one from `source` and `queuedAt`.
   */
  provenance?: Provenance;
  /** What happened to the node after it was added (repairs, cache hits, shared waits), oldest first. */
  events?: NodeEvent[];
  /** The sample this node belongs to (nodes expanded from `forEachSample`); see `TreeState.samples`. */
  sample?: string;
  /** A node with several inputs: their ids, in order (all are also dependencies). */
  inputs?: string[];
  /** A gather: the template id it reads one input per sample of (grows with `addSamples`). */
  gather?: string;
  state: NodeState;
  queuedAt: number;
  transitions: TransitionRecord[];
  attempts: AttemptRecord[];
  output?: NodeOutput;
  error?: string;
  /** Code patch from the repair hook, used by later attempts. */
  patchedCode?: string;
  repairs: number;
  oomRetries: number;
  lostRetries: number;
  /** Cache facts of a node that was cacheable (absent: it was not). */
  cache?: NodeCacheRecord;
  /**
   * Only in a carried state (TreeState.carry): the scheduler's root cause of a node that ended
   * other than COMPLETED, so messages after continue-as-new still name it. Absent in a running tree.
   */
  rootCause?: { id: string; state: NodeState };
}

/** Display label of a node's block: its name, or `inline` for inline code. */
export function blockLabel(block: Block): string {
  return 'name' in block ? block.name : 'inline';
}

/** Key under which block durations are averaged for `critical_path`. */
export function blockKey(block: Block): string {
  if ('name' in block) return block.name;
  // A cheap, deterministic fingerprint: inline blocks with the same code share a running mean.
  let h = 0;
  for (let i = 0; i < block.code.length; i++) h = (Math.imul(h, 31) + block.code.charCodeAt(i)) | 0;
  return `inline:${(h >>> 0).toString(16)}`;
}

/** Time of the last transition into `state`, if any. */
export function timeOf(rec: NodeRecord, state: NodeState): number | undefined {
  for (let i = rec.transitions.length - 1; i >= 0; i--) {
    const t = rec.transitions[i];
    if (t && t[0] === state) return t[1];
  }
  return undefined;
}
