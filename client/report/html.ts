/**
 * The tree report: one self-contained HTML page with the tree as a graph, the metrics, a table
 * of nodes (parameters, wait and run times, outputs), the Gantt timeline, the figures the
 * blocks produced (embedded), and each error with the tail of its log. A cohort tree (issue 12)
 * also gets a Samples section (one QC row per sample: cells and genes before and after, and the
 * state of each of the sample's nodes), its nodes table grouped by sample, and its timeline rows
 * grouped by sample.
 */
import { ganttScript, ganttSection } from '../timeline/html';
import { buildGantt, timelineSamples, waitSeconds } from '../timeline/model';
import { escapeHtml, htmlPage } from '../timeline/page';
import type { ReportData, ReportNode } from './collect';
import { blockName, groupBySample, QC_BLOCK, qcRows, sheetColumns, type NodeGroup } from './cohort';
import { graphContainer, graphScript, NODE_STATE_COLORS } from './graph';
import { addedBy, provenanceText } from '../../workflows/provenance';
import { cacheStats, formatBytes, nodeCacheInfo } from '../cache-stats';
import { hasLogTailSection } from '../../common/log-tail';

/** Renders the report. */
export function reportHtml(data: ReportData): string {
  const s = data.status;
  const gantt = buildGantt(data.timeline, data.generatedAt.getTime(), new Map(s.nodes.map((n) => [n.id, n.endedAt])), timelineSamples(s));
  const groups = groupBySample(data.nodes, s.samples);
  const body = [
    `<h1>Analysis tree ${escapeHtml(s.treeId)} ${badge(s.state)}</h1>`,
    `<div class="meta">${s.userRequest ? `${escapeHtml(s.userRequest)} · ` : ''}report generated ${escapeHtml(data.generatedAt.toISOString())}</div>`,
    originNote(data),
    metricCards(data),
    cacheCards(data),
    slotWaitNote(data),
    samplesSection(groups, data.nodes),
    '<h2>Tree</h2>',
    '<div class="meta">Solid arrows: parent → child (the child reads its parent\'s output); blue: the inputs of a node reading several (a gather). Dashed: other dependencies. Hover a node for its parameters; drag to pan, scroll to zoom.</div>',
    graphContainer(data.nodes, 'tree-graph'),
    '<h2>Nodes</h2>',
    nodesTable(groups, gantt),
    '<h2>Timeline</h2>',
    ganttSection(gantt, 'report-timeline'),
    figuresSection(data.nodes),
    errorsSection(data.nodes, data.workspaceTreeDir),
  ].join('\n');
  const script = `${graphScript(data.nodes, 'tree-graph')}\n${ganttScript(gantt, 'Node attempts', 'report-timeline')}`;
  return htmlPage(`ragomics report: ${s.treeId}`, body, script);
}

function badge(state: string): string {
  const color = state === 'COMPLETED' ? NODE_STATE_COLORS.COMPLETED : state === 'RUNNING' ? NODE_STATE_COLORS.RUNNING : state === 'CANCELLED' ? NODE_STATE_COLORS.CANCELLED : NODE_STATE_COLORS.FAILED;
  return `<span class="state" style="background:${color};font-size:14px">${escapeHtml(state)}</span>`;
}

function metricCards(data: ReportData): string {
  const m = data.status.metrics, c = data.status.counts;
  const sec = (v: number) => `${v.toFixed(2)} s`;
  const cards: [string, string][] = [
    ['nodes', String(data.status.totalNodes)], ['completed', String(c.COMPLETED)], ['failed', String(c.FAILED + c.TIMEOUT)],
    ['cancelled', String(c.CANCELLED)], ['makespan', sec(m.makespan)], ['avg wait', sec(m.avgWaitTime)],
    ['avg run', sec(m.avgExecutionTime)], ['success rate', `${(m.successRate * 100).toFixed(0)}%`],
    ['critical path', sec(m.criticalPathLength)], ['parallel efficiency', m.parallelEfficiency.toFixed(2)],
    ['attempts', String(m.totalAttempts)], ['retries', String(m.retries)], ['maxParallelJobs', String(data.status.maxParallelJobs)],
  ];
  return `<div class="cards" id="metrics">${cards.map(([k, v]) => `<div class="card"><b>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</div>`;
}

/** A forked tree: the tree, node and output it started from. */
function originNote(data: ReportData): string {
  const o = data.status.origin;
  if (!o) return '';
  return `<div class="meta" id="origin">Forked from tree <b>${escapeHtml(o.treeId)}</b>, node <b>${escapeHtml(o.nodeId)}</b>: <code>${escapeHtml(o.outputPath)}</code> (sha256 <code>${escapeHtml(o.outputSha256)}</code>)</div>`;
}

/**
 * Cache statistics (hits, misses, bytes and compute seconds saved), when any node had a cache
 * key. Savings of hits whose workspace facts were not visible are left out and said so.
 */
function cacheCards(data: ReportData): string {
  // Without workspace facts (data built elsewhere than collectReport), hits and misses still show.
  const c = data.cache ?? cacheStats(data.status.nodes);
  if (c.cacheable === 0) return '';
  const cards: [string, string][] = [
    ['cache hits', String(c.hits)], ['cache misses', String(c.misses)], ['shared waits', String(c.sharedWaits)],
    ['bytes saved', formatBytes(c.bytesSaved)], ['compute saved', `${c.computeSecondsSaved.toFixed(2)} s`],
  ];
  const note = c.unmeasured > 0 ? `<div class="meta">${c.unmeasured} hit(s) not measured: their cache entry or source attempt is not visible from here.</div>` : '';
  return `<div class="cards" id="cache-stats">${cards.map(([k, v]) => `<div class="card"><b>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</div>${note}`;
}

/** The nodes table; for a cohort, a header row per sample group (id, sheet columns, node states). */
function nodesTable(groups: readonly NodeGroup[], gantt: ReturnType<typeof buildGantt>): string {
  // Total wait of a node over its attempts, from the same spans the timeline draws.
  const wait = new Map<string, number>();
  for (const r of gantt.rows) {
    const w = waitSeconds(r);
    if (w !== null) wait.set(r.entry.node, (wait.get(r.entry.node) ?? 0) + w);
  }
  const head = '<tr><th>node</th><th>parent</th><th>block</th><th>parameters</th><th>state</th><th>attempts</th><th>wait (s)</th><th>run (s)</th><th>output</th><th>summary</th><th>added by</th></tr>';
  const row = (n: ReportNode): string => {
    const s = n.status;
    const run = s.startedAt && s.endedAt ? ((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000).toFixed(2) : '';
    const block = n.block ? ('name' in n.block ? n.block.name : 'inline code') : s.block;
    const params = n.block ? JSON.stringify(n.block.parameters ?? {}) : '(not recorded)';
    const shape = n.result?.shape ? `${n.result.shape[0]} × ${n.result.shape[1]}` : '';
    return `<tr class="node-row" data-node="${escapeHtml(s.id)}"><td>${escapeHtml(s.id)}</td><td>${escapeHtml(s.parentId ?? '')}</td><td>${escapeHtml(block)}</td>`
      + `<td><code>${escapeHtml(params.length > 300 ? `${params.slice(0, 300)}…` : params)}</code></td>`
      + `<td><span class="state" style="background:${NODE_STATE_COLORS[s.state] ?? '#777'}">${escapeHtml(s.state)}</span>`
      + `${s.waitingFor ? `<div class="meta slot-wait">${escapeHtml(s.waitingFor.reason)} (since ${escapeHtml(s.waitingFor.since)})</div>` : ''}${cacheNote(s)}</td>`
      + `<td class="num">${s.attempts}</td><td class="num">${wait.has(s.id) ? (wait.get(s.id) as number).toFixed(2) : ''}</td><td class="num">${run}</td>`
      + `<td>${escapeHtml(shape)}</td><td>${n.result?.problem ? `<div class="meta">${escapeHtml(n.result.problem)}</div>` : escapeHtml((n.result?.summary ?? s.summary ?? '').slice(0, 300))}</td>${provenanceCell(s)}</tr>`;
  };
  const cohort = groups.some((g) => g.sample !== null);
  const body = groups.map((g) => {
    if (!cohort) return g.nodes.map(row).join('');
    const title = g.sample === null ? 'shared nodes (gathers and after)' : `sample ${g.sample.sample}`;
    const cols = g.sample ? Object.entries(g.sample.columns).map(([k, v]) => `${k}=${v}`).join(', ') : '';
    return `<tr class="sample-group" data-sample="${escapeHtml(g.sample?.sample ?? '')}"><th colspan="11">${escapeHtml(title)}`
      + `${cols ? ` <span class="meta">(${escapeHtml(cols)})</span>` : ''} <span class="meta">${escapeHtml(stateCounts(g.nodes))}</span></th></tr>${g.nodes.map(row).join('')}`;
  });
  return `<table id="nodes">${head}${body.join('')}</table>`;
}

/**
 * The "added by" cell: a few words, the agent's reason (shortened) and the node's events below;
 * the whole provenance in the hover text.
 */
function provenanceCell(s: ReportNode['status']): string {
  const p = s.provenance;
  if (!p) return '<td class="provenance">-</td>';
  const hover = [provenanceText(p), ...(s.events ?? []).map((e) => `${e.kind} ${e.at}: ${e.detail}`)].join('\n');
  const reason = p.reason ? `<div class="meta">${escapeHtml(p.reason.length > 200 ? `${p.reason.slice(0, 199)}…` : p.reason)}</div>` : '';
  const events = (s.events ?? []).map((e) => `<div class="meta">${escapeHtml(e.kind)}: ${escapeHtml(e.detail.length > 120 ? `${e.detail.slice(0, 119)}…` : e.detail)}</div>`).join('');
  return `<td class="provenance" title="${escapeHtml(hover)}">${escapeHtml(addedBy(p))}${reason}${events}</td>`;
}

/** Under a node's state: `cached from <tree>/<node> attempt n`, or `computed (cache miss)`. */
function cacheNote(s: ReportNode['status']): string {
  const c = nodeCacheInfo(s);
  if (!c) return '';
  if (!c.hit) return '<div class="meta cache-miss">computed (cache miss)</div>';
  const from = c.from ? ` from ${c.from.treeId}/${c.from.nodeId} attempt ${c.from.attempt}` : '';
  const waited = c.waitedFor ? ` after waiting for ${c.waitedFor.treeId}/${c.waitedFor.nodeId}` : '';
  return `<div class="meta cache-hit" title="cache key ${escapeHtml(c.key)}">cached${escapeHtml(from + waited)}</div>`;
}

/** `3 nodes: 2 COMPLETED, 1 RUNNING` */
function stateCounts(nodes: readonly ReportNode[]): string {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.status.state, (counts.get(n.status.state) ?? 0) + 1);
  return `${nodes.length} node(s)${counts.size ? `: ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')}` : ''}`;
}

/**
 * A cohort's Samples section: one row per sample (sheet order) with its sheet columns, cells and
 * genes before and after its QC node, where those figures come from, and each of its nodes as a
 * badge coloured by state. Empty for a tree without samples.
 */
function samplesSection(groups: readonly NodeGroup[], all: readonly ReportNode[]): string {
  const samples = groups.flatMap((g) => (g.sample ? [g.sample] : []));
  if (samples.length === 0) return '';
  const cols = sheetColumns(samples);
  const rows = qcRows(groups, all);
  const n = (v: number | null) => (v === null ? '' : String(v));
  const head = `<tr><th>sample</th>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}<th>cells before</th><th>cells after</th><th>genes before</th><th>genes after</th><th>QC node</th><th>nodes</th><th>source of the figures</th></tr>`;
  const body = rows.map((r) => `<tr class="sample-row" data-sample="${escapeHtml(r.sample.sample)}"><td>${escapeHtml(r.sample.sample)}</td>`
    + cols.map((c) => `<td>${escapeHtml(r.sample.columns[c] ?? '')}</td>`).join('')
    + `<td class="num">${n(r.before.cells)}</td><td class="num">${n(r.after.cells)}</td><td class="num">${n(r.before.genes)}</td><td class="num">${n(r.after.genes)}</td>`
    + `<td>${r.qcNode ? `${escapeHtml(r.qcNode)} ${badgeSmall(r.qcState ?? '')}` : ''}</td>`
    + `<td>${r.nodes.map((x) => `<span class="state" title="${escapeHtml(`${x.id}: ${x.state}`)}" style="background:${NODE_STATE_COLORS[x.state] ?? '#777'};margin:1px">${escapeHtml(x.id)}</span>`).join(' ')}</td>`
    + `<td class="meta">${escapeHtml(r.source)}</td></tr>`);
  const shared = groups.find((g) => g.sample === null);
  return `<h2>Samples</h2><div class="meta">${samples.length} sample(s) in sheet order${shared ? `; ${shared.nodes.length} shared node(s) (gathers and after): ${escapeHtml(shared.nodes.map((x) => `${x.status.id} (${blockName(x)})`).slice(0, 8).join(', '))}${shared.nodes.length > 8 ? ', …' : ''}` : ''}.`
    + ` Cells and genes before/after QC: from the sample's ${QC_BLOCK} node (its first one), as the last column says.</div>`
    + `<table id="samples">${head}${body.join('')}</table>`;
}

/** While the tree runs: which dispatched nodes no worker has started yet, and why. */
function slotWaitNote(data: ReportData): string {
  const waiting = data.nodes.filter((n) => n.status.waitingFor);
  if (waiting.length === 0) return '';
  const items = waiting.map((n) => `<li><b>${escapeHtml(n.status.id)}</b>: ${escapeHtml(n.status.waitingFor?.reason ?? '')} (since ${escapeHtml(n.status.waitingFor?.since ?? '')})</li>`);
  return `<div class="error" id="slot-waits"><b>${waiting.length} dispatched node(s) not started yet</b> (state RUNNING in the tree, no worker has taken them):<ul>${items.join('')}</ul></div>`;
}

function figuresSection(nodes: readonly ReportNode[]): string {
  const withFigures = nodes.filter((n) => n.figures.length > 0);
  if (withFigures.length === 0) return '<h2>Figures</h2><div class="meta">No figures (no block saved any, or the workspace is not visible from here).</div>';
  return `<h2>Figures</h2>${withFigures.map((n) => `<h3>${escapeHtml(n.status.id)} <small>(${escapeHtml(n.status.block)})</small></h3>`
    + `<div class="figures">${n.figures.map((f) => `<figure style="display:inline-block;margin:6px"><img class="figure" alt="${escapeHtml(f.name)}" src="${f.dataUri}" style="max-width:520px;border:1px solid #ddd;background:#fff"><figcaption class="meta">${escapeHtml(f.name)}</figcaption></figure>`).join('')}</div>`).join('')}`;
}

function errorsSection(nodes: readonly ReportNode[], treeDir: string): string {
  const failed = nodes.filter((n) => n.status.error || n.logTail);
  if (failed.length === 0) return '<h2>Errors</h2><div class="meta">None.</div>';
  return `<h2>Errors</h2>${failed.map((n) => `<div class="error" data-node="${escapeHtml(n.status.id)}"><h3>${escapeHtml(n.status.id)} ${badgeSmall(n.status.state)}</h3>`
    + `<pre>${escapeHtml(n.status.error ?? '')}</pre>`
    + (n.logTail ? `<details open><summary>last lines of ${escapeHtml(n.logTail.file)}</summary><pre>${escapeHtml(n.logTail.text)}</pre></details>` : missingLog(n, treeDir))
    + '</div>').join('')}`;
}

function badgeSmall(state: string): string {
  return `<span class="state" style="background:${NODE_STATE_COLORS[state] ?? '#777'}">${escapeHtml(state)}</span>`;
}

/** A note when a failed attempt's log should have been there but is not visible from here. */
function missingLog(n: ReportNode, treeDir: string): string {
  const ran = n.status.attempts > 0 && n.status.state !== 'COMPLETED';
  const tailInError = hasLogTailSection(n.status.error);
  return ran && !tailInError ? `<div class="meta">No log found under ${escapeHtml(treeDir)}.</div>` : '';
}
