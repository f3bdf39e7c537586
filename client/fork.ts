/**
 * Fork: a new tree that starts from one node's published output of another tree
 * (`RagomicsClient.forkTree`, `ragomics fork TREE NODE [nodes.yaml]`).
 *
 * The source is read through the tree's status query, so it works for running trees and for
 * finished ones as long as Temporal still knows them (retention) and a worker answers queries.
 * The node must be COMPLETED with an AnnData output; that file's sha256 is checked against the
 * one recorded at publishing, then the new tree starts with that file as `inputDataPath` and
 * `origin: { treeId, nodeId, outputPath, outputSha256 }` in its spec. Every check happens
 * before anything starts: a failure starts nothing.
 *
 * Nodes of the new tree: the caller's (roots, i.e. nodes without `parentId`, read the forked
 * output), or, when none are given, a copy of the source node's descendants re-rooted at the
 * fork (its children become roots). The copy re-runs the same analysis on the same input;
 * with a nodes file the fork explores something else from that point.
 */
import { randomUUID } from 'node:crypto';
import { IdSchema, type ForkOrigin, type NodeSpecInput, type TreeSpecInput } from '../common/schemas';
import type { NodeStatus } from '../workflows/views';
import { sha256File } from '../activities/publish';
import { ForkSourceError, InvalidInputError } from './errors';
import type { RagomicsClient, TreeHandle } from './sdk';

/**
 * The new tree's spec as a fork takes it: any tree spec field except the ones the fork sets
 * (`inputDataPath`, `origin`) or that need several inputs (`samples`, `forEachSample`).
 * `nodes` empty or absent: copy the source node's descendants.
 */
export type ForkSpecInput = Omit<TreeSpecInput, 'inputDataPath' | 'origin' | 'samples' | 'forEachSample'>;

/** Fields a fork spec must not hold, and why (one line each). */
export const FORK_FORBIDDEN_FIELDS: Readonly<Record<string, string>> = {
  inputDataPath: 'set by fork (the forked node\'s output); remove it',
  origin: 'set by fork; remove it',
  samples: 'a fork starts from one node\'s output; a cohort cannot be forked into',
  forEachSample: 'a fork starts from one node\'s output; a cohort cannot be forked into',
};

/** Options of {@link forkTree}. */
export interface ForkOptions {
  /**
   * Read the output file and check its sha256 against the recorded one before starting. Turn it
   * off only where the workspace is not visible (the workers check their input anyway).
   * @default true
   */
  verifyOutput?: boolean;
  /** Task queue of the new tree. @default the source tree's task queue (its workers see the output) */
  taskQueue?: string;
}

/** What {@link forkTree} started. */
export interface ForkedTree {
  tree: TreeHandle;
  origin: ForkOrigin;
  /** Ids of the new tree's nodes at start. */
  nodeIds: string[];
  /** True when the nodes are a copy of the source node's descendants (no nodes were given). */
  copied: boolean;
  taskQueue: string;
}

/** See {@link RagomicsClient.forkTree}. */
export async function forkTree(rc: RagomicsClient, treeId: string, nodeId: string, spec: ForkSpecInput = {}, options: ForkOptions = {}): Promise<ForkedTree> {
  checkIds(treeId, nodeId);
  checkForkSpec(spec);
  const source = rc.getTree(treeId);
  const status = await source.status({ details: true, nodeWaits: false });
  const node = status.nodes.find((n) => n.id === nodeId);
  if (!node) throw new ForkSourceError('unknown-node', `NODE: no node "${nodeId}" in tree "${treeId}" (it has ${status.totalNodes} node(s))`);
  if (node.state !== 'COMPLETED') {
    throw new ForkSourceError('not-completed', `NODE: node "${nodeId}" of tree "${treeId}" is ${node.state}, not COMPLETED; only a completed node's output can be forked`);
  }
  if (!node.outputPath || !node.sha256) {
    throw new ForkSourceError('no-output', `NODE: node "${nodeId}" of tree "${treeId}" completed without an AnnData output (_node_anndata.h5ad); there is nothing to fork from`);
  }
  const origin: ForkOrigin = { treeId, nodeId, outputPath: node.outputPath, outputSha256: node.sha256 };
  if (options.verifyOutput !== false) await verifyOutput(origin);

  const given = spec.nodes ?? [];
  const nodes = given.length > 0 ? given : copyDescendants(status.nodes, nodeId, treeId);
  const taskQueue = options.taskQueue ?? (await source.workflow.describe()).taskQueue;
  const id = spec.id ?? forkId(treeId);
  const tree = await rc.startTree(
    { userRequest: `fork of tree ${treeId} at node ${nodeId}`, ...spec, id, nodes, inputDataPath: origin.outputPath, origin },
    { taskQueue, ifIdTaken: 'fail' },
  );
  return { tree, origin, nodeIds: nodes.map((n) => n.id), copied: given.length === 0, taskQueue };
}

function checkIds(treeId: string, nodeId: string): void {
  for (const [name, value] of [['TREE', treeId], ['NODE', nodeId]] as const) {
    const parsed = IdSchema.safeParse(value);
    if (!parsed.success) throw new InvalidInputError(`${name}: "${value}" ${parsed.error.issues[0]?.message ?? 'is not a valid id'}`);
  }
}

/** Rejects the fields a fork sets itself (for callers that bypass the type). */
export function checkForkSpec(spec: object): void {
  const problems = Object.keys(spec).filter((k) => k in FORK_FORBIDDEN_FIELDS && (spec as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${k}: ${FORK_FORBIDDEN_FIELDS[k]}`);
  if (problems.length > 0) throw new InvalidInputError(problems);
}

/** `<tree>-fork-<8 hex>`, cut so the id stays within the 128 characters of an id. */
function forkId(treeId: string): string {
  return `${treeId.slice(0, 128 - 14)}-fork-${randomUUID().slice(0, 8)}`;
}

/** Hashes the published output and compares it with the sha256 recorded when it was published. */
async function verifyOutput(origin: ForkOrigin): Promise<void> {
  let actual: string;
  try {
    actual = await sha256File(origin.outputPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ForkSourceError('output-unreadable', `NODE: cannot read the output of node "${origin.nodeId}" at ${origin.outputPath} (${code}) to verify its sha256; is the workspace visible from here?`, { cause: err });
  }
  if (actual !== origin.outputSha256) {
    throw new ForkSourceError('output-changed', `NODE: the output of node "${origin.nodeId}" at ${origin.outputPath} changed after it was published (sha256 ${actual.slice(0, 12)}…, recorded ${origin.outputSha256.slice(0, 12)}…)`);
  }
}

/**
 * The descendants of `forkNodeId` (nodes reading it, by `parentId` or `inputs`, transitively),
 * as nodes of a new tree whose input is the fork node's output: its children become roots,
 * dependencies on nodes outside the copy are dropped, and a node's sample is dropped (the new
 * tree has none). Every other setting the status shows (block, priority, timeout, retries,
 * resources, task queue) is kept.
 * @throws ForkSourceError `nothing-to-copy` when the node has no descendants; `cannot-copy` when
 *   a descendant reads a node outside the copy (it could not get that input in the new tree).
 */
export function copyDescendants(nodes: readonly NodeStatus[], forkNodeId: string, treeId: string): NodeSpecInput[] {
  const inCopy = new Set<string>();
  const reads = (n: NodeStatus): string[] => [...(n.parentId ? [n.parentId] : []), ...(n.inputs ?? [])];
  // Status order is insertion order, and a node is inserted after every node it reads.
  for (const n of nodes) {
    if (reads(n).some((r) => r === forkNodeId || inCopy.has(r))) inCopy.add(n.id);
  }
  if (inCopy.size === 0) {
    throw new ForkSourceError('nothing-to-copy', `NODES_FILE: node "${forkNodeId}" of tree "${treeId}" has no descendants to copy; give the new tree's nodes in a nodes file`);
  }
  const out: NodeSpecInput[] = [];
  for (const n of nodes) {
    if (!inCopy.has(n.id)) continue;
    const outside = (n.inputs ?? []).filter((i) => !inCopy.has(i));
    if (outside.length > 0) {
      throw new ForkSourceError('cannot-copy', `NODES_FILE: node "${n.id}" reads ${outside.map((i) => `"${i}"`).join(', ')}, which the copy of "${forkNodeId}"'s descendants does not hold; give the new tree's nodes in a nodes file`);
    }
    if (!n.blockSpec) throw new Error(`status of node "${n.id}" has no block: it was read without details`);
    const copy: NodeSpecInput = {
      id: n.id,
      parentId: n.parentId !== null && inCopy.has(n.parentId) ? n.parentId : null,
      dependencies: (n.dependencies ?? []).filter((d) => inCopy.has(d)),
      block: n.blockSpec,
      ...(n.inputs ? { inputs: n.inputs } : {}),
    };
    for (const k of ['priority', 'timeout', 'maxRetries', 'resources', 'expectedDuration', 'taskQueue'] as const) {
      if (n[k] !== undefined) Object.assign(copy, { [k]: n[k] });
    }
    out.push(copy);
  }
  return out;
}
