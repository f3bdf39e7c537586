/**
 * What a run crate is built from, gathered once (client/crate/collect.ts) so that the crate
 * itself (client/crate/graph.ts) is a pure function of these facts and can be unit-tested
 * without a server, a worker or a workspace.
 */
import type { Block } from '../../common/schemas';
import type { NodeStatus, TimelineEntry, TreeStatus } from '../../workflows/views';

/**
 * A status node. Its `provenance`, `events` and `cache` (issue 14) are optional: a status from a
 * worker running older code lacks them, and the crate then says less.
 */
export type CrateNodeStatus = NodeStatus;

/** A file the crate describes: where it is, how big, and its sha256 (hex). */
export interface FileFact {
  /** Absolute path on this machine. */
  abs: string;
  size: number;
  sha256: string;
}

/** One file of a node's published output folder. */
export interface OutputFileFact extends FileFact {
  /** Path inside the published folder, with "/" separators (e.g. `figures/umap.png`). */
  rel: string;
}

/** Where a node's code came from. */
export type CodeFact =
  | { kind: 'builtin'; name: string; /** The block's Python source, or null when not found beside this client. */ source: string | null }
  | { kind: 'inline'; code: string; requirements: string[] };

/** The published result of a node, as its `node-result.json` holds it (only what the crate uses). */
export interface PublishedFacts {
  /** The workflow attempt (`published/attempt-<n>`). */
  attempt: number;
  /** Temporal's attempt of the activity that published it (its folder is `attempts/<attempt>-<activityAttempt>`, plus `-<tag>` for a local activity's run). */
  activityAttempt: number;
  imageDigest: string | null;
  executor: string | null;
  worker: string | null;
  summary: string;
  /** Issue 14 cache fields, when the worker wrote them. */
  cached: boolean;
  cachedFrom: { treeId: string; nodeId: string; attempt: number } | null;
  cacheKey: string | null;
}

/** Everything known about one node. */
export interface NodeFacts {
  status: CrateNodeStatus;
  /** The block as run: the attempt's job.json when readable (repaired code included), else the spec's. */
  block: Block | null;
  code: CodeFact | null;
  /** The node's attempts, oldest first (timeline query). */
  attempts: TimelineEntry[];
  published: PublishedFacts | null;
  /** Every file of the published folder (empty when nothing was published). */
  outputs: OutputFileFact[];
}

/** Everything a crate of one tree is built from. */
export interface CrateFacts {
  treeId: string;
  /** The tree's spec as it was started (the workflow's start input). */
  spec: Record<string, unknown>;
  status: TreeStatus & { nodes: CrateNodeStatus[] };
  /** When the tree's workflow started, and closed (null while it runs). */
  startTime: string;
  closeTime: string | null;
  /** `<root>/trees/<treeId>.<runKey>` */
  treeDir: string;
  /** The tree's own inputs (spec `inputDataPath`, the cohort's sample files, a fork's origin). */
  inputs: Map<string, FileFact>;
  nodes: NodeFacts[];
  /** ragomics' version (package.json). */
  engineVersion: string;
  exportedAt: Date;
}
