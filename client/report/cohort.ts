/**
 * What the report shows of a cohort (issue 12): the nodes grouped by sample (sheet order, then
 * the shared nodes: gathers and what follows them), and one QC row per sample with the cells and
 * genes before and after its `quality_control` node. Pure functions over the collected report
 * data, so they are unit-tested without a server.
 */
import type { SampleStatus } from '../../workflows/views';
import type { ReportNode } from './collect';

/** The block whose before/after shapes fill the QC table. */
export const QC_BLOCK = 'quality_control';

/** One group of the nodes table: a sample's nodes, or (sample null) the nodes of no sample. */
export interface NodeGroup {
  sample: SampleStatus | null;
  nodes: ReportNode[];
}

/**
 * Groups nodes by their `sample`, in the order of `samples` (the sheet's), keeping the nodes'
 * order within a group; nodes of no sample (or of a sample not in the list) form the last group,
 * present only when not empty. With no samples, one group (sample null) holds every node.
 */
export function groupBySample(nodes: readonly ReportNode[], samples: readonly SampleStatus[] | undefined): NodeGroup[] {
  if (!samples || samples.length === 0) return [{ sample: null, nodes: [...nodes] }];
  const bySample = new Map<string, ReportNode[]>(samples.map((s) => [s.sample, []]));
  const shared: ReportNode[] = [];
  for (const n of nodes) {
    const group = n.status.sample !== undefined ? bySample.get(n.status.sample) : undefined;
    if (group) group.push(n);
    else shared.push(n);
  }
  const groups: NodeGroup[] = samples.map((s) => ({ sample: s, nodes: bySample.get(s.sample) ?? [] }));
  if (shared.length > 0) groups.push({ sample: null, nodes: shared });
  return groups;
}

/** Cells × genes; either may be unknown. */
export interface CellsGenes {
  cells: number | null;
  genes: number | null;
}

/** One row of the per-sample QC table. */
export interface QcRow {
  sample: SampleStatus;
  /** The sample's QC node (the first node of the sample running `quality_control`), or null. */
  qcNode: string | null;
  qcState: string | null;
  before: CellsGenes;
  after: CellsGenes;
  /** Where the figures come from, in words (shown in the table: no number without its source). */
  source: string;
  /** The sample's nodes in order, with their states. */
  nodes: Array<{ id: string; state: string }>;
}

/** The block name of a report node (`inline code` for a code block). */
export function blockName(n: ReportNode): string {
  return n.block ? ('name' in n.block ? n.block.name : 'inline code') : n.status.block;
}

/**
 * The QC row of every sample. Before/after come from the QC block's own metrics
 * (`n_cells_before`, `n_genes_before`, `n_cells_after`, `n_genes_after` in its published
 * `node-result.json`). Where a metric is missing (another QC implementation, an older result):
 * "after" falls back to the QC node's published output shape, "before" to the published output
 * shape of the QC node's parent; a QC node reading the sample's own `.h5ad` has no recorded
 * input shape, and the row says so.
 */
export function qcRows(groups: readonly NodeGroup[], allNodes: readonly ReportNode[]): QcRow[] {
  const byId = new Map(allNodes.map((n) => [n.status.id, n]));
  const rows: QcRow[] = [];
  for (const g of groups) {
    if (!g.sample) continue;
    const nodes = g.nodes.map((n) => ({ id: n.status.id, state: n.status.state }));
    const qc = g.nodes.find((n) => blockName(n) === QC_BLOCK);
    if (!qc) {
      rows.push({ sample: g.sample, qcNode: null, qcState: null, before: unknown(), after: unknown(), source: `no ${QC_BLOCK} node in this sample`, nodes });
      continue;
    }
    const m = qc.result?.metrics ?? {};
    const sources: string[] = [];
    let before: CellsGenes = { cells: num(m.n_cells_before), genes: num(m.n_genes_before) };
    let after: CellsGenes = { cells: num(m.n_cells_after), genes: num(m.n_genes_after) };
    if (before.cells !== null || after.cells !== null) sources.push('QC metrics');
    if (after.cells === null && after.genes === null && qc.result?.shape) {
      after = { cells: qc.result.shape[0], genes: qc.result.shape[1] };
      sources.push('after: QC output shape');
    }
    if (before.cells === null && before.genes === null) {
      const parent = qc.status.parentId ? byId.get(qc.status.parentId) : undefined;
      if (parent?.result?.shape) {
        before = { cells: parent.result.shape[0], genes: parent.result.shape[1] };
        sources.push(`before: output shape of ${parent.status.id}`);
      } else if (qc.result) {
        sources.push(qc.status.parentId ? `before: ${qc.status.parentId} has no published shape` : 'before: input shape not recorded (the sample\'s own .h5ad)');
      }
    }
    const source = qc.result === null ? `no published result of ${qc.status.id} (${qc.status.state}; or the workspace is not visible from here)` : sources.join('; ');
    rows.push({ sample: g.sample, qcNode: qc.status.id, qcState: qc.status.state, before, after, source, nodes });
  }
  return rows;
}

/** The sheet's further columns over all samples, in first-seen order. */
export function sheetColumns(samples: readonly SampleStatus[]): string[] {
  const out = new Set<string>();
  for (const s of samples) for (const k of Object.keys(s.columns)) out.add(k);
  return [...out];
}

function unknown(): CellsGenes {
  return { cells: null, genes: null };
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
