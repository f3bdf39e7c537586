/**
 * The status object of CONTRACT.md (`--json`) and its human-readable rendering.
 */
import { addedBy, type NodeEvent, type Provenance } from '../../workflows/provenance';
import type { TreeStatus } from '../../workflows/views';
import type { LiveNodeStatus, LiveTreeStatus, NodeWait } from '../slot-wait';
import { formatCacheStats, nodeCacheInfo, type CacheStats } from '../cache-stats';

/** One node of the contract's status object (contract fields first, then extensions). */
export interface ContractNode {
  id: string;
  parentId: string | null;
  state: string;
  attempts: number;
  queuedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
  block: string;
  outputPath: string | null;
  /** Why a RUNNING node has not started: dispatched, but no worker took it yet (else null). */
  waitingFor: NodeWait | null;
  /** The node's sample (only on nodes of a cohort's `forEachSample` templates). */
  sample?: string;
  /** A multi-input node's inputs, in order (only on such nodes). */
  inputs?: string[];
  /** Who or what added the node, and when (docs/provenance.md); absent only from a worker running older code. */
  provenance?: Provenance;
  /** What happened to the node after it was added: repairs, cache hits, shared waits (only when any). */
  events?: NodeEvent[];
  /** A cacheable node's cache key, whether it reused a cached output and from where (absent: not cacheable). */
  cache?: TreeStatus['nodes'][number]['cache'];
  /** A FAILED or TIMEOUT node's failure type (e.g. `SharedComputationFailedError`); absent on other nodes. */
  errorType?: string;
  /** Only while a RUNNING node waits for another tree's node computing the same cache key: that node, since when. */
  sharedWait?: { treeId: string; nodeId: string; since: string };
}

/** The contract's final status object, extended with counts and the tree's settings. */
export interface ContractStatus {
  treeId: string;
  state: 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'RUNNING';
  nodes: ContractNode[];
  metrics: TreeStatus['metrics'];
  counts: TreeStatus['counts'];
  totalNodes: number;
  paused: boolean;
  maxParallelJobs: number;
  userRequest: string;
  rejected: TreeStatus['rejected'];
  /** RUNNING nodes that wait for a worker slot (counted among the running ones). */
  waitingForWorkerSlot: number;
  /** A cohort's samples in sheet order, with their sheet columns (only for trees with samples). */
  samples?: TreeStatus['samples'];
  /** A forked tree: the tree, node and published output (path, sha256) it started from. */
  origin?: TreeStatus['origin'];
}

/** Maps the workflow's status to the contract shape (stable key order, no paging fields). */
export function toContractStatus(s: LiveTreeStatus): ContractStatus {
  return {
    treeId: s.treeId,
    state: s.state,
    nodes: s.nodes.map((n: LiveNodeStatus) => ({
      id: n.id, parentId: n.parentId ?? null, state: n.state, attempts: n.attempts,
      queuedAt: n.queuedAt, startedAt: n.startedAt ?? null, endedAt: n.endedAt ?? null, error: n.error ?? null,
      block: n.block, outputPath: n.outputPath ?? null, waitingFor: n.waitingFor ?? null,
      ...(n.sample !== undefined ? { sample: n.sample } : {}),
      ...(n.inputs !== undefined ? { inputs: n.inputs } : {}),
      ...(n.provenance !== undefined ? { provenance: n.provenance } : {}),
      ...(n.events !== undefined ? { events: n.events } : {}),
      ...(n.cache !== undefined ? { cache: n.cache } : {}),
      ...(n.errorType !== undefined ? { errorType: n.errorType } : {}),
      ...(n.sharedWait !== undefined ? { sharedWait: n.sharedWait } : {}),
    })),
    metrics: s.metrics,
    counts: s.counts,
    totalNodes: s.totalNodes,
    paused: s.paused,
    maxParallelJobs: s.maxParallelJobs,
    userRequest: s.userRequest,
    rejected: s.rejected,
    waitingForWorkerSlot: s.waitingForWorkerSlot ?? 0,
    ...(s.samples ? { samples: s.samples } : {}),
    ...(s.origin ? { origin: s.origin } : {}),
  };
}

/** A short form of a node's wait for narrow views: `waiting for a worker slot on "q" 3.2s`. */
export function shortWait(w: NodeWait, now = Date.now()): string {
  const since = formatDuration((now - Date.parse(w.since)) / 1000);
  return w.kind === 'worker-slot'
    ? `waiting for a worker slot on "${w.taskQueue}" ${since}`
    : `waiting to retry (attempt ${w.attempt} at ${w.until ?? '?'})`;
}

/** Why a READY node has not been dispatched: the tree is paused, or its own cap is reached. */
function readyReason(s: LiveTreeStatus): string {
  if (s.paused) return 'waiting: the tree is paused';
  return s.counts.RUNNING >= s.maxParallelJobs
    ? `waiting for one of the tree's ${s.maxParallelJobs} slots (maxParallelJobs; ${s.counts.RUNNING} running)`
    : 'about to be dispatched';
}

/** Seconds as `1.2s`, `3m04s`, `2h05m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Elapsed run time of a node: end (or `now` while running) minus its last start. */
export function nodeElapsed(n: Pick<LiveNodeStatus, 'startedAt' | 'endedAt'>, now = Date.now()): number | null {
  if (!n.startedAt) return null;
  const end = n.endedAt ? Date.parse(n.endedAt) : now;
  return Math.max(0, (end - Date.parse(n.startedAt)) / 1000);
}

/** Pads or cuts to a column width. */
export function cell(s: string, width: number): string {
  return s.length > width ? `${s.slice(0, width - 1)}…` : s.padEnd(width);
}

/**
 * Human-readable status: a header, the metrics (with the cache's hits, misses and savings when
 * `cache` is given and any node was cacheable), the fork origin, and one line per node.
 */
export function renderStatusText(s: LiveTreeStatus, now = Date.now(), cache?: CacheStats): string {
  const c = s.counts;
  const failed = c.FAILED + c.TIMEOUT;
  const slot = s.waitingForWorkerSlot ? ` (${s.waitingForWorkerSlot} waiting for a worker slot)` : '';
  const lines = [
    `tree ${s.treeId}: ${s.state}${s.paused ? ' (paused)' : ''}`,
    `  nodes ${s.totalNodes}: ${c.COMPLETED} completed, ${c.RUNNING} running${slot}, ${c.READY} ready, ${c.PENDING + c.WAITING} waiting, ${failed} failed, ${c.CANCELLED} cancelled`,
    `  metrics: makespan ${formatDuration(s.metrics.makespan)}, avg wait ${formatDuration(s.metrics.avgWaitTime)}, avg run ${formatDuration(s.metrics.avgExecutionTime)}, success ${(s.metrics.successRate * 100).toFixed(0)}%, maxParallelJobs ${s.maxParallelJobs}`,
    ...(s.origin ? [`  forked from tree ${s.origin.treeId}, node ${s.origin.nodeId}: ${s.origin.outputPath} (sha256 ${s.origin.outputSha256.slice(0, 12)}…)`] : []),
    ...(cache && cache.cacheable > 0 ? [`  cache: ${formatCacheStats(cache)}`] : []),
    '',
    `  ${cell('NODE', 24)} ${cell('BLOCK', 20)} ${cell('STATE', 10)} ${cell('TRIES', 5)} ${cell('ELAPSED', 8)} ${cell('ADDED BY', 18)} ERROR`,
  ];
  // A cohort: one group per sample (sheet order, with its columns), then the nodes of no sample.
  const groups: Array<{ title: string | null; nodes: LiveNodeStatus[] }> = [];
  if (s.samples && s.samples.length > 0) {
    const bySample = new Map<string, LiveNodeStatus[]>(s.samples.map((x) => [x.sample, []]));
    const rest: LiveNodeStatus[] = [];
    for (const n of s.nodes) {
      const group = n.sample !== undefined ? bySample.get(n.sample) : undefined;
      if (group) group.push(n);
      else rest.push(n);
    }
    for (const x of s.samples) {
      const cols = Object.entries(x.columns).map(([k, v]) => `${k}=${v}`).join(', ');
      groups.push({ title: `sample ${x.sample}${cols ? ` (${cols})` : ''}`, nodes: bySample.get(x.sample) ?? [] });
    }
    groups.push({ title: 'cohort nodes', nodes: rest });
  } else {
    groups.push({ title: null, nodes: s.nodes });
  }
  for (const g of groups) {
    if (g.title !== null) lines.push(`  ${g.title}`);
    for (const n of g.nodes) renderNode(n);
  }
  for (const r of s.rejected) lines.push(`  rejected request ${r.requestId} (${r.source}): ${r.errors.join('; ')}`);
  return `${lines.join('\n')}\n`;

  function renderNode(n: LiveNodeStatus): void {
    const el = nodeElapsed(n, now);
    lines.push(`  ${cell(n.id, 24)} ${cell(n.block, 20)} ${cell(n.state, 10)} ${cell(String(n.attempts), 5)} ${cell(el === null ? '-' : formatDuration(el), 8)} ${cell(addedBy(n.provenance), 18)} ${n.error ? n.error.split('\n')[0] : ''}`.trimEnd());
    // The agent's rationale and what happened to the node since, one line each (cut to the terminal's taste).
    if (n.provenance?.reason) lines.push(`    ↳ ${n.provenance.by} (${n.provenance.url ?? ''}): ${cell(n.provenance.reason.replace(/\s+/g, ' '), 160).trimEnd()}`);
    for (const e of n.events ?? []) lines.push(`    ↳ ${e.kind} ${e.at.slice(11, 19)}: ${cell(e.detail.replace(/\s+/g, ' '), 160).trimEnd()}`);
    // Why a node that is not running yet waits: for a worker (dispatched) or for the tree (READY).
    if (n.waitingFor) lines.push(`    ↳ ${n.waitingFor.reason}; for ${formatDuration((now - Date.parse(n.waitingFor.since)) / 1000)}`);
    else if (n.sharedWait) lines.push(`    ↳ waiting for the same computation in tree ${n.sharedWait.treeId} node ${n.sharedWait.nodeId}; for ${formatDuration((now - Date.parse(n.sharedWait.since)) / 1000)}`);
    else if (n.state === 'READY' && s.state === 'RUNNING') lines.push(`    ↳ ${readyReason(s)}`);
    if (n.inputs) lines.push(`    ↳ reads ${n.inputs.length} input(s): ${n.inputs.length > 6 ? `${n.inputs.slice(0, 6).join(', ')}, …` : n.inputs.join(', ')}`);
    const hit = nodeCacheInfo(n);
    if (hit?.hit) lines.push(`    ↳ cached${hit.from ? ` from ${hit.from.treeId}/${hit.from.nodeId} attempt ${hit.from.attempt}` : ''}${hit.waitedFor ? ` (after waiting for ${hit.waitedFor.treeId}/${hit.waitedFor.nodeId})` : ''}`);
  }
}
