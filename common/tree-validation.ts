/**
 * Graph-level validation of nodes entering a tree: ids, references, cycles, limits and built-in
 * block parameters. Zod checks the shape of each node on its own (common/schemas.ts); this module
 * checks what only makes sense against the rest of the tree.
 *
 * Used by the client before starting a tree (`validateTreeSpec`) and by the workflow's
 * `addNodes` validator (`validateAdditions`), so both reject the same inputs with the same
 * messages. Pure and deterministic: it runs inside Temporal's workflow sandbox (no Node
 * built-ins, no clocks, no I/O) and never changes its inputs.
 */
import { blockInputCount, checkBlockInputs } from './block-inputs';
import { expandTemplates, inlineRowLocator, resolveInputs, samplesFromRows, type CohortContext, type Sample } from './cohort';
import { NodeSpecSchema, TemplateNodeSchema, checkBlockParameters, type Block, type NodeSpec, type TreeSpec } from './schemas';

/**
 * The read-only view of the nodes already in a tree that validation needs. The workflow's
 * `TreeScheduler` implements it directly; {@link createExistingTree} builds one from a node list.
 */
export interface ExistingTree {
  /** Number of nodes in the tree. */
  readonly size: number;
  /** True when a node with this id exists. */
  has(id: string): boolean;
  /** Depth of an existing node (0 without dependencies), or undefined for an unknown id. */
  depthOf(id: string): number | undefined;
  /** Number of existing nodes whose `parentId` is this id (0 for an unknown id). */
  childCount(id: string): number;
}

/** The tree limits of the spec that additions must respect. */
export interface ValidationLimits {
  /** Most nodes the tree may ever hold (existing plus added). */
  maxNodes: number;
  /** Most children (nodes naming it as `parentId`) of one node. */
  maxChildrenPerNode: number;
  /** Largest allowed depth (a node without dependencies has depth 0). */
  maxDepth: number;
}

/** Options of {@link validateAdditions}. */
export interface ValidationOptions {
  /** Path of the additions array in error messages. @default "nodes" */
  prefix?: string;
  /**
   * Most error lines returned; beyond that one last line says how many were left out, so a
   * broken 10,000-node spec does not produce a 10,000-line message. @default 100
   */
  maxErrors?: number;
  /**
   * Path of each addition in messages, by index (e.g. `forEachSample[1]` for an expanded
   * template). @default `${prefix}[i]`
   */
  pathOf?: (index: number) => string;
  /** Samples and templates of the tree, against which `inputs: { gather }` and `sample` are checked. */
  cohort?: CohortContext;
}

/**
 * A validated node, ready for the scheduler: `parentId` is explicit, `dependencies` include the
 * parent and hold no duplicates, `depth` is computed, and a built-in block's parameters are
 * parsed by its catalog schema (defaults filled in).
 */
export type NormalizedNode = Omit<NodeSpec, 'parentId' | 'dependencies' | 'block' | 'inputs'> & {
  parentId: string | null;
  dependencies: string[];
  block: Block;
  /** For a node with several inputs: their node ids, in order (all are dependencies too). */
  inputs?: string[];
  /** For a gather: the template id it gathers over (so `addSamples` can extend it). */
  gather?: string;
  /** 0 without dependencies, else 1 + the largest depth of its dependencies. */
  depth: number;
  /** Position of the node in the additions array (the `i` of `nodes[i]` in messages). */
  index: number;
};

/** Outcome of validation: all nodes normalized, or every problem found. */
export type ValidationResult =
  | {
      ok: true;
      /** The additions in a topological order (each after its dependencies; input order when it already is one). */
      nodes: NormalizedNode[];
    }
  | {
      ok: false;
      /** One line per problem, each naming its path and the id concerned. */
      errors: string[];
    };

/** A tree with no nodes, for validating a spec's initial nodes. */
export const EMPTY_TREE: ExistingTree = Object.freeze({
  size: 0,
  has: () => false,
  depthOf: () => undefined,
  childCount: () => 0,
});

/** Builds a {@link ExistingTree} over a list of existing nodes (client-side checks, tests). */
export function createExistingTree(nodes: Iterable<{ id: string; parentId: string | null; depth: number }>): ExistingTree {
  const depths = new Map<string, number>();
  const children = new Map<string, number>();
  for (const n of nodes) {
    depths.set(n.id, n.depth);
    if (n.parentId !== null) children.set(n.parentId, (children.get(n.parentId) ?? 0) + 1);
  }
  return {
    size: depths.size,
    has: (id) => depths.has(id),
    depthOf: (id) => depths.get(id),
    childCount: (id) => children.get(id) ?? 0,
  };
}

/**
 * Checks nodes to be added to a tree against the tree and each other. Reports every problem,
 * not just the first; each message names the path and the id:
 *
 * - `nodes: adding 5 nodes would exceed maxNodes 20 (the tree has 18)`
 * - `nodes[1].id: duplicate id "qc" (already in the tree)` / `… (also nodes[0])`
 * - `nodes[0].parentId: unknown node "root"` / `nodes[0].parentId: node "x" is its own parent`
 * - `nodes[3].dependencies[0]: unknown node "pca"`
 * - `nodes[2].dependencies[1]: node "x" depends on itself`
 * - `nodes[0].parentId: node "root" would have 4 children, more than maxChildrenPerNode 3`
 *   (reported once per parent, at the first addition over the limit)
 * - `nodes[4]: cycle x -> y -> x` (`a -> b` reads "a depends on b"; reported once per cycle,
 *   at the cycle's first node in the additions)
 * - `nodes[2]: depth 12 exceeds maxDepth 10` (every node over the limit; not checked for nodes
 *   in or behind a cycle)
 * - `nodes[2].inputs: a node reads either its parentId or its inputs, not both`
 * - `nodes[2].inputs[1]: unknown node "x"`; `nodes[2].inputs.gather: …` (see `resolveInputs`)
 * - `nodes[2].sample: unknown sample "S9"`
 * - `nodes[2].block: node "merge": block "pca" takes one input (parentId), but the node has 3
 *   inputs (inputs); …` (common/block-inputs.ts)
 * - block parameter errors from `checkBlockParameters`, e.g.
 *   `nodes[0].block.parameters.n_comps: Too small: expected number to be >=2`
 *
 * Errors are ordered by node index (tree-wide errors first). New nodes may reference each other
 * in any order. Pure: the inputs are not changed, whatever the outcome.
 *
 * @param existing the tree as it is (use {@link EMPTY_TREE} for a new tree).
 * @param additions nodes already parsed by `NodeSpecSchema`.
 */
export function validateAdditions(
  existing: ExistingTree,
  additions: readonly NodeSpec[],
  limits: ValidationLimits,
  options: ValidationOptions = {},
): ValidationResult {
  const prefix = options.prefix ?? 'nodes';
  const maxErrors = options.maxErrors ?? 100;
  const at = options.pathOf ?? ((i: number): string => `${prefix}[${i}]`);
  /** Errors keyed by node index (-1 for tree-wide), sorted stably at the end. */
  const errors: Array<{ index: number; message: string }> = [];
  const fail = (index: number, message: string): void => {
    errors.push({ index, message });
  };

  const n = additions.length;
  if (existing.size + n > limits.maxNodes) {
    fail(-1, `${prefix}: adding ${n} node${n === 1 ? '' : 's'} would exceed maxNodes ${limits.maxNodes} (the tree has ${existing.size})`);
  }

  // Ids: the first occurrence of a new id wins; later copies are errors and take no part in the graph.
  const indexOf = new Map<string, number>();
  const usable: boolean[] = new Array<boolean>(n).fill(false);
  for (let i = 0; i < n; i++) {
    const id = (additions[i] as NodeSpec).id;
    if (existing.has(id)) {
      fail(i, `${at(i)}.id: duplicate id "${id}" (already in the tree)`);
    } else if (indexOf.has(id)) {
      fail(i, `${at(i)}.id: duplicate id "${id}" (also ${at(indexOf.get(id) as number)})`);
    } else {
      indexOf.set(id, i);
      usable[i] = true;
    }
  }
  const known = (id: string): boolean => existing.has(id) || indexOf.has(id);

  // References and parameters, node by node. `newDeps[i]` holds the indexes of the new nodes
  // node i depends on (unknown and self references are left out: they are already errors).
  const normalized: Array<NormalizedNode | undefined> = new Array<NormalizedNode | undefined>(n);
  const newDeps: number[][] = [];
  const childrenOf = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const spec = additions[i] as NodeSpec;
    const id = spec.id;
    const parentId = spec.parentId ?? null;
    const deps: number[] = [];
    let parentOk = true;
    let inputs: { ids: string[]; gather?: string } | undefined;
    if (spec.inputs !== undefined) {
      if (parentId !== null) fail(i, `${at(i)}.inputs: a node reads either its parentId or its inputs, not both`);
      const r = resolveInputs(spec.inputs, options.cohort);
      if (r.ok) inputs = r.inputs;
      else fail(i, `${at(i)}.inputs.gather: ${r.error}`);
    }
    if (spec.sample !== undefined && !options.cohort?.samples.some((s) => s.sample === spec.sample)) {
      fail(i, `${at(i)}.sample: unknown sample "${spec.sample}"`);
    }
    if (parentId !== null) {
      if (parentId === id) {
        fail(i, `${at(i)}.parentId: node "${id}" is its own parent`);
        parentOk = false;
      } else if (!known(parentId)) {
        fail(i, `${at(i)}.parentId: unknown node "${parentId}"`);
        parentOk = false;
      } else if (usable[i]) {
        const list = childrenOf.get(parentId);
        if (list) list.push(i);
        else childrenOf.set(parentId, [i]);
      }
    }
    const dependencies: string[] = [];
    const seen = new Set<string>();
    const addDep = (d: string): void => {
      if (seen.has(d)) return;
      seen.add(d);
      dependencies.push(d);
      const j = indexOf.get(d);
      // A reference to an id that is both in the tree and (wrongly) re-added means the tree's node.
      if (j !== undefined && !existing.has(d)) deps.push(j);
    };
    if (parentId !== null && !spec.dependencies.includes(parentId)) {
      if (parentOk) addDep(parentId);
    }
    // Inputs first, in their order: they are the node's data; listed dependencies only order.
    inputs?.ids.forEach((d, j) => {
      const where = inputs?.gather !== undefined ? `${at(i)}.inputs.gather` : `${at(i)}.inputs[${j}]`;
      if (d === id) fail(i, `${where}: node "${id}" reads itself`);
      else if (!known(d)) fail(i, `${where}: unknown node "${d}"`);
      else addDep(d);
    });
    spec.dependencies.forEach((d, j) => {
      if (d === id) {
        fail(i, `${at(i)}.dependencies[${j}]: node "${id}" depends on itself`);
      } else if (!known(d)) {
        // An unknown parent that is also listed as a dependency is reported once, as the parent.
        if (!(d === parentId && !parentOk)) fail(i, `${at(i)}.dependencies[${j}]: unknown node "${d}"`);
      } else {
        addDep(d);
      }
    });
    newDeps.push(deps);

    // A built-in block that takes one input on a multi-input node (or the reverse): rejected
    // here, before anything starts, rather than by the runner (exit 67) after the inputs ran.
    const mismatch = checkBlockInputs(id, spec.block, { multiInput: spec.inputs !== undefined, count: inputs ? inputs.ids.length : parentId !== null ? 1 : 0 });
    if (mismatch) fail(i, `${at(i)}.block: ${mismatch}`);

    let block: Block = spec.block;
    if ('name' in spec.block) {
      const checked = checkBlockParameters(spec.block, `${at(i)}.block`);
      if (checked.ok) block = { ...spec.block, parameters: checked.parameters };
      else for (const line of checked.error.split('\n')) fail(i, line);
    }
    const { parentId: _p, dependencies: _d, block: _b, inputs: _in, ...rest } = spec;
    const node: NormalizedNode = { ...rest, parentId, dependencies, block, depth: 0, index: i };
    if (inputs) {
      node.inputs = inputs.ids;
      if (inputs.gather !== undefined) node.gather = inputs.gather;
    }
    normalized[i] = node;
  }

  // Children per parent: existing children plus new ones, reported at the first one too many.
  for (const [parentId, list] of childrenOf) {
    const before = existing.has(parentId) ? existing.childCount(parentId) : 0;
    const total = before + list.length;
    if (total > limits.maxChildrenPerNode) {
      const first = list[Math.max(0, limits.maxChildrenPerNode - before)] as number;
      fail(first, `${at(first)}.parentId: node "${parentId}" would have ${total} children, more than maxChildrenPerNode ${limits.maxChildrenPerNode}`);
    }
  }

  // Topological order, cycles and depths: iterative depth-first search over the new nodes
  // (iterative so a 100,000-node chain cannot overflow the stack), in input order, emitting each
  // node after its dependencies. A dependency found on the current path closes a cycle.
  const WHITE = 0;
  const GRAY = 1;
  const BLACK = 2;
  const color = new Uint8Array(n);
  const inCycle = new Uint8Array(n);
  /** Nodes in a cycle or depending on one: their depth is meaningless. */
  const tainted = new Uint8Array(n);
  const depth = new Array<number>(n).fill(0);
  const sorted: number[] = [];
  const reportedCycles = new Set<string>();
  const stack: number[] = [];
  const cursor: number[] = [];
  const onPath = new Map<number, number>(); // node index -> position in `stack`

  const finishNode = (i: number): void => {
    const spec = normalized[i] as NormalizedNode;
    let d = 0;
    let bad = inCycle[i] === 1;
    for (const dep of spec.dependencies) {
      const j = indexOf.get(dep);
      if (j !== undefined && !existing.has(dep)) {
        if (tainted[j]) bad = true;
        d = Math.max(d, (depth[j] as number) + 1);
      } else {
        d = Math.max(d, (existing.depthOf(dep) ?? 0) + 1);
      }
    }
    depth[i] = d;
    spec.depth = d;
    if (bad) tainted[i] = 1;
    else if (d > limits.maxDepth) fail(i, `${at(i)}: depth ${d} exceeds maxDepth ${limits.maxDepth}`);
    sorted.push(i);
  };

  for (let start = 0; start < n; start++) {
    if (!usable[start] || color[start] !== WHITE) continue;
    stack.push(start);
    cursor.push(0);
    onPath.set(start, 0);
    color[start] = GRAY;
    while (stack.length > 0) {
      const top = stack.length - 1;
      const u = stack[top] as number;
      const deps = newDeps[u] as number[];
      const c = cursor[top] as number;
      if (c < deps.length) {
        cursor[top] = c + 1;
        const v = deps[c] as number;
        if (color[v] === WHITE) {
          color[v] = GRAY;
          onPath.set(v, stack.length);
          stack.push(v);
          cursor.push(0);
        } else if (color[v] === GRAY) {
          const cycle = stack.slice(onPath.get(v) as number);
          for (const k of cycle) inCycle[k] = 1;
          reportCycle(cycle);
        }
      } else {
        stack.pop();
        cursor.pop();
        onPath.delete(u);
        color[u] = BLACK;
        finishNode(u);
      }
    }
  }

  function reportCycle(cycle: number[]): void {
    // Start the cycle at its first node in the additions, so the same cycle reads the same way
    // however the search entered it.
    let first = 0;
    for (let k = 1; k < cycle.length; k++) if ((cycle[k] as number) < (cycle[first] as number)) first = k;
    const rotated = [...cycle.slice(first), ...cycle.slice(0, first)];
    const ids = rotated.map((k) => (additions[k] as NodeSpec).id);
    const text = [...ids, ids[0]].join(' -> ');
    if (reportedCycles.has(text)) return;
    reportedCycles.add(text);
    const index = rotated[0] as number;
    fail(index, `${at(index)}: cycle ${text}`);
  }

  if (errors.length > 0) {
    // Stable sort: within one node, errors keep the order of the checks above.
    const lines = errors
      .map((e, order) => ({ ...e, order }))
      .sort((a, b) => a.index - b.index || a.order - b.order)
      .map((e) => e.message);
    if (lines.length > maxErrors) {
      const left = lines.length - maxErrors;
      return { ok: false, errors: [...lines.slice(0, maxErrors), `${prefix}: … and ${left} more error${left === 1 ? '' : 's'}`] };
    }
    return { ok: false, errors: lines };
  }
  return { ok: true, nodes: sorted.map((i) => normalized[i] as NormalizedNode) };
}

/** A spec's initial nodes: the `forEachSample` templates expanded per sample, then `nodes`. */
export interface InitialNodes {
  /** The tree's samples, in sheet order (empty without `samples`). */
  samples: Sample[];
  /** Expanded template nodes (sample by sample), then the spec's `nodes`. */
  nodes: NodeSpec[];
  /** Path of each node in messages: `forEachSample[i]` or `nodes[i]`. */
  paths: string[];
  cohort: CohortContext;
}

/**
 * Expands a spec's cohort part: its inline `samples` rows (a sheet path must have been read by
 * the client first) and `forEachSample` templates, then appends `nodes`.
 * @returns one line per problem (`samples[2].sample: duplicate sample id "S1" (also samples[0].sample)`).
 */
export function initialNodes(spec: TreeSpec): { ok: true; initial: InitialNodes } | { ok: false; errors: string[] } {
  let samples: Sample[] = [];
  if (typeof spec.samples === 'string') {
    return { ok: false, errors: [`samples: "${spec.samples}" is a sample sheet path; read it first (the CLI and readSpecFile do) and pass its rows`] };
  }
  if (spec.samples) {
    const rows = samplesFromRows(spec.samples, inlineRowLocator('samples'));
    if (!rows.ok) return rows;
    samples = rows.samples;
  }
  if (spec.forEachSample.length > 0 && samples.length === 0) return { ok: false, errors: ['forEachSample: templates need samples (a sheet path or rows under samples:)'] };
  const expanded = expandTemplates(spec.forEachSample, samples);
  if (!expanded.ok) return expanded;
  const cohort: CohortContext = { samples, templateIds: new Set(spec.forEachSample.map((t) => t.id)) };
  return {
    ok: true,
    initial: {
      samples,
      nodes: [...expanded.expansion.nodes, ...spec.nodes],
      paths: [...expanded.expansion.paths, ...spec.nodes.map((_, i) => `nodes[${i}]`)],
      cohort,
    },
  };
}

/**
 * {@link validateAdditions} for a spec's initial nodes (templates expanded per sample, then
 * `nodes`; see {@link initialNodes}) against an empty tree, with the spec's own `maxNodes`,
 * `maxChildrenPerNode` and `maxDepth`. Paths start with `nodes` (or `forEachSample`, `samples`).
 * A problem repeated for every sample is reported once.
 */
export function validateTreeSpec(spec: TreeSpec, options: ValidationOptions = {}): ValidationResult {
  const init = initialNodes(spec);
  if (!init.ok) return init;
  const { nodes, paths, cohort } = init.initial;
  const r = validateAdditions(
    EMPTY_TREE,
    nodes,
    { maxNodes: spec.maxNodes, maxChildrenPerNode: spec.maxChildrenPerNode, maxDepth: spec.maxDepth },
    { pathOf: (i) => paths[i] ?? `nodes[${i}]`, cohort, ...options },
  );
  const errors = r.ok ? [] : [...r.errors];
  errors.push(...rootInputErrors(nodes, (i) => paths[i] ?? `nodes[${i}]`, spec.inputDataPath !== undefined, 'set the spec\'s inputDataPath, or give the node a parentId'));
  errors.push(...blockValueErrors(nodes, (i) => paths[i] ?? `nodes[${i}]`));
  return errors.length === 0 ? r : { ok: false, errors: [...new Set(errors)] };
}

/**
 * Roots that would have nothing to read. A root (no `parentId`, no `inputs`) reads its sample's
 * file, else the tree's `inputDataPath` (workflows/node-runner.ts): in a tree without one, a root
 * without a sample whose built-in block needs an input would start and then fail with the
 * runner's InputMissing, naming a file the user never wrote. Custom code and blocks that take no
 * input are never reported. Pure.
 *
 * @param hasTreeInput true when the tree has an `inputDataPath` (nothing is reported then).
 * @param remedy what the user can do, ending the message (for a new tree: `set the spec's
 *   inputDataPath, or give the node a parentId`).
 * @returns one line per such root: `nodes[0].block: node "qc": block "qc_filter" needs an input
 *   AnnData and the node has none: set the spec's inputDataPath, or give the node a parentId`.
 */
export function rootInputErrors(nodes: readonly NodeSpec[], pathOf: (index: number) => string, hasTreeInput: boolean, remedy: string): string[] {
  if (hasTreeInput) return [];
  const errors: string[] = [];
  nodes.forEach((node, i) => {
    if ((node.parentId ?? null) !== null || node.inputs !== undefined || node.sample !== undefined || blockInputCount(node.block) !== 'one') return;
    errors.push(`${pathOf(i)}.block: node "${node.id}": block "${(node.block as { name: string }).name}" needs an input AnnData and the node has none: ${remedy}`);
  });
  return errors;
}

/**
 * The built-in block parameter errors of a spec that failed its shape check (`TreeSpecSchema`),
 * so one pass names them beside the shape errors: parameters are otherwise checked only once the
 * whole spec parses (in {@link validateAdditions}). Looks at each `nodes[i]` and `forEachSample[i]`
 * that parses on its own; a template whose parameters hold a `{sample}` placeholder is left to the
 * check after expansion, where its values are known. Pure; `raw` is not changed.
 *
 * @returns one line per problem, as {@link validateAdditions} words it
 *   (`nodes[1].block.parameters.n_comps: Too small: expected number to be >=2`); none for a
 *   value that is not an object.
 */
export function blockParameterErrors(raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null) return [];
  const errors: string[] = [];
  const check = (field: 'nodes' | 'forEachSample', schema: typeof NodeSpecSchema | typeof TemplateNodeSchema): void => {
    const list = (raw as Record<string, unknown>)[field];
    if (!Array.isArray(list)) return;
    list.forEach((item, i) => {
      const parsed = schema.safeParse(item);
      if (!parsed.success || !('name' in parsed.data.block)) return;
      if (field === 'forEachSample' && holdsPlaceholder(parsed.data.block.parameters)) return;
      const checked = checkBlockParameters(parsed.data.block, `${field}[${i}].block`);
      if (!checked.ok) errors.push(...checked.error.split('\n'));
    });
  };
  check('forEachSample', TemplateNodeSchema);
  check('nodes', NodeSpecSchema);
  return errors;
}

/** True when a string anywhere in `value` holds a `{`: a template placeholder, filled per sample. */
function holdsPlaceholder(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('{');
  if (typeof value !== 'object' || value === null) return false;
  return Object.values(value).some(holdsPlaceholder);
}

/**
 * Built-in block parameter values that the catalog's schemas still accept, because running
 * trees were validated with them and the workflow validates additions with the same schemas
 * (so narrowing a schema would change their replay), but that give a meaningless result. The
 * client (`validateTreeSpec`) and the `addNodes` update validator refuse them; the block itself
 * refuses them at run time too. Pure.
 *
 * - `umap.min_dist` above 1: umap's spread is 1, and scanpy fits a degenerate curve beyond it.
 *
 * @returns one line per value: `nodes[3].block.parameters.min_dist: 5 is above 1, umap's spread …`.
 */
export function blockValueErrors(nodes: readonly NodeSpec[], pathOf: (index: number) => string): string[] {
  const errors: string[] = [];
  nodes.forEach((node, i) => {
    if (!('name' in node.block) || node.block.name !== 'umap') return;
    const minDist = (node.block.parameters as { min_dist?: unknown } | undefined)?.min_dist;
    if (typeof minDist === 'number' && minDist > 1) {
      errors.push(`${pathOf(i)}.block.parameters.min_dist: ${minDist} is above 1, umap's spread: the embedding would be meaningless`);
    }
  });
  return errors;
}
