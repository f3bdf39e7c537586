/**
 * Cohorts (issue 12): sample rows, per-sample templates expanded into ordinary nodes, and the
 * inputs of nodes that read several upstream outputs (a gather over a template, or a list).
 *
 * Pure and deterministic: the client uses it to validate a spec before anything starts, and the
 * workflow uses the same functions to expand the spec and the `addSamples` update, so both name
 * the same nodes and reject the same inputs with the same one-line messages. No Node built-ins,
 * no I/O (it runs in Temporal's workflow sandbox); inputs are never changed.
 */
import {
  IdSchema, NodeSpecSchema, SAMPLE_MARKER, SampleRowSchema, formatZodError,
  type NodeInputs, type NodeSpec, type SampleRow, type TemplateNode,
} from './schemas';

/** One sample as the tree holds it: its id, its `.h5ad` (absolute once the client resolved it), and its further sheet columns. */
export interface Sample {
  sample: string;
  path: string;
  columns: Record<string, string>;
}

/** Names the place of a problem in a sample list: a row (0-based) and a column. */
export type RowLocator = (row: number, column: string) => string;

/** Inline rows of a spec: `samples[2].sample`. */
export const inlineRowLocator = (prefix = 'samples'): RowLocator => (row, column) => `${prefix}[${row}].${column}`;

/** The context a node's `inputs` and `sample` are checked against. */
export interface CohortContext {
  /** Every sample of the tree (existing and added), in sheet order. */
  samples: readonly Sample[];
  /** Ids of the `forEachSample` templates (with `{sample}`). */
  templateIds: ReadonlySet<string>;
}

/** `qc_{sample}` for sample `S1` → `qc_S1`. */
export function instantiate(templateId: string, sample: string): string {
  return templateId.split(SAMPLE_MARKER).join(sample);
}

/** True when a string holds the `{sample}` marker. */
export function isTemplateRef(s: string): boolean {
  return s.includes(SAMPLE_MARKER);
}

/** A row's columns other than `sample` and `path`, in the row's order. */
export function sampleOf(row: SampleRow): Sample {
  const { sample, path, ...columns } = row;
  return { sample, path, columns: { ...columns } as Record<string, string> };
}

/** A sample back in row form (for `addSamples` requests and status). */
export function rowOf(s: Sample): SampleRow {
  return { ...s.columns, sample: s.sample, path: s.path };
}

/**
 * Checks raw rows (from a CSV/TSV sheet: every value a string, missing cells absent or empty)
 * and turns them into samples. Each problem is one line naming the row and the column through
 * `where`: a missing `sample` or `path` value, a bad sample id, a path that is not `.h5ad`, a
 * sample id used twice (in these rows, or already in `existing`).
 */
export function samplesFromRows(
  rows: ReadonlyArray<Record<string, unknown>>,
  where: RowLocator = inlineRowLocator(),
  existing: readonly Sample[] = [],
): { ok: true; samples: Sample[] } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const samples: Sample[] = [];
  const seen = new Map<string, number>();
  const known = new Set(existing.map((s) => s.sample));
  rows.forEach((raw, i) => {
    let bad = false;
    for (const column of ['sample', 'path'] as const) {
      const v = raw[column];
      if (v === undefined || v === null || v === '') {
        errors.push(`${where(i, column)}: missing (every row needs a "${column}" value)`);
        bad = true;
      }
    }
    if (bad) return;
    const parsed = SampleRowSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push(`${where(i, String(issue.path[0] ?? 'sample'))}: ${issue.message}`);
      return;
    }
    const s = sampleOf(parsed.data);
    if (known.has(s.sample)) {
      errors.push(`${where(i, 'sample')}: duplicate sample id "${s.sample}" (already in the tree)`);
    } else if (seen.has(s.sample)) {
      errors.push(`${where(i, 'sample')}: duplicate sample id "${s.sample}" (also ${where(seen.get(s.sample) as number, 'sample')})`);
    } else {
      seen.set(s.sample, i);
      samples.push(s);
    }
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, samples };
}

/**
 * Checks the templates on their own, whatever the samples: each id holds `{sample}` (one node per
 * sample) and is unique; a `parentId` or dependency holding `{sample}` names a template.
 * @returns one line per problem, `forEachSample[1].parentId: unknown template "nrm_{sample}"`.
 */
export function checkTemplates(templates: readonly TemplateNode[], prefix = 'forEachSample'): string[] {
  const errors: string[] = [];
  const ids = new Map<string, number>();
  templates.forEach((t, i) => {
    if (!isTemplateRef(t.id)) errors.push(`${prefix}[${i}].id: "${t.id}" must contain ${SAMPLE_MARKER} (a template makes one node per sample)`);
    else if (ids.has(t.id)) errors.push(`${prefix}[${i}].id: duplicate template id "${t.id}" (also ${prefix}[${ids.get(t.id) as number}])`);
    else ids.set(t.id, i);
  });
  templates.forEach((t, i) => {
    const check = (ref: string, path: string): void => {
      if (isTemplateRef(ref) && !ids.has(ref)) errors.push(`${prefix}[${i}].${path}: unknown template "${ref}"`);
    };
    if (t.parentId) check(t.parentId, 'parentId');
    t.dependencies.forEach((d, j) => check(d, `dependencies[${j}]`));
  });
  return errors;
}

/** Nodes expanded from templates, and where each came from (for error messages). */
export interface Expansion {
  nodes: NodeSpec[];
  /** `forEachSample[i]` of each node. */
  paths: string[];
}

/**
 * Expands the templates for `samples`: sample by sample in the given (sheet) order, template
 * order within a sample. Each node gets `sample`, and `{sample}` in its id, `parentId` and
 * dependencies replaced by the sample id. A template without `parentId` stays a root: its input
 * is the sample's own `.h5ad` (the workflow passes `path`). Template problems
 * ({@link checkTemplates}) and ids that become invalid (too long) are reported instead.
 */
export function expandTemplates(templates: readonly TemplateNode[], samples: readonly Sample[], prefix = 'forEachSample'): { ok: true; expansion: Expansion } | { ok: false; errors: string[] } {
  const errors = checkTemplates(templates, prefix);
  if (errors.length > 0) return { ok: false, errors };
  const nodes: NodeSpec[] = [];
  const paths: string[] = [];
  for (const s of samples) {
    templates.forEach((t, i) => {
      const id = instantiate(t.id, s.sample);
      const checked = IdSchema.safeParse(id);
      if (!checked.success) {
        errors.push(`${prefix}[${i}].id: "${id}" (for sample "${s.sample}") ${checked.error.issues[0]?.message ?? 'is not a valid id'}`);
        return;
      }
      const node = {
        ...t,
        id,
        ...(t.parentId ? { parentId: instantiate(t.parentId, s.sample) } : {}),
        dependencies: t.dependencies.map((d) => instantiate(d, s.sample)),
        sample: s.sample,
      };
      // Already parsed as a template: parse again only to type it as a node (defaults are idempotent).
      const parsed = NodeSpecSchema.safeParse(node);
      if (!parsed.success) {
        for (const line of formatZodError(parsed.error, `${prefix}[${i}]`).split('\n')) errors.push(`${line} (for sample "${s.sample}")`);
        return;
      }
      nodes.push(parsed.data);
      paths.push(`${prefix}[${i}]`);
    });
  }
  return errors.length > 0 ? { ok: false, errors: [...new Set(errors)] } : { ok: true, expansion: { nodes, paths } };
}

/** A node's inputs once resolved: node ids in order, and the template of a gather. */
export interface ResolvedInputs {
  ids: string[];
  /** The template id a gather is over (absent for a list). */
  gather?: string;
}

/**
 * Resolves `inputs`: a list stays as given; `{ gather: "norm_{sample}" }` becomes one node id per
 * sample of `ctx`, in sheet order. Returns the problem (without a path) for a gather of an id
 * without `{sample}`, of an id that is no template, or in a tree without samples.
 */
export function resolveInputs(inputs: NodeInputs, ctx: CohortContext | undefined): { ok: true; inputs: ResolvedInputs } | { ok: false; error: string } {
  if (Array.isArray(inputs)) return { ok: true, inputs: { ids: [...inputs] } };
  const t = inputs.gather;
  if (!isTemplateRef(t)) return { ok: false, error: `gather needs a forEachSample template id holding ${SAMPLE_MARKER}, got "${t}" (list node ids as inputs: [a, b] instead)` };
  if (!ctx || !ctx.templateIds.has(t)) return { ok: false, error: `gather over "${t}": no forEachSample template has this id` };
  if (ctx.samples.length === 0) return { ok: false, error: `gather over "${t}": the tree has no samples` };
  return { ok: true, inputs: { ids: ctx.samples.map((s) => instantiate(t, s.sample)), gather: t } };
}
