/**
 * Gathers everything a tree report shows: status and metrics (query), every attempt (timeline
 * query), each node's block and dependencies (status `details`), and from the workspace when visible: block
 * results, figures and log tails.
 */
import path from 'node:path';
import { dataDir } from '../../activities/executors/repo-root';
import type { Block } from '../../common/schemas';
import type { TimelineEntry } from '../../workflows/views';
import type { LiveTreeStatus } from '../slot-wait';
import type { TreeHandle } from '../sdk';
import { cacheStats, workspaceSavings, type CacheStats } from '../cache-stats';
import { figureBudget, logTail, readFigures, readPublishedResult, treeDir, type Figure, type PublishedResult } from './workspace';
import { hasLogTailSection } from '../../common/log-tail';

/** One node as the report shows it. */
export interface ReportNode {
  /** With `waitingFor` while the tree runs and no worker has started the node yet. */
  status: LiveTreeStatus['nodes'][number];
  block: Block | null;
  dependencies: string[];
  result: PublishedResult | null;
  figures: Figure[];
  logTail: { file: string; text: string } | null;
}

/** Everything the report renders. */
export interface ReportData {
  status: LiveTreeStatus;
  timeline: TimelineEntry[];
  nodes: ReportNode[];
  generatedAt: Date;
  /** Where logs and figures were looked for. */
  workspaceTreeDir: string;
  /** Cache hits, misses and savings (client/cache-stats.ts); absent or `cacheable` 0: no cache section. */
  cache?: CacheStats;
}

/** Options of {@link collectReport}. */
export interface CollectOptions {
  /** Workspace root used when no node output reveals it. @default env RAGOMICS_WORKSPACE, else `<data dir>/workspace` (activities/executors/repo-root.ts) */
  workspace?: string;
}

/** Collects the report data of one tree. */
export async function collectReport(tree: TreeHandle, options: CollectOptions = {}): Promise<ReportData> {
  // One query after the other: two at once right after a tree closed can lose one (TreeHandle.retryDroppedQuery).
  const status = await tree.status({ details: true });
  const timeline = await tree.timeline();
  const fallbackRoot = options.workspace ?? process.env.RAGOMICS_WORKSPACE ?? path.join(dataDir(), 'workspace');
  const outputs = status.nodes.map((n) => n.outputPath).filter((p): p is string => typeof p === 'string' && p.length > 0);
  const dir = treeDir(status.treeId, outputs, fallbackRoot);
  const budget = figureBudget();
  const nodes = status.nodes.map((n): ReportNode => {
    // The worker often puts the log tail into the error already; read the workspace only when it did not.
    const failed = (n.state === 'FAILED' || n.state === 'TIMEOUT' || (n.state === 'CANCELLED' && n.attempts > 0)) && !hasLogTailSection(n.error);
    return {
      status: n,
      block: n.blockSpec ?? null,
      dependencies: n.dependencies ?? (n.parentId ? [n.parentId] : []),
      result: n.outputPath ? readPublishedResult(n.outputPath) : null,
      figures: n.outputPath ? readFigures(n.outputPath, budget) : [],
      logTail: failed ? logTail(dir, n.id) : null,
    };
  });
  // The workspace root is the one the tree folder sits in (two levels up from `<root>/trees/<tree>`).
  const cache = cacheStats(status.nodes, workspaceSavings(path.dirname(path.dirname(dir))));
  return { status, timeline, nodes, generatedAt: new Date(), workspaceTreeDir: dir, cache };
}
