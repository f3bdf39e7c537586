/**
 * Every shape that crosses a boundary (spec file → client → workflow → activity → workspace
 * → back) is defined here once, as a zod schema, and its TypeScript type is inferred from it.
 *
 * This module is imported by workflow code, so it must stay deterministic and sandbox-safe:
 * no Node built-ins, no I/O, no clocks.
 */
import { z } from 'zod';
import { BlockParameterSchemas, BUILTIN_BLOCK_NAMES, type BuiltinBlockName } from './block-catalog';

/** The eight node states of the seed's JobPool. */
export const NODE_STATES = ['PENDING', 'WAITING', 'READY', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'] as const;
export const NodeStateSchema = z.enum(NODE_STATES);
export type NodeState = z.infer<typeof NodeStateSchema>;

/** States a node never leaves. */
export const TERMINAL_STATES: readonly NodeState[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'];

/** Order among READY nodes of equal priority. */
export const PriorityStrategySchema = z.enum(['depth_first', 'breadth_first', 'fifo', 'critical_path']);
export type PriorityStrategy = z.infer<typeof PriorityStrategySchema>;

/** Tree and node ids: safe as workflow ids, folder names and Docker labels. */
export const IdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'may hold only letters, digits, "-", "_" and "." and must not start with "." or "-"')
  .refine((s) => !s.includes('..'), 'must not contain ".."');

/**
 * A tree execution's run key (RunNodeInput.runKey): in practice the last 12 characters of the
 * tree's first run id (its random tail), or its first 8 for executions started before the
 * `run-key-tail` patch (common/run-key.ts); letters, digits and "-" only, never ".", so it can follow an id after a
 * "." (workspace folders `<treeId>.<runKey>`) or a ".." (container names, docker-identity.ts).
 */
export const RunKeySchema = z.string().regex(/^[A-Za-z0-9-]{1,36}$/);

/** Largest JSON size of one node's parameters; keeps history events far below Temporal's 2 MB payload limit. */
export const MAX_PARAMETERS_BYTES = 64 * 1024;

const ParametersSchema = z
  .record(z.string(), z.unknown())
  .default({})
  .refine((p) => JSON.stringify(p).length <= MAX_PARAMETERS_BYTES, `parameters must serialise to at most ${MAX_PARAMETERS_BYTES} bytes`);

/** A built-in block by name, e.g. `{ name: "pca", parameters: { n_comps: 30 } }`. */
export const BuiltinBlockSchema = z.strictObject({
  name: z.enum(BUILTIN_BLOCK_NAMES, { error: (iss) => `unknown block "${String(iss.input)}"; built-in blocks are: ${BUILTIN_BLOCK_NAMES.join(', ')}` }),
  parameters: ParametersSchema,
});

/** Inline Python following the framework convention `run(adata=None, **parameters)`. */
export const InlineBlockSchema = z.strictObject({
  code: z.string().min(1, 'inline code must not be empty').max(256 * 1024, 'inline code must be at most 256 KiB'),
  requirements: z
    .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?([<>=!~]=?[A-Za-z0-9.*+!_-]+)?(,[<>=!~]=?[A-Za-z0-9.*+!_-]+)*$/, 'must be a pip requirement such as "pkg==1.2"'))
    .max(50)
    .default([]),
  /** Inline blocks get no network unless they ask for it. */
  network: z.boolean().default(false),
  /**
   * The code gives the same output for the same input, parameters and runtime (it fixes its
   * random seeds), so its result may be reused across trees (activities/cache). Absent = false:
   * inline code is never reused unless it says so.
   */
  deterministic: z.boolean().optional(),
  /**
   * The node's `resources` (memory, CPUs) change what the code computes (e.g. it picks a chunk
   * size or a thread count from them), so they are part of its cache key. Absent = false: a
   * result is reused whatever resources the node was given (a node that got more memory after an
   * out-of-memory kill still matches).
   */
  resourcesAffectResult: z.boolean().optional(),
  parameters: ParametersSchema,
});

type BlockOutput = z.infer<typeof BuiltinBlockSchema> | z.infer<typeof InlineBlockSchema>;
type BlockInput = z.input<typeof BuiltinBlockSchema> | z.input<typeof InlineBlockSchema>;

/**
 * A block: inline code when the object has `code`, else a built-in block by name. Dispatching on
 * `code` (instead of trying both) gives errors about the form the user meant, e.g.
 * `block.name: unknown block "tsne"` rather than zod's generic "Invalid input" for a union.
 */
export const BlockSchema = z.unknown().transform((value, ctx) => {
  // Both kinds at once: say so, rather than call one of the two keys unknown.
  if (typeof value === 'object' && value !== null && 'code' in value && 'name' in value) {
    ctx.addIssue({ code: 'custom', message: 'a block has either `name` (a built-in block) or `code` (inline Python), not both', path: [] });
    return z.NEVER;
  }
  const schema = typeof value === 'object' && value !== null && 'code' in value ? InlineBlockSchema : BuiltinBlockSchema;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data as BlockOutput;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom', message: issue.message, path: issue.path } as never);
  return z.NEVER;
}) as unknown as z.ZodType<BlockOutput, BlockInput>;
export type Block = z.infer<typeof BlockSchema>;
export type BuiltinBlock = z.infer<typeof BuiltinBlockSchema>;
export type InlineBlock = z.infer<typeof InlineBlockSchema>;

/** Resource requests of one node attempt. */
export const ResourcesSchema = z.strictObject({
  memoryMB: z.number().int().min(64).max(262_144).optional(),
  cpus: z.number().positive().max(256).optional(),
  /** Multiply the memory limit by this factor on each retry after an out-of-memory failure. */
  memoryGrowthFactor: z.number().min(1).max(8).optional(),
  /** Upper bound for memory growth on retries. */
  maxMemoryMB: z.number().int().min(64).max(262_144).optional(),
}).refine((r) => r.memoryGrowthFactor === undefined || r.memoryMB !== undefined, {
  message: 'memoryGrowthFactor needs memoryMB (the memory of the first attempt)',
  path: ['memoryGrowthFactor'],
});
export type Resources = z.infer<typeof ResourcesSchema>;

// ---------------------------------------------------------------------------------------------
// Cohorts (issue 12): sample sheets, per-sample templates, nodes with several inputs.

/**
 * Most samples one tree may hold: the list travels in the start input and in the state carried
 * across continue-as-new (about 150 bytes a sample), both under Temporal's 2 MB payload limit.
 */
export const MAX_SAMPLES = 2000;

/** Sample ids become parts of node ids and file names: the same characters as node ids. */
export const SampleIdSchema = IdSchema;

/**
 * One row of a sample sheet, inline in a spec or from a CSV/TSV file (nf-core convention): a
 * `sample` id, a `path` to its `.h5ad`, and any further columns (condition, batch, donor, ...),
 * every value a string.
 */
export const SampleRowSchema = z.object({
  sample: SampleIdSchema,
  path: z.string().min(1, 'must not be empty').max(4096).regex(/\.h5ad$/, 'must be an .h5ad file'),
}).catchall(z.string({ error: 'column values must be strings' }).max(10_000));
export type SampleRow = z.infer<typeof SampleRowSchema>;

/**
 * `samples:` of a spec: a path to a CSV/TSV sheet (relative to the spec file; the client reads it
 * and sends inline rows) or the inline rows themselves.
 */
export const SamplesSchema = z.unknown().transform((value, ctx) => {
  // Dispatch on the form (as BlockSchema does), so errors name the bad row and column rather
  // than zod's "Invalid input" for a union.
  const schema = typeof value === 'string'
    ? z.string().min(1).max(4096)
    : Array.isArray(value)
      ? z.array(SampleRowSchema).max(MAX_SAMPLES, `must hold at most ${MAX_SAMPLES} samples`)
      : z.array(SampleRowSchema, { error: 'must be a sample sheet path (CSV/TSV) or a list of rows {sample, path, ...columns}' });
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data as string | SampleRow[];
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom', message: issue.message, path: issue.path } as never);
  return z.NEVER;
}) as unknown as z.ZodType<string | SampleRow[], string | Array<z.input<typeof SampleRowSchema>>>;

/** The marker a template id (and its references to other templates) holds. */
export const SAMPLE_MARKER = '{sample}';

/** A template id (`qc_{sample}`) or reference: a node id once `{sample}` is replaced by a sample id. */
export const TemplateIdSchema = z.string().min(1).max(128).superRefine((s, ctx) => {
  // A misspelt marker (`{smaple}`, `{Sample}`) would otherwise read as a bad character in an id.
  const other = [...s.matchAll(/\{[^{}]*\}/g)].map((m) => m[0]).find((m) => m !== SAMPLE_MARKER);
  if (other !== undefined) {
    ctx.addIssue({ code: 'custom', message: `unknown placeholder ${other}; only ${SAMPLE_MARKER} is substituted` });
    return;
  }
  const probe = IdSchema.safeParse(s.split(SAMPLE_MARKER).join('S'));
  if (!probe.success) ctx.addIssue({ code: 'custom', message: probe.error.issues[0]?.message ?? 'invalid id' });
});

/**
 * Several inputs of one node, instead of `parentId`: `{ gather: "norm_{sample}" }` (one input per
 * sample, in sheet order, keyed by sample id) or a list of node ids (keyed by node id).
 */
export const NodeInputsSchema = z.union([
  z.strictObject({ gather: TemplateIdSchema }),
  z.array(IdSchema).min(1, 'must name at least one node').max(MAX_SAMPLES),
]);
export type NodeInputs = z.infer<typeof NodeInputsSchema>;

/** One node as written in a spec or sent in `addNodes`. */
export const NodeSpecSchema = z.strictObject({
  id: IdSchema,
  parentId: IdSchema.nullable().optional(),
  dependencies: z.array(IdSchema).max(1000).default([]),
  /** Several inputs instead of `parentId` (see {@link NodeInputsSchema}); they are all dependencies. */
  inputs: NodeInputsSchema.optional(),
  /** The sample this node belongs to (set on nodes expanded from `forEachSample`). */
  sample: SampleIdSchema.optional(),
  block: BlockSchema,
  priority: z.number().finite().default(0),
  /** Seconds one attempt may run; defaults to the tree's `jobTimeout`. */
  timeout: z.number().positive().max(7 * 24 * 3600).optional(),
  /** Retries after a failed attempt; defaults to the tree's `maxRetries`. */
  maxRetries: z.number().int().min(0).max(100).optional(),
  resources: ResourcesSchema.optional(),
  /** Hint for `critical_path`: expected seconds of one attempt. */
  expectedDuration: z.number().nonnegative().optional(),
  /** Task queue for this node's activity (resource classes, e.g. large-memory workers). */
  taskQueue: z.string().min(1).max(200).optional(),
  /**
   * false: this node neither reuses a cached result nor publishes its own to the cache
   * (activities/cache). Absent: the tree's `cache` decides.
   */
  cache: z.boolean().optional(),
});
export type NodeSpecInput = z.input<typeof NodeSpecSchema>;
export type NodeSpec = z.infer<typeof NodeSpecSchema>;

/**
 * A `forEachSample` template: an ordinary node whose `id` holds `{sample}`, and whose `parentId`
 * and `dependencies` may name other templates (with `{sample}`) or ordinary nodes (without).
 * A template without `parentId` reads its sample's own `.h5ad`.
 */
export const TemplateNodeSchema = NodeSpecSchema.omit({ inputs: true, sample: true }).extend({
  id: TemplateIdSchema,
  parentId: TemplateIdSchema.nullable().optional(),
  dependencies: z.array(TemplateIdSchema).max(1000).default([]),
});
export type TemplateNode = z.infer<typeof TemplateNodeSchema>;

/** A declarative expansion rule: after a node running block `after` completes, add `add`. */
export const ExpansionRuleSchema = z.strictObject({
  /** Shown as the provenance of the nodes it adds; default `rule <index> (after <block>)`. */
  name: z.string().min(1).max(100).optional(),
  after: z.string().min(1),
  add: z.array(z.strictObject({
    idSuffix: z.string().regex(/^[A-Za-z0-9_.-]+$/).max(64),
    block: BlockSchema,
    priority: z.number().finite().default(0),
  })).min(1).max(20),
});
export type ExpansionRule = z.infer<typeof ExpansionRuleSchema>;

/** Where reactive expansion comes from. */
export const ExpansionSchema = z.strictObject({
  /**
   * Add the `suggestedChildren` of block result manifests to the tree. Off by default: the
   * built-in blocks suggest the usual next steps, and a tree should not grow to `maxNodes`
   * unless asked to. @default false
   */
  fromResults: z.boolean().default(false),
  rules: z.array(ExpansionRuleSchema).max(100).default([]),
  /** HTTP endpoint of an external agent (the seed's function selector). */
  policyUrl: z.string().url().optional(),
  /** HTTP endpoint of a code fixer (the seed's bug fixer). */
  fixerUrl: z.string().url().optional(),
  /** Most repair attempts per node. @default 2 */
  maxRepairs: z.number().int().min(0).max(10).default(2),
  /** Keep the tree open for additions after all nodes ended, until closed or idle this long (seconds). 0 = close at once. */
  idleTimeout: z.number().int().min(0).max(30 * 24 * 3600).default(0),
});
export type Expansion = z.infer<typeof ExpansionSchema>;

/**
 * Where a forked tree's input came from (`ragomics fork`, `RagomicsClient.forkTree`): the source
 * tree and node, and the published output (path and sha256) that is the new tree's
 * `inputDataPath`. Recorded so the new tree's status names its origin.
 */
export const ForkOriginSchema = z.strictObject({
  treeId: IdSchema,
  nodeId: IdSchema,
  outputPath: z.string().min(1).max(4096).regex(/\.h5ad$/, 'must be an .h5ad file'),
  outputSha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 (64 lowercase hex digits)'),
});
export type ForkOrigin = z.infer<typeof ForkOriginSchema>;

/**
 * Longest timeout (seconds) of a node that runs as a local activity. A running local node holds
 * its tree's workflow task open, and Temporal ends a workflow task renewed for longer than 30
 * minutes (`history.workflowTaskHeartbeatTimeout`); a bound well under it keeps that from
 * happening, and nodes of such trees are short by design. A node of a `localActivities` tree
 * whose own `timeout` is longer runs as a regular activity; the tree's `jobTimeout` must be
 * within it.
 */
export const LOCAL_NODE_MAX_TIMEOUT_SECONDS = 600;

/** The tree spec of CONTRACT.md. */
export const TreeSpecSchema = z
  .strictObject({
    id: IdSchema.optional(),
    userRequest: z.string().max(10_000).default(''),
    inputDataPath: z.string().min(1).max(4096).regex(/\.h5ad$/, 'must be an .h5ad file').optional(),
    maxParallelJobs: z.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(3),
    // The state carried across continue-as-new goes through the workspace in chunks under Temporal's 2 MB payload limit
    // (workflows/carried-state.ts): about 92 bytes per node deflated, 1.8 MB at 20,000 nodes, read back in the new run's first workflow task.
    maxNodes: z.number().int().min(1, 'must be at least 1').max(20_000, 'must be at most 20000 (one workflow carries its node table across continue-as-new within Temporal\'s 2 MB payload limit)').default(20),
    maxChildrenPerNode: z.number().int().min(1, 'must be at least 1').max(10_000).default(3),
    maxDepth: z.number().int().min(1).max(10_000).default(1000),
    priorityStrategy: PriorityStrategySchema.default('depth_first'),
    /** Use priorities at all (the seed's `priority_queue`); false means FIFO. @default true */
    priorityQueue: z.boolean().default(true),
    jobTimeout: z.number().positive().max(7 * 24 * 3600).default(3600),
    maxRetries: z.number().int().min(0).max(100).default(0),
    retryDelay: z.number().min(0).max(24 * 3600).default(5),
    callbackTimeout: z.number().positive().max(3600).default(30),
    /**
     * Seconds without a heartbeat after which a node's worker is presumed dead and the node runs
     * again elsewhere. Most of the failover time; a shorter one costs server writes (one timer per
     * timeout per running node) and calls a worker whose event loop stalls this long lost. 6 with
     * the workers' defaults (a heartbeat every 2 s, sticky timeout 2 s) keeps failover within
     * 10 s (BENCHMARKS.md, failover). Trees recorded with the earlier default (30) keep it on
     * replay (workflows/analysis-tree.ts, HEARTBEAT_DEFAULT_PATCH). @default 6
     */
    heartbeatTimeout: z.number().min(1).max(3600).default(6),
    /** Run expansion callbacks on completion (the seed's `enable_callbacks` / `enable_reactive`). @default true */
    enableReactive: z.boolean().default(true),
    expansion: ExpansionSchema.default(() => ExpansionSchema.parse({})),
    nodes: z.array(NodeSpecSchema).default([]),
    /** The cohort's samples: a CSV/TSV sheet path (read by the client) or inline rows. */
    samples: SamplesSchema.optional(),
    /** Node templates expanded once per sample, in sheet order (common/cohort.ts). */
    forEachSample: z.array(TemplateNodeSchema).max(1000).default([]),
    /**
     * Reuse results across trees: a node of a deterministic block whose cache key (block,
     * runtime, parameters, inputs: activities/cache/key.ts) has a published, verified output
     * completes with that output (`cached: true`) and runs nothing; a computed one is published
     * to the cache. false: no node of this tree reuses or publishes (`ragomics run --no-cache`).
     * @default true
     */
    cache: z.boolean().default(true),
    /**
     * Run this tree's nodes as Temporal *local activities*: on the worker that runs the tree's
     * workflow task, recorded as a marker in the tree's history, with no activity task through the
     * server. A handoff between nodes then costs less than a bare Temporal workflow's activity
     * handoff (BENCHMARKS.md, orchestration overhead). Meant for trees of short nodes (seconds):
     * while a local node runs, the workflow task stays open and is renewed every 80% of the tree's
     * workflow task timeout (Temporal's default, 10 s), so a query, signal or update waits up to
     * about 8 s, and each renewal writes 3 history events. The timeout is not shortened: it also
     * bounds a new worker's replay of the whole history (about 4 s for a run of 2,000 events,
     * measured by hand on a quiet 2-core host), and a replay that overruns it would never end.
     * Trade-offs: no heartbeats
     * (cancellation still reaches the node), a node whose worker dies runs again once the workflow
     * task times out (10 s) rather than after the heartbeat timeout, the node's activity never
     * shows as pending in the Web UI or in `status`'s `waitingFor`, and the worker's cap
     * (`RAGOMICS_MAX_CONCURRENT_NODES`) counts local nodes apart from regular ones, a task lost
     * with its worker runs its nodes again from their first attempt, and a worker's SIGTERM grace
     * is tested for regular nodes only. `jobTimeout` must be at most
     * {@link LOCAL_NODE_MAX_TIMEOUT_SECONDS}; a node whose own `timeout` is longer, or that names a
     * `taskQueue`, runs as a regular activity; cache lookups stay regular activities.
     * @default false
     */
    localActivities: z.boolean().default(false),
    /** Set by fork: the node whose output this tree starts from ({@link ForkOriginSchema}); must match `inputDataPath`. */
    origin: ForkOriginSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    // The origin describes the input: one that names another file would be a false record.
    if (spec.origin && spec.origin.outputPath !== spec.inputDataPath) {
      ctx.addIssue({ code: 'custom', path: ['origin', 'outputPath'], message: `must equal inputDataPath (the forked output the tree reads), got "${spec.origin.outputPath}"` });
    }
    if (spec.localActivities && spec.jobTimeout > LOCAL_NODE_MAX_TIMEOUT_SECONDS) {
      ctx.addIssue({ code: 'custom', path: ['jobTimeout'], message: `must be at most ${LOCAL_NODE_MAX_TIMEOUT_SECONDS} with localActivities (its nodes are short; a local node holds the tree's workflow task open), got ${spec.jobTimeout}: set jobTimeout` });
    }
  });
export type TreeSpecInput = z.input<typeof TreeSpecSchema>;
export type TreeSpec = z.infer<typeof TreeSpecSchema>;

/** Request body of the `addSamples` update: new rows (absolute paths) whose templates are expanded. */
export const AddSamplesRequestSchema = z.strictObject({
  /** Caller-chosen id; a repeated request with the same id is applied once. */
  requestId: z.string().min(1).max(200),
  samples: z.array(SampleRowSchema).min(1, 'must add at least one sample').max(MAX_SAMPLES),
});
export type AddSamplesRequest = z.infer<typeof AddSamplesRequestSchema>;

/**
 * The request id under which a tree records its own initial nodes (a spec's, a fork's). An
 * `addNodes` or `addSamples` request under it would be taken for a duplicate: clients refuse it.
 */
export const SPEC_REQUEST_ID = 'spec';

/** The refusal of a request under {@link SPEC_REQUEST_ID}: clients and the update validators say the same. */
export function reservedRequestIdError(): string {
  return `requestId: "${SPEC_REQUEST_ID}" names the tree's own nodes; choose another request id`;
}

/** Request body of the `addNodes` update and signal. */
export const AddNodesRequestSchema = z.strictObject({
  /** Caller-chosen id; a repeated request with the same id is applied once. */
  requestId: z.string().min(1).max(200),
  nodes: z.array(NodeSpecSchema).min(1, 'must add at least one node').max(100_000),
  /** Who asked (shown in the timeline): client, agent, rule, result. */
  source: z.string().max(100).optional(),
  /**
   * Identity of the caller (e.g. `alice@lab-1 pid 4242`), recorded as the added nodes'
   * provenance. The SDK and CLI fill it in; absent = the caller did not name itself.
   */
  client: z.string().max(200).optional(),
});
export type AddNodesRequest = z.infer<typeof AddNodesRequestSchema>;

/**
 * `text` parsed as JSON and read with `schema`; null when it is not JSON or does not match. For
 * files whose readers treat a torn or foreign file as absent (the workspace's records as other
 * worker versions or an interrupted write may have left them).
 */
export function parseJsonAs<T>(text: string, schema: z.ZodType<T>): T | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** Turns a zod error into one line per issue: `nodes[3].dependencies[0]: unknown node "pca"`. */
export function formatZodError(error: z.ZodError, prefix = ''): string {
  return error.issues
    .flatMap((issue) => {
      // An unknown key is a problem of that key: one `path.key: unknown field` line each, so a
      // file's reader can locate it (from the issue's data, not zod's wording).
      if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${formatPath(prefix, [...issue.path, k])}: unknown field`);
      const path = formatPath(prefix, issue.path);
      return [path ? `${path}: ${issue.message}` : issue.message];
    })
    .join('\n');
}

/** Renders a path like `nodes[3].block.parameters`. */
export function formatPath(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Validates a built-in block's parameters against its catalog schema; returns the parsed parameters or an error line. */
export function checkBlockParameters(block: BuiltinBlock, path: string): { ok: true; parameters: Record<string, unknown> } | { ok: false; error: string } {
  const schema = BlockParameterSchemas[block.name as BuiltinBlockName];
  const parsed = schema.safeParse(block.parameters);
  if (parsed.success) return { ok: true, parameters: parsed.data as Record<string, unknown> };
  // An unknown parameter (a typo, a scanpy argument the block does not take) is named with the
  // closest known one and the block's whole list: the user should not need the catalog open.
  const known = Object.keys(schema.shape);
  const lines = parsed.error.issues.flatMap((issue) => {
    if (issue.code !== 'unrecognized_keys') return [formatZodError(new z.ZodError([issue]), `${path}.parameters`)];
    return issue.keys.map((key) => {
      const near = closest(key, known);
      return `${formatPath(`${path}.parameters`, [...issue.path, key])}: unknown parameter of ${block.name}${near ? ` (did you mean ${near}?)` : ''}; it takes ${known.join(', ')}`;
    });
  });
  return { ok: false, error: lines.join('\n') };
}

/**
 * The name in `names` closest to `name` by edit distance (case-insensitive), when it is close
 * enough to be a likely typo: at most 2 edits, and fewer than half the name's length.
 */
function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of names) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= 2 && bestDistance < name.length / 2 ? best : undefined;
}

/** Levenshtein distance (insertions, deletions, substitutions), O(|a|·|b|). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Activity boundary: what the workflow asks a worker to run, and what comes back.

/** A node's sample and the sheet's other columns (string values), as the runner gets them. */
export const SampleFactsSchema = z.strictObject({ sample: z.string(), columns: z.record(z.string(), z.string()) });
export type SampleFacts = z.infer<typeof SampleFactsSchema>;

/** Key of one input of a multi-input node (a sample or node id): it names the file `inputs/<key>.h5ad`. */
export const InputKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'may hold only letters, digits, "-", "_" and "." (at most 128)')
  .refine((k) => k !== '.' && k !== '..', 'must not be "." or ".."');

/** One input of a multi-input node: its key, the host path of its `.h5ad`, its sample if it has one. */
export const NodeInputSchema = z.strictObject({ key: InputKeySchema, path: z.string(), sample: SampleFactsSchema.optional() });
export type NodeInput = z.infer<typeof NodeInputSchema>;

/** Input of the `runNode` activity. */
export const RunNodeInputSchema = z.strictObject({
  treeId: IdSchema,
  nodeId: IdSchema,
  /** 1-based attempt number as the workflow counts it (retries inside one activity bump Temporal's own attempt). */
  attempt: z.number().int().min(1),
  block: BlockSchema,
  /** Host path of the input `.h5ad` (parent's published output or the tree's input), or null for none (and for a multi-input node). */
  inputPath: z.string().nullable(),
  /** A multi-input node's inputs in order (then `inputPath` is null); keys unique within the node. */
  inputs: z
    .array(NodeInputSchema)
    .superRefine((inputs, ctx) => {
      const seen = new Set<string>();
      inputs.forEach((input, i) => {
        if (seen.has(input.key)) ctx.addIssue({ code: 'custom', path: [i, 'key'], message: `input key "${input.key}" appears twice` });
        seen.add(input.key);
      });
    })
    .optional(),
  /** The sample of a per-sample node. */
  sample: SampleFactsSchema.optional(),
  resources: ResourcesSchema.optional(),
  timeoutSeconds: z.number().positive(),
  /**
   * Distinguishes executions of one tree id (a finished tree's id can be used again): derived
   * from the tree's first run id (common/run-key.ts), stable across continue-as-new. Workspace
   * folders are `<treeId>.<runKey>`.
   */
  runKey: RunKeySchema.optional(),
  /** Extra code patch from the repair hook, replacing inline code for this attempt. */
  patchedCode: z.string().optional(),
  /**
   * The node's cache key (activities/cache/key.ts), from the `lookupCache` activity: a
   * successful attempt is published to the cache under it. Absent: not cacheable, nothing is
   * published.
   */
  cacheKey: z.string().regex(/^[0-9a-f]{64}$/).optional(),
}).refine((input) => input.inputs === undefined || input.inputPath === null, { path: ['inputPath'], message: 'must be null when inputs are given' });
export type RunNodeInput = z.infer<typeof RunNodeInputSchema>;

/** A child suggested by a block's result manifest. */
export const SuggestedChildSchema = z.strictObject({
  id: z.string().optional(),
  block: BlockSchema,
  priority: z.number().finite().optional(),
});
export type SuggestedChild = z.infer<typeof SuggestedChildSchema>;

/** One Temporal attempt of a node's activity, as reconstructed by the activity itself. */
export const ActivityAttemptSchema = z.object({
  attempt: z.number().int(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  outcome: z.enum(['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'LOST']),
  worker: z.string(),
  error: z.string().optional(),
  errorType: z.string().optional(),
  exitCode: z.number().int().optional(),
  memoryMB: z.number().optional(),
});
export type ActivityAttempt = z.infer<typeof ActivityAttemptSchema>;

/**
 * Details carried by every typed activity failure (`ApplicationFailure.details[0]`; sent by
 * activities/errors.ts NodeFailureError), as the workflow reads them (workflows/classify-failure.ts):
 * every field optional, since a failure from elsewhere (another SDK, a hand-made one) carries
 * other details or none.
 */
export const FailureDetailsSchema = z.object({
  /** The runner's exit code, or null when it never ran or was killed by the worker. */
  exitCode: z.number().int().nullable().optional(),
  /** The last lines of the attempt's stderr, '' when there were none. */
  stderrTail: z.string().optional(),
  /** Host folder holding job.json, stdout.log and stderr.log of the attempt, when one was made. */
  logDir: z.string().nullable().optional(),
  /** Memory limit of the attempt in MB, when known. */
  memoryMB: z.number().optional(),
  /** Every Temporal attempt of this workflow attempt, read back from the workspace. */
  attemptHistory: z.array(ActivityAttemptSchema).optional(),
});
export type FailureDetails = z.infer<typeof FailureDetailsSchema>;

/** The computation a cached output came from (`treeId` is the workspace key `<treeId>.<runKey>`). */
export const CachedFromSchema = z.strictObject({ treeId: z.string(), nodeId: z.string(), attempt: z.number().int().min(1) });
export type CachedFrom = z.infer<typeof CachedFromSchema>;

/**
 * A cacheable node's cache facts, shown in its status (`cache`): its key, whether it reused a
 * cached output and from where, and whose computation of the same key it waited for. Written by
 * the tree's workflow (workflows/node-record.ts); read by `status` and the report
 * (client/cache-stats.ts), which parse it with this schema.
 */
export const NodeCacheSchema = z.object({
  key: z.string(),
  hit: z.boolean(),
  /** The computation the reused output came from (`treeId` = workspace key `<treeId>.<runKey>`). */
  from: CachedFromSchema.optional(),
  /** The node of another tree (its workflow id) that computed this key while this one waited (key lease). */
  waitedFor: z.object({ treeId: z.string(), nodeId: z.string() }).optional(),
});
export type NodeCache = z.infer<typeof NodeCacheSchema>;

/** Small result of one node run: paths, digests, metrics; never data. */
export const NodeResultSchema = z.object({
  outputDir: z.string(),
  outputPath: z.string(),
  /** sha256 of the published `_node_anndata.h5ad`. */
  outputSha256: z.string(),
  figures: z.array(z.string()).default([]),
  shape: z.tuple([z.number(), z.number()]).nullable().default(null),
  metrics: z.record(z.string(), z.unknown()).default({}),
  summary: z.string().default(''),
  suggestedChildren: z.array(SuggestedChildSchema).default([]),
  imageDigest: z.string().nullable().default(null),
  executor: z.string(),
  worker: z.string(),
  startedAt: z.string(),
  endedAt: z.string(),
  /** Temporal's attempt number of the activity that produced this result. */
  activityAttempt: z.number().int().default(1),
  /** True when a retry found this attempt already published and returned it without running. */
  reused: z.boolean().default(false),
  peakMemoryMB: z.number().nullable().default(null),
  /** Every Temporal attempt of this run, oldest first, when the activity could reconstruct them (from heartbeat details). */
  attemptHistory: z.array(z.lazy(() => ActivityAttemptSchema)).default([]),
  /** True when the output was reused from the cache (hard links of an entry) and nothing ran. */
  cached: z.boolean().default(false),
  /** The cache key the node had (computed or reused), null when it was not cacheable. */
  cacheKey: z.string().nullable().default(null),
  /**
   * False when the node computed with a cache key but its output could not be stored under it
   * (activities/cache/lookup.ts publishComputed: logged, the result stands); absent otherwise.
   * The key's waiters then compute themselves instead of looking up an entry that is not there.
   */
  cacheStored: z.boolean().optional(),
  /** Where a cached output was first computed: the workspace key `<treeId>.<runKey>`, the node and its attempt. */
  cachedFrom: CachedFromSchema.nullable().default(null),
});
export type NodeResult = z.infer<typeof NodeResultSchema>;

/**
 * `<workspace>/cache/entries/<key>/entry.json`: what a cache entry holds (activities/cache/store.ts;
 * `ragomics gc` reads it too). `origin.treeId` is the workspace key `<treeId>.<runKey>`;
 * `bytes` the total size of the entry's files (what a hit saves computing and storing);
 * `block` the block's label (a built-in block's name or `inline`).
 */
export const CacheEntrySchema = z.object({
  key: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  origin: CachedFromSchema,
  /** sha256 of the entry's `_node_anndata.h5ad`, '' when the block produced no AnnData. */
  outputSha256: z.string().regex(/^([0-9a-f]{64})?$/),
  bytes: z.number().int().min(0),
  block: z.string(),
});
export type CacheEntry = z.infer<typeof CacheEntrySchema>;

// ---------------------------------------------------------------------------------------------
// Callbacks to external services (the seed's function selector and bug fixer).

/** What the expansion policy endpoint receives when a node completes. */
export const ExpansionPolicyRequestSchema = z.object({
  treeId: z.string(),
  userRequest: z.string(),
  node: z.object({
    id: z.string(),
    block: BlockSchema,
    summary: z.string(),
    shape: z.tuple([z.number(), z.number()]).nullable(),
    metrics: z.record(z.string(), z.unknown()),
    outputPath: z.string(),
  }),
  tree: z.array(z.object({ id: z.string(), parentId: z.string().nullable(), block: z.string(), state: NodeStateSchema })),
});
export type ExpansionPolicyRequest = z.infer<typeof ExpansionPolicyRequestSchema>;

/** Longest `reason` the policy endpoint may give for one node. */
export const MAX_POLICY_REASON = 2000;

/**
 * What it answers: nodes to add (validated like an `addNodes` update; `parentId` defaults to the
 * completed node), each with an optional `reason`, kept as the node's provenance.
 */
export const ExpansionPolicyResponseSchema = z.strictObject({
  nodes: z.array(NodeSpecSchema.extend({
    /** Why the endpoint adds this node (the agent's rationale); shown in status, report and Web UI. */
    reason: z.string().max(MAX_POLICY_REASON, `must be at most ${MAX_POLICY_REASON} characters`).optional(),
  })).max(1000).default([]),
});
export type ExpansionPolicyResponse = z.infer<typeof ExpansionPolicyResponseSchema>;

/** What the fixer endpoint receives when a node's code fails. */
export const FixerRequestSchema = z.object({
  treeId: z.string(),
  nodeId: z.string(),
  code: z.string(),
  parameters: z.record(z.string(), z.unknown()),
  error: z.string(),
  stderrTail: z.string(),
  repair: z.number().int(),
});
export type FixerRequest = z.infer<typeof FixerRequestSchema>;

/** The fixer's answer: patched code, or `null` code to give up. */
export const FixerResponseSchema = z.strictObject({
  code: z.string().min(1).max(256 * 1024).nullable(),
  explanation: z.string().max(10_000).optional(),
});
export type FixerResponse = z.infer<typeof FixerResponseSchema>;

// ---- key leases: identical work in flight runs once (workflows/key-lease.ts, workflows/key-lease-workflow.ts) ----

/** A cache key: the sha256 (64 lowercase hex) of a node's canonical key document. */
export const CacheKeySchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (a sha256)');

/** Who a lease claim or grant speaks of: a tree (its workflow id) and one of its nodes. */
export const LeaseHolderSchema = z.strictObject({ treeId: z.string().min(1).max(256), nodeId: z.string().min(1).max(256) });
export type LeaseHolder = z.infer<typeof LeaseHolderSchema>;

/**
 * One node's claim on a key (signal `claimKey` to the lease workflow, or its start input).
 * `claimId` is unique per claim (`<run id>:<node id>:<n>`), so grants and releases name
 * the claim they answer and a stale one (a cancelled waiter, an expired owner) is told apart.
 * `holdLimitSeconds`: how long this claim may own the key before the lease gives it to the
 * next waiter as if it had been cancelled (its tree was terminated, say).
 */
export const LeaseClaimSchema = LeaseHolderSchema.extend({
  claimId: z.string().min(1).max(600),
  holdLimitSeconds: z.number().positive().max(10 * 365 * 24 * 3600),
});
export type LeaseClaim = z.infer<typeof LeaseClaimSchema>;

/** How an owner's computation ended (signal `releaseKey`). `failed` carries the error shown to waiters. */
export const LeaseReleaseSchema = z.strictObject({
  claimId: z.string().min(1).max(600),
  outcome: z.enum(['completed', 'failed', 'cancelled']),
  error: z.string().max(4000).optional(),
});
export type LeaseRelease = z.infer<typeof LeaseReleaseSchema>;

/**
 * The owner is still at it (signal `renewKey`): its hold limit counts again from now, for
 * `holdLimitSeconds`. Sent every half hold limit while a node owns a key, so an owner that is
 * alive keeps the key through re-runs and slot waits; one whose tree is gone stops renewing.
 */
export const LeaseRenewalSchema = z.strictObject({
  claimId: z.string().min(1).max(600),
  holdLimitSeconds: z.number().positive().max(10 * 365 * 24 * 3600),
});
export type LeaseRenewal = z.infer<typeof LeaseRenewalSchema>;

/**
 * What the lease tells a claiming tree (signal `keyGrant`). `queued`: someone else computes the
 * key (`owner`), wait; sent again with the new owner after a hand-over. The final answers:
 * `compute` (you own the key now), `ready` (`owner` published it: look it up again), `failed`
 * (`owner`'s computation failed with `error`; failures are not cached).
 */
export const KeyGrantSchema = z.strictObject({
  key: CacheKeySchema,
  claimId: z.string().min(1).max(600),
  role: z.enum(['queued', 'compute', 'ready', 'failed']),
  owner: LeaseHolderSchema,
  error: z.string().max(4000).optional(),
});
export type KeyGrant = z.infer<typeof KeyGrantSchema>;

// ---- state carried across continue-as-new (workflows/carried-state.ts, activities/carried-state.ts) ----

/** Which run's carried-state file: ids only, so an activity builds the path itself (no path travels). */
const CarriedFileSchema = z.strictObject({
  treeId: IdSchema,
  /** See RunNodeInput.runKey: the tree's folder is `<treeId>.<runKey>`. */
  runKey: RunKeySchema,
  /** The run that wrote the file (a Temporal run id: a UUID). */
  runId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
});

/**
 * What a continue-as-new input holds instead of the state itself: where the run that continued
 * wrote it (`<workspace>/trees/<treeId>.<runKey>/carried/<runId>.json.deflate`), its size and
 * sha256, and in how many chunks it is read back.
 */
export const CarriedRefSchema = CarriedFileSchema.extend({
  format: z.literal('workspace-deflate-json-v1'),
  bytes: z.number().int().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  chunks: z.number().int().min(1),
});
export type CarriedRef = z.infer<typeof CarriedRefSchema>;

/**
 * First argument of the `writeCarriedChunk` activity: which chunk (0-based) of the deflated state.
 * The bytes are its second argument: only a top-level `Uint8Array` travels as a binary payload
 * (inside an object, Temporal's JSON converter would spell every byte out as a key).
 */
export const WriteCarriedChunkSchema = CarriedFileSchema.extend({ index: z.number().int().min(0) });
export type WriteCarriedChunk = z.infer<typeof WriteCarriedChunkSchema>;

/**
 * Input of the `commitCarried` activity: the chunks written make one file of `bytes` bytes;
 * files of other runs of the tree than `keep` are removed.
 */
export const CommitCarriedSchema = CarriedFileSchema.extend({
  chunks: z.number().int().min(1),
  bytes: z.number().int().min(1),
  keep: z.array(z.string().regex(/^[A-Za-z0-9-]{1,64}$/)),
});
export type CommitCarried = z.infer<typeof CommitCarriedSchema>;

/** Input of the `readCarriedChunk` activity: the reference, and which chunk. */
export const ReadCarriedChunkSchema = CarriedRefSchema.extend({ index: z.number().int().min(0) });
export type ReadCarriedChunk = z.infer<typeof ReadCarriedChunkSchema>;

/**
 * An attempt's `outcome.json` (activities/workspace.ts recordAttempt), read back as its attempt
 * history (activities/attempt-history.ts). `worker` is absent in records of versions before it.
 */
export const AttemptOutcomeRecordSchema = z.object({
  worker: z.string().optional(),
  attempt: z.number().int().min(1),
  activityAttempt: z.number().int().min(1),
  status: z.enum(['succeeded', 'failed', 'timeout', 'cancelled']),
  failureType: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  memoryMB: z.number(),
  killMs: z.number().nullable(),
  startedAt: z.string(),
  endedAt: z.string(),
});
export type AttemptOutcomeRecord = z.infer<typeof AttemptOutcomeRecordSchema>;

/**
 * A process id a worker may kill the group of: 2 or more. `process.kill(-0)` would signal the
 * worker's own process group and `process.kill(-1)` every process it may signal.
 */
export const ChildPidSchema = z.number().int().min(2);

/**
 * One control line of the local executor's fork server (blocks/runtime/ragomics_runner/forkserver.py,
 * its stdout): ready once warmed up; a job's child started; a child exited (its exit code, or the
 * signal that ended it); a job line rejected (`token` null when the line named none). A line
 * that does not parse is reported and dropped (activities/executors/fork-server.ts).
 */
export const ForkControlLineSchema = z.union([
  z.object({ ready: z.literal(true) }),
  z.object({ started: z.object({ token: z.number().int(), pid: ChildPidSchema }) }),
  z.object({ exited: z.object({ token: z.number().int(), code: z.number().int().nullable(), signal: z.number().int().nullable() }) }),
  z.object({ rejected: z.object({ token: z.number().int().nullable(), error: z.string() }) }),
]);
export type ForkControlLine = z.infer<typeof ForkControlLineSchema>;

/** Largest chunk of carried state in one activity payload (Temporal refuses payloads above 2 MB). */
export const CARRIED_CHUNK_BYTES = 1024 * 1024;

/**
 * The shape of the carried state, checked after it was read back and inflated. It checks what
 * the scheduler and the status rely on and passes every other field through unchanged
 * (`looseObject`), so a field added to `NodeRecord` travels without an edit here.
 */
export const CarriedStateSchema = z.strictObject({
  nodes: z.array(z.looseObject({
    id: z.string(),
    parentId: z.string().nullable(),
    dependencies: z.array(z.string()),
    priority: z.number(),
    depth: z.number().int(),
    block: z.looseObject({}),
    source: z.string(),
    state: NodeStateSchema,
    queuedAt: z.number(),
    transitions: z.array(z.tuple([NodeStateSchema, z.number()], z.string())),
    attempts: z.array(z.looseObject({ n: z.number().int(), runIndex: z.number().int(), state: z.string() })),
    repairs: z.number().int(),
    oomRetries: z.number().int(),
    lostRetries: z.number().int(),
  })),
  durationStats: z.array(z.strictObject({ blockKey: z.string(), count: z.number(), total: z.number() })),
  requests: z.array(z.string()),
  rejected: z.array(z.strictObject({ requestId: z.string(), source: z.string(), at: z.string(), errors: z.array(z.string()) })),
  paused: z.boolean(),
  maxParallelJobs: z.number().int().min(1),
  closed: z.boolean(),
  runs: z.number().int().min(0),
  version: z.number().int().min(0),
  /** The cohort's samples in sheet order (common/cohort.ts `Sample`); absent for trees without samples. */
  samples: z.array(z.strictObject({ sample: z.string(), path: z.string(), columns: z.record(z.string(), z.string()) })).optional(),
});

/** Answer of the `lookupCache` activity. */
export interface CacheLookup {
  key: string | null;
  hit: NodeResult | null;
}

/** Activities the workflow calls; implemented in `activities/`, named here so workflow code needs no import from there. */
export interface TreeActivities {
  runNode(input: RunNodeInput): Promise<NodeResult>;
  /**
   * The node's cache key, and its cached result when the key has a verified entry (then linked
   * into this tree's `published/attempt-<attempt>/`). `key: null`: not cacheable (a block that
   * is not deterministic, an executor without a runtime identity, an input that is missing).
   */
  lookupCache(input: RunNodeInput): Promise<CacheLookup>;
  callExpansionPolicy(url: string, request: ExpansionPolicyRequest): Promise<ExpansionPolicyResponse>;
  callFixer(url: string, request: FixerRequest): Promise<FixerResponse>;
}

/** Activities that move the tree's state across continue-as-new through the workspace (activities/carried-state.ts). */
export interface CarryActivities {
  /** Writes one chunk; idempotent (a retry rewrites the same part file). */
  writeCarriedChunk(input: WriteCarriedChunk, bytes: Uint8Array): Promise<void>;
  /** Joins the chunks into the state file (atomic rename); returns its sha256 and size. */
  commitCarried(input: CommitCarried): Promise<{ sha256: string; bytes: number }>;
  /** Returns one chunk of the state file after checking its size and sha256. */
  readCarriedChunk(input: ReadCarriedChunk): Promise<Uint8Array>;
}
