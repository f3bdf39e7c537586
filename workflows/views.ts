/**
 * Read-only views of a tree computed from its node records: the status object of CONTRACT.md,
 * the seed's metrics (and more), and the per-attempt timeline. Pure functions, so the workflow's
 * queries, its final result and the unit tests all compute them the same way.
 */
import type { Block, ForkOrigin, NodeState, Resources } from '../common/schemas';
import { TERMINAL_STATES } from '../common/schemas';
import { blockLabel, timeOf, type AttemptState, type NodeCacheRecord, type NodeRecord } from './node-record';
import { provenanceOf, type NodeEvent, type Provenance } from './provenance';

/** Overall state of a tree. */
export type TreeState = 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** One node in the status object. */
export interface NodeStatus {
  id: string;
  parentId: string | null;
  block: string;
  state: NodeState;
  attempts: number;
  queuedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
  /**
   * The failure type of a FAILED or TIMEOUT node's last attempt (common/failure-types.ts, e.g.
   * `SharedComputationFailedError`), so clients tell failures apart by type, not by message text.
   * Absent on other nodes.
   */
  errorType?: string;
  outputPath?: string | null;
  sha256?: string | null;
  summary?: string;
  transitions?: { state: NodeState; at: string; reason?: string }[];
  /** With `details`: what the node runs and what it waits for. */
  blockSpec?: Block;
  dependencies?: string[];
  /** The sample the node belongs to (only on nodes expanded from `forEachSample`). */
  sample?: string;
  /** A node with several inputs: their node ids, in order (only on such nodes). */
  inputs?: string[];
  /**
   * Who or what added the node, and when (workflows/provenance.ts). Always set by this code;
   * optional because a status may come from a worker running older code.
   */
  provenance?: Provenance;
  /** What happened to the node after it was added (only when something did). */
  events?: NodeEvent[];
  /** With `details`: the rest of the node's spec (what a fork copies; absent fields were not set). */
  priority?: number;
  timeout?: number;
  maxRetries?: number;
  resources?: Resources;
  expectedDuration?: number;
  taskQueue?: string;
  /** Cache facts of a cacheable node: its key, whether it reused a cached output, from where (absent: not cacheable). */
  cache?: NodeCacheRecord;
  /**
   * Only while a RUNNING node waits for another node computing the same cache key (key lease):
   * that node, and since when (ISO-8601). It runs nothing meanwhile (no worker slot).
   */
  sharedWait?: { treeId: string; nodeId: string; since: string };
}

/** One sample of a cohort in the status: its id, `.h5ad` and further sheet columns. */
export interface SampleStatus {
  sample: string;
  path: string;
  columns: Record<string, string>;
}

/** The seed's metrics plus what a scheduler should be judged by. Times in seconds. */
export interface TreeMetrics {
  totalProcessed: number;
  avgWaitTime: number;
  avgExecutionTime: number;
  successRate: number;
  makespan: number;
  criticalPathLength: number;
  parallelEfficiency: number;
  totalAttempts: number;
  retries: number;
}

/** A rejected fire-and-forget addition, kept for the status. */
export interface RejectedAddition {
  requestId: string;
  source: string;
  at: string;
  errors: string[];
}

/** The status object of CONTRACT.md, extended. */
export interface TreeStatus {
  treeId: string;
  state: TreeState;
  userRequest: string;
  paused: boolean;
  maxParallelJobs: number;
  /** Seed names: RUNNING nodes, READY nodes waiting for a slot, nodes that reached an end state. */
  runningJobs: number;
  queueSize: number;
  totalProcessed: number;
  counts: Record<NodeState, number>;
  totalNodes: number;
  offset: number;
  nodes: NodeStatus[];
  rejected: RejectedAddition[];
  metrics: TreeMetrics;
  /** How many times this tree continued as new (one logical run). */
  runs: number;
  /** The cohort's samples in sheet order (only for trees with samples). */
  samples?: SampleStatus[];
  /** A forked tree: the tree, node and published output it started from (spec `origin`). */
  origin?: ForkOrigin;
}

/** One bar of the timeline: one attempt of one node. */
export interface TimelineEntry {
  node: string;
  parentId: string | null;
  block: string;
  attempt: number;
  state: AttemptState;
  queued: string;
  ready: string | null;
  started: string | null;
  ended: string | null;
  duration: number | null;
  worker: string | null;
  exitCode: number | null;
  peakMemoryMB: number | null;
  error: string | null;
}

/** A page of the timeline. */
export interface TimelinePage {
  treeId: string;
  total: number;
  offset: number;
  entries: TimelineEntry[];
}

/** Small, cheap summary for watchers: `version` changes whenever anything changes. */
export interface TreeSummary {
  treeId: string;
  state: TreeState;
  version: number;
  counts: Record<NodeState, number>;
  totalNodes: number;
  paused: boolean;
  maxParallelJobs: number;
}

const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

/** At most this many nodes in a tree result's final status (the `status` query's largest page). */
export const FINAL_STATUS_MAX_NODES = 5000;
/**
 * At most this many characters of JSON in a tree result's final status: the result is one
 * payload of the workflow's last history event, which the server warns about above 512 KiB and
 * refuses at 2 MiB, and every reader of the history carries it.
 */
export const FINAL_STATUS_MAX_CHARS = 256 * 1024;

/**
 * `status` when it may travel in the tree's result (TreeResult.status): every node of the tree,
 * at most {@link FINAL_STATUS_MAX_NODES} of them and {@link FINAL_STATUS_MAX_CHARS} characters
 * of JSON; else undefined (the client then asks the closed workflow).
 */
export function statusForResult(status: TreeStatus): TreeStatus | undefined {
  if (status.offset !== 0 || status.nodes.length !== status.totalNodes || status.totalNodes > FINAL_STATUS_MAX_NODES) return undefined;
  return JSON.stringify(status).length <= FINAL_STATUS_MAX_CHARS ? status : undefined;
}

/** Counts of nodes per state (all eight keys present). */
export function countStates(nodes: Iterable<NodeRecord>): Record<NodeState, number> {
  const counts: Record<NodeState, number> = { PENDING: 0, WAITING: 0, READY: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, TIMEOUT: 0 };
  for (const n of nodes) counts[n.state]++;
  return counts;
}

/** Real start of a node's last attempt (worker time), if it ever started. */
export function lastStart(rec: NodeRecord): number | null {
  const a = rec.attempts[rec.attempts.length - 1];
  return a ? (a.startedAt ?? a.scheduledAt) : null;
}

/** Real end of a node's last attempt, if it ended. */
export function lastEnd(rec: NodeRecord): number | null {
  const a = rec.attempts[rec.attempts.length - 1];
  if (a && a.endedAt != null) return a.endedAt;
  return TERMINAL_STATES.includes(rec.state) ? (timeOf(rec, rec.state) ?? null) : null;
}

/** Status of one node; `withTransitions` adds the full life of the node. */
export function nodeStatus(rec: NodeRecord, withTransitions = false, withDetails = false): NodeStatus {
  const s: NodeStatus = {
    id: rec.id,
    parentId: rec.parentId,
    block: blockLabel(rec.block),
    state: rec.state,
    attempts: rec.attempts.length,
    queuedAt: new Date(rec.queuedAt).toISOString(),
    startedAt: iso(lastStart(rec)),
    endedAt: iso(lastEnd(rec)),
    error: rec.error ?? null,
    outputPath: rec.output?.outputPath ?? null,
    sha256: rec.output?.sha256 ?? null,
    summary: rec.output?.summary ?? '',
    provenance: provenanceOf(rec),
  };
  if (rec.events && rec.events.length > 0) s.events = rec.events;
  // Only on cohort nodes, so the status of a single-input tree is exactly what it was.
  if (rec.sample !== undefined) s.sample = rec.sample;
  if (rec.inputs !== undefined) s.inputs = rec.inputs;
  if (rec.cache !== undefined) s.cache = rec.cache;
  const lastAttempt = rec.attempts[rec.attempts.length - 1];
  if ((rec.state === 'FAILED' || rec.state === 'TIMEOUT') && lastAttempt?.errorType) s.errorType = lastAttempt.errorType;
  if (rec.sharedWait !== undefined) s.sharedWait = { treeId: rec.sharedWait.treeId, nodeId: rec.sharedWait.nodeId, since: new Date(rec.sharedWait.since).toISOString() };
  if (withDetails) {
    s.blockSpec = rec.block;
    s.dependencies = rec.dependencies;
    s.priority = rec.priority;
    // The optional settings only when set, so a copy of the node (fork) takes the same defaults.
    for (const k of ['timeout', 'maxRetries', 'resources', 'expectedDuration', 'taskQueue'] as const) {
      if (rec[k] !== undefined) Object.assign(s, { [k]: rec[k] });
    }
  }
  if (withTransitions) {
    s.transitions = rec.transitions.map(([state, at, reason]) => (reason ? { state, at: new Date(at).toISOString(), reason } : { state, at: new Date(at).toISOString() }));
  }
  return s;
}

/**
 * The seed's metrics, plus makespan (first start to last end), critical-path length (the longest
 * dependency chain by real execution times) and parallel efficiency (busy slot-seconds over
 * makespan × maxParallelJobs).
 */
export function computeMetrics(nodes: readonly NodeRecord[], maxParallelJobs: number): TreeMetrics {
  let processed = 0, completed = 0, waitSum = 0, waitN = 0, execSum = 0, execN = 0, attempts = 0, busy = 0;
  let first = Infinity, last = -Infinity;
  const byId = new Map<string, NodeRecord>();
  for (const rec of nodes) {
    byId.set(rec.id, rec);
    attempts += rec.attempts.length;
    if (TERMINAL_STATES.includes(rec.state) && rec.attempts.length > 0) processed++;
    if (rec.state === 'COMPLETED') completed++;
    const ready = timeOf(rec, 'READY');
    const firstAttempt = rec.attempts[0];
    if (ready !== undefined && firstAttempt) {
      waitSum += Math.max(0, (firstAttempt.startedAt ?? firstAttempt.scheduledAt) - ready);
      waitN++;
    }
    for (const a of rec.attempts) {
      if (a.startedAt == null || a.endedAt == null) continue;
      const d = Math.max(0, a.endedAt - a.startedAt);
      busy += d;
      first = Math.min(first, a.startedAt);
      last = Math.max(last, a.endedAt);
    }
    const s = lastStart(rec), e = lastEnd(rec);
    if (s != null && e != null && rec.attempts.length > 0 && TERMINAL_STATES.includes(rec.state)) {
      execSum += Math.max(0, e - s);
      execN++;
    }
  }
  const makespanMs = Number.isFinite(first) ? last - first : 0;
  // Longest chain ending at each node, by real run time of its last attempt, in insertion order
  // (dependencies are always inserted before their dependents).
  const chain = new Map<string, number>();
  let critical = 0;
  for (const rec of nodes) {
    const s = lastStart(rec), e = lastEnd(rec);
    const own = s != null && e != null && rec.attempts.length > 0 ? Math.max(0, e - s) : 0;
    let before = 0;
    for (const d of rec.dependencies) before = Math.max(before, chain.get(d) ?? 0);
    chain.set(rec.id, before + own);
    critical = Math.max(critical, before + own);
  }
  const sec = (ms: number) => Math.round(ms) / 1000;
  return {
    totalProcessed: processed,
    avgWaitTime: waitN ? sec(waitSum / waitN) : 0,
    avgExecutionTime: execN ? sec(execSum / execN) : 0,
    successRate: processed ? completed / processed : 0,
    makespan: sec(makespanMs),
    criticalPathLength: sec(critical),
    parallelEfficiency: makespanMs > 0 ? Math.round((busy / (makespanMs * maxParallelJobs)) * 1000) / 1000 : 0,
    totalAttempts: attempts,
    retries: Math.max(0, attempts - nodes.filter((n) => n.attempts.length > 0).length),
  };
}

/** The timeline: one entry per node attempt (nodes never started get one entry without times). */
export function timelineEntries(nodes: readonly NodeRecord[]): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  for (const rec of nodes) {
    const ready = timeOf(rec, 'READY') ?? null;
    const base = { node: rec.id, parentId: rec.parentId, block: blockLabel(rec.block), queued: new Date(rec.queuedAt).toISOString(), ready: iso(ready) };
    if (rec.attempts.length === 0) {
      out.push({ ...base, attempt: 0, state: rec.state === 'RUNNING' ? 'RUNNING' : (rec.state as AttemptState), started: null, ended: null, duration: null, worker: null, exitCode: null, peakMemoryMB: null, error: rec.error ?? null });
      continue;
    }
    for (const a of rec.attempts) {
      out.push({
        ...base,
        attempt: a.n,
        state: a.state,
        started: iso(a.startedAt),
        ended: iso(a.endedAt),
        duration: a.startedAt != null && a.endedAt != null ? (a.endedAt - a.startedAt) / 1000 : null,
        worker: a.worker ?? null,
        exitCode: a.exitCode ?? null,
        peakMemoryMB: a.peakMemoryMB ?? null,
        error: a.error ?? null,
      });
    }
  }
  return out;
}
