/**
 * Why each node exists: who or what added it and when (`provenance`), and what happened to it
 * afterwards (`events`: repairs, cache hits, waits on another tree's identical work). Plain data
 * on the node record, so it travels across continue-as-new with the record and adds no command
 * to a workflow's history (old histories replay unchanged). Workflow code: deterministic, times
 * come from the workflow clock the caller passes in.
 */
import type { ExpansionRule, TreeSpec } from '../common/schemas';

/** Who or what added a node. `source` on the record holds the same word. */
export type ProvenanceBy = 'spec' | 'client' | 'signal' | 'rule' | 'policy' | 'result' | 'samples' | 'fork';

/**
 * Who or what added a node, and when. Only the fields that apply are set: `requestId` for every
 * request (update, signal, rule, policy, result, samples), `client` for updates and signals whose
 * caller named itself, `rule` for rules, `url` and `reason` for the policy endpoint, `from` for
 * additions triggered by a node's completion (and, for a fork, `<treeId>/<nodeId>` it reads).
 */
export interface Provenance {
  by: ProvenanceBy;
  /** ISO time of the addition (workflow clock). */
  at: string;
  requestId?: string;
  client?: string;
  rule?: string;
  url?: string;
  reason?: string;
  from?: string;
}

/**
 * Who adds a batch of nodes, as the workflow knows it (the request adds its id and `client`):
 * `reasons` maps node ids to the policy endpoint's per-node rationale.
 */
export interface AdditionOrigin {
  by: ProvenanceBy;
  rule?: string;
  url?: string;
  from?: string;
  reasons?: ReadonlyMap<string, string>;
}

/** Kinds of {@link NodeEvent}: things that happen to a node after it was added. */
export const NODE_EVENT_KINDS = ['repair', 'cache-hit', 'shared-wait', 'fork'] as const;
export type NodeEventKind = (typeof NODE_EVENT_KINDS)[number];

/** One thing that happened to a node after it was added. */
export interface NodeEvent {
  kind: NodeEventKind;
  /** ISO time (workflow clock). */
  at: string;
  detail: string;
}

/** Most events kept per node: a node repaired again and again must not grow its record without bound. */
export const MAX_EVENTS_PER_NODE = 20;
/** Longest event detail kept (a fixer's explanation may be long; the status stays small). */
export const MAX_EVENT_DETAIL = 500;

/** What a record needs to hold provenance (NodeRecord has these fields). */
export interface WithProvenance {
  source: string;
  queuedAt: number;
  provenance?: Provenance;
  events?: NodeEvent[];
}

/**
 * Appends an event to a node record (`now`: the workflow clock, epoch ms). Keeps the latest
 * {@link MAX_EVENTS_PER_NODE} and cuts `detail` to {@link MAX_EVENT_DETAIL} characters. Never
 * throws. Call it from workflow code only (the record is workflow state).
 */
export function recordEvent(rec: WithProvenance, kind: NodeEventKind, detail: string, now: number): void {
  const events = (rec.events ??= []);
  events.push({ kind, at: new Date(now).toISOString(), detail: clip(detail, MAX_EVENT_DETAIL) });
  if (events.length > MAX_EVENTS_PER_NODE) events.splice(0, events.length - MAX_EVENTS_PER_NODE);
}

/**
 * A node's provenance; records written before provenance existed (carried across
 * continue-as-new, or replayed) get one derived from `source` and `queuedAt`.
 */
export function provenanceOf(rec: WithProvenance): Provenance {
  return rec.provenance ?? { by: (isBy(rec.source) ? rec.source : 'client'), at: new Date(rec.queuedAt).toISOString() };
}

function isBy(s: string): s is ProvenanceBy {
  return ['spec', 'client', 'signal', 'rule', 'policy', 'result', 'samples', 'fork'].includes(s);
}

/** Display name of rule number `index` (0-based) of the spec: its `name`, else `rule <index> (after <block>)`. */
export function ruleName(rule: Pick<ExpansionRule, 'after'> & { name?: string }, index: number): string {
  return rule.name ?? `rule ${index} (after ${rule.after})`;
}

/** Where a forked tree's root reads from (TreeSpec `origin`, set by `ragomics fork`). */
export interface ForkOrigin {
  treeId: string;
  nodeId: string;
}

/**
 * The fork origin of a spec, if it has one. Read loosely: `origin` is declared on TreeSpec by
 * the fork feature; a spec without it (or of a build without fork) has none.
 */
export function forkOrigin(spec: TreeSpec): ForkOrigin | undefined {
  const o = (spec as { origin?: unknown }).origin;
  if (typeof o !== 'object' || o === null) return undefined;
  const { treeId, nodeId } = o as Record<string, unknown>;
  return typeof treeId === 'string' && typeof nodeId === 'string' ? { treeId, nodeId } : undefined;
}

/**
 * One short line per addition for the Web UI's details: `rule "markers" added 2 (after leiden_1)`.
 * Consecutive nodes of one request make one line.
 */
export function describeAddition(p: Provenance, count: number): string {
  const n = `${count} node${count === 1 ? '' : 's'}`;
  switch (p.by) {
    case 'spec': return `spec: ${n}`;
    case 'client':
    case 'signal': return `${p.by === 'client' ? 'update' : 'signal'} ${p.requestId ?? ''} from ${p.client ?? 'an unnamed client'}: ${n}`;
    case 'rule': return `rule "${p.rule ?? '?'}" after ${p.from ?? '?'}: ${n}`;
    case 'policy': return `policy ${p.url ?? ''} after ${p.from ?? '?'}: ${n}${p.reason ? ` (${p.reason})` : ''}`;
    case 'result': return `suggested by ${p.from ?? '?'}: ${n}`;
    case 'samples': return `samples ${p.requestId ?? ''}: ${n}`;
    case 'fork': return `fork of ${p.from ?? '?'}: ${n}`;
  }
}

/**
 * The latest `limit` additions (newest first) as short lines, each at most `width` characters,
 * for the Web UI's current details. Bounded in size whatever the tree holds: it walks back from
 * the newest record and stops after `limit` groups. Nodes of one request (same `by`, request id
 * and reason) count as one addition.
 */
export function latestAdditions(order: readonly WithProvenance[], limit = 5, width = 160): string[] {
  const out: string[] = [];
  let group: { key: string; p: Provenance; count: number } | null = null;
  const flush = () => {
    if (group) out.push(`${group.p.at.slice(11, 19)} ${clip(describeAddition(group.p, group.count), width)}`);
  };
  for (let i = order.length - 1; i >= 0 && out.length < limit; i--) {
    const p = provenanceOf(order[i] as WithProvenance);
    const key = `${p.by}|${p.requestId ?? p.at}|${p.reason ?? ''}`;
    if (group && group.key === key) { group.count++; continue; }
    flush();
    group = { key, p, count: 1 };
  }
  if (out.length < limit) flush();
  return out;
}

/**
 * A few words for a narrow column: `spec`, `rule markers`, `policy`, `update cli: alice@…`,
 * `result qc`, `samples`, `fork t1/n3`; `-` when unknown (a status from older code).
 */
export function addedBy(p: Provenance | undefined): string {
  if (!p) return '-';
  switch (p.by) {
    case 'rule': return `rule ${p.rule ?? ''}`.trim();
    case 'result': return `result ${p.from ?? ''}`.trim();
    case 'client': return p.client ? `update ${p.client}` : 'update';
    case 'signal': return p.client ? `signal ${p.client}` : 'signal';
    case 'fork': return `fork ${p.from ?? ''}`.trim();
    default: return p.by;
  }
}

/**
 * The whole provenance as one readable line (report hover text, docs):
 * `policy http://agent:8700/ after leiden_1 · request policy:leiden_1 · 2026-11-29T08:01:02Z · reason: 7 clusters …`.
 */
export function provenanceText(p: Provenance): string {
  const who = p.by === 'client' ? 'update' : p.by;
  const parts = [
    [who, p.rule ? `"${p.rule}"` : '', p.url ?? '', p.from ? `${p.by === 'fork' ? 'of' : 'after'} ${p.from}` : '', p.client ? `from ${p.client}` : ''].filter(Boolean).join(' '),
  ];
  if (p.requestId) parts.push(`request ${p.requestId}`);
  parts.push(p.at);
  if (p.reason) parts.push(`reason: ${p.reason}`);
  return parts.join(' · ');
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
