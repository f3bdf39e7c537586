/**
 * The status object of CONTRACT.md (`--json`) and its human-readable rendering.
 */
import type { NodeStatus, TreeStatus } from '../../workflows/views';

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
}

/** Maps the workflow's status to the contract shape (stable key order, no paging fields). */
export function toContractStatus(s: TreeStatus): ContractStatus {
  return {
    treeId: s.treeId,
    state: s.state,
    nodes: s.nodes.map((n: NodeStatus) => ({
      id: n.id, parentId: n.parentId ?? null, state: n.state, attempts: n.attempts,
      queuedAt: n.queuedAt, startedAt: n.startedAt ?? null, endedAt: n.endedAt ?? null, error: n.error ?? null,
      block: n.block, outputPath: n.outputPath ?? null,
    })),
    metrics: s.metrics,
    counts: s.counts,
    totalNodes: s.totalNodes,
    paused: s.paused,
    maxParallelJobs: s.maxParallelJobs,
    userRequest: s.userRequest,
    rejected: s.rejected,
  };
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
export function nodeElapsed(n: Pick<NodeStatus, 'startedAt' | 'endedAt'>, now = Date.now()): number | null {
  if (!n.startedAt) return null;
  const end = n.endedAt ? Date.parse(n.endedAt) : now;
  return Math.max(0, (end - Date.parse(n.startedAt)) / 1000);
}

/** Pads or cuts to a column width. */
export function cell(s: string, width: number): string {
  return s.length > width ? `${s.slice(0, width - 1)}…` : s.padEnd(width);
}

/** Human-readable status: a header, the metrics and one line per node. */
export function renderStatusText(s: TreeStatus, now = Date.now()): string {
  const c = s.counts;
  const failed = c.FAILED + c.TIMEOUT;
  const lines = [
    `tree ${s.treeId}: ${s.state}${s.paused ? ' (paused)' : ''}`,
    `  nodes ${s.totalNodes}: ${c.COMPLETED} completed, ${c.RUNNING} running, ${c.READY} ready, ${c.PENDING + c.WAITING} waiting, ${failed} failed, ${c.CANCELLED} cancelled`,
    `  metrics: makespan ${formatDuration(s.metrics.makespan)}, avg wait ${formatDuration(s.metrics.avgWaitTime)}, avg run ${formatDuration(s.metrics.avgExecutionTime)}, success ${(s.metrics.successRate * 100).toFixed(0)}%, maxParallelJobs ${s.maxParallelJobs}`,
    '',
    `  ${cell('NODE', 24)} ${cell('BLOCK', 20)} ${cell('STATE', 10)} ${cell('TRIES', 5)} ${cell('ELAPSED', 8)} ERROR`,
  ];
  for (const n of s.nodes) {
    const el = nodeElapsed(n, now);
    lines.push(`  ${cell(n.id, 24)} ${cell(n.block, 20)} ${cell(n.state, 10)} ${cell(String(n.attempts), 5)} ${cell(el === null ? '-' : formatDuration(el), 8)} ${n.error ? n.error.split('\n')[0] : ''}`.trimEnd());
  }
  for (const r of s.rejected) lines.push(`  rejected request ${r.requestId} (${r.source}): ${r.errors.join('; ')}`);
  return `${lines.join('\n')}\n`;
}
