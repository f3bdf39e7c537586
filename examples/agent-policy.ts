/**
 * An agent on the other side of the policy endpoint (`expansion.policyUrl`): each time a node
 * of a tree completes, the tree POSTs what it found (an `ExpansionPolicyRequest`: the node's
 * block, summary, shape and metrics, and the tree's nodes) and adds the nodes this service
 * answers (an `ExpansionPolicyResponse`), each with a `reason` the tree keeps as the node's
 * provenance (`ragomics status`, `status --json`, the report, the Web UI).
 *
 * Run it (it prints its URL; put that in the spec as `expansion.policyUrl`):
 *
 *   npx tsx examples/agent-policy.ts --port 8700
 *   npm run build && node dist/examples/agent-policy.js --port 8700 [--host 0.0.0.0]
 *
 * What it decides, by default (rule-based, {@link decide}):
 * - after `leiden` (the built-in block reports `n_clusters` in its metrics): when the node found
 *   more than 3 clusters, add `marker_genes` on its clusters (`groupby` = the block's
 *   `key_added`), reason "leiden_r1 found 7 clusters (more than 3) ...". One per Leiden node, so
 *   every resolution that gave more than 3 clusters gets its markers.
 * - after `quality_control` that removed more than 20% of the cells (`n_cells_before` and
 *   `n_cells_after` in its metrics): add a QC report. No built-in block writes a QC report, so
 *   this is an inline block ({@link QC_REPORT_CODE}): it runs in the blocks image on the QC
 *   output, plots the kept cells' QC distributions and reports what each filter removed.
 * - nothing otherwise. It never adds a node twice: a child of the same id already in the tree
 *   means it answered before (the tree also applies a policy answer once per node).
 *
 * With `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `RAGOMICS_AGENT_MODEL` set, it asks that model
 * instead (POST `{base}/chat/completions`, any OpenAI-compatible server), with the answer's JSON
 * schema (from the same zod schema the tree validates with) as `response_format`, and returns
 * the model's answer unchanged: the tree validates it, and an invalid answer is rejected and
 * listed in the tree's `rejected` requests (`ragomics status --json`), never half-applied.
 *
 * The request and answer schemas are imported from common/schemas.ts, so this cannot drift from
 * what the tree sends and accepts. Plain node:http, no framework.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import {
  BuiltinBlockSchema, ExpansionPolicyRequestSchema, ExpansionPolicyResponseSchema, InlineBlockSchema, formatZodError,
  type ExpansionPolicyRequest, type ExpansionPolicyResponse,
} from '../common/schemas';

/** More clusters than this after Leiden: worth marker genes. */
export const MIN_CLUSTERS_FOR_MARKERS = 3;
/** A QC node that removed more than this share of cells gets a QC report. */
export const QC_REMOVED_SHARE = 0.2;
/** Largest request body read (the tree's list of nodes grows with the tree). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * The QC report (inline Python, run by the blocks image's runner on the QC node's output). The
 * removed cells are gone from that output, so the counts of what each filter removed come in as
 * parameters from the QC node's metrics.
 */
export const QC_REPORT_CODE = [
  'from ragomics_runner import report',
  '',
  'def run(adata=None, n_cells_before=0, n_cells_after=0, removed_min_genes=0, removed_max_genes=0, removed_mito=0, **_):',
  '    import matplotlib',
  '    matplotlib.use("Agg")',
  '    import matplotlib.pyplot as plt',
  '    removed = n_cells_before - n_cells_after',
  '    share = removed / n_cells_before if n_cells_before else 0.0',
  '    cols = [c for c in ("n_genes_by_counts", "total_counts", "pct_counts_mt") if c in adata.obs]',
  '    if cols:',
  '        fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3.2), squeeze=False)',
  '        for ax, c in zip(axes[0], cols):',
  '            ax.hist(adata.obs[c].to_numpy(dtype=float), bins=40, color="tab:blue")',
  '            ax.set_title(c)',
  '        fig.suptitle(f"cells kept by QC: {n_cells_after} of {n_cells_before}")',
  '        report.savefig(fig, "qc_report.png")',
  '    report.metrics({"cells_removed": removed, "share_removed": round(share, 4), "removed_min_genes": removed_min_genes,',
  '                    "removed_max_genes": removed_max_genes, "removed_mito": removed_mito})',
  '    report.summary(f"QC removed {removed} of {n_cells_before} cells ({share:.0%}): {removed_min_genes} for too few genes, "',
  '                   f"{removed_max_genes} for too many, {removed_mito} for mitochondrial share")',
  '    return adata',
  '',
].join('\n');

/** A finite number from a metrics value, or null. */
function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The rule-based decision for one completed node (pure; what the server answers without a model). */
export function decide(req: ExpansionPolicyRequest): ExpansionPolicyResponse {
  const node = req.node;
  if (!('name' in node.block)) return { nodes: [] };
  const taken = new Set(req.tree.map((n) => n.id));
  const out: ExpansionPolicyResponse['nodes'] = [];
  const add = (n: ExpansionPolicyResponse['nodes'][number]) => {
    if (!taken.has(n.id)) out.push(n);
  };
  const m = node.metrics;
  if (node.block.name === 'leiden') {
    const clusters = num(m.n_clusters);
    if (clusters !== null && clusters > MIN_CLUSTERS_FOR_MARKERS) {
      const key = typeof m.key_added === 'string' ? m.key_added : 'leiden';
      const resolution = num(m.resolution);
      add({
        id: `${node.id}.markers`, parentId: node.id, dependencies: [], priority: 0,
        block: { name: 'marker_genes', parameters: { groupby: key } },
        reason: `${node.id} found ${clusters} clusters${resolution !== null ? ` at resolution ${resolution}` : ''} (more than ${MIN_CLUSTERS_FOR_MARKERS}): marker genes tell what each cluster is`,
      });
    }
  } else if (node.block.name === 'quality_control') {
    const before = num(m.n_cells_before), after = num(m.n_cells_after);
    if (before !== null && after !== null && before > 0 && (before - after) / before > QC_REMOVED_SHARE) {
      const share = (before - after) / before;
      add({
        id: `${node.id}.qc_report`, parentId: node.id, dependencies: [], priority: 1,
        block: {
          code: QC_REPORT_CODE, requirements: [], network: false,
          parameters: {
            n_cells_before: before, n_cells_after: after, removed_min_genes: num(m.cells_removed_min_genes) ?? 0,
            removed_max_genes: num(m.cells_removed_max_genes) ?? 0, removed_mito: num(m.cells_removed_mito) ?? 0,
          },
        },
        reason: `${node.id} removed ${before - after} of ${before} cells (${(share * 100).toFixed(1)}%, more than ${QC_REMOVED_SHARE * 100}%): a QC report shows what the filters took`,
      });
    }
  }
  return { nodes: out };
}

/** An OpenAI-compatible chat endpoint and model (all three environment variables set), or null. */
export interface ModelConfig {
  baseUrl: string;
  apiKey: string;
  model: string;
}

/** The model configuration from the environment: `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `RAGOMICS_AGENT_MODEL` (all or nothing). */
export function modelFromEnv(env: NodeJS.ProcessEnv = process.env): ModelConfig | null {
  const baseUrl = env.OPENAI_BASE_URL, apiKey = env.OPENAI_API_KEY, model = env.RAGOMICS_AGENT_MODEL;
  return baseUrl && apiKey && model ? { baseUrl: baseUrl.replace(/\/+$/, ''), apiKey, model } : null;
}

/**
 * JSON schema of the answer for the model's `response_format`, from the zod schema the tree
 * validates with. A block is a transform in zod (not representable), so its two forms are put
 * in from their own schemas.
 */
export function answerJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ExpansionPolicyResponseSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const block = z.toJSONSchema(z.union([BuiltinBlockSchema, InlineBlockSchema]), { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete block.$schema;
  const items = ((schema.properties as Record<string, { items?: { properties?: Record<string, unknown> } }>).nodes?.items);
  if (items?.properties) items.properties.block = block;
  delete schema.$schema;
  return schema;
}

/**
 * Asks the model what to add after `req`'s node. Returns the raw text of its answer (the
 * message content), unchanged: the tree validates it. Throws when the endpoint fails or answers
 * without a message.
 */
export async function askModel(req: ExpansionPolicyRequest, cfg: ModelConfig, fetchImpl: typeof fetch = fetch): Promise<string> {
  const res = await fetchImpl(`${cfg.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${cfg.apiKey}` },
    body: JSON.stringify({
      model: cfg.model,
      messages: [
        {
          role: 'system',
          content: 'You grow a single-cell analysis tree. A node just completed; decide which nodes (function blocks) to add next, '
            + 'each with a short `reason`. Built-in blocks: quality_control, normalize, highly_variable_genes, scale, pca, umap, leiden, '
            + 'marker_genes, integrate, concatenate, pseudobulk_de. New node ids must not exist in the tree; parentId defaults to the completed node. '
            + 'Answer {"nodes": []} when nothing is worth adding.',
        },
        { role: 'user', content: JSON.stringify(req) },
      ],
      response_format: { type: 'json_schema', json_schema: { name: 'expansion_policy_response', schema: answerJsonSchema() } },
    }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`model endpoint answered HTTP ${res.status}: ${text.slice(0, 300)}`);
  const content = (JSON.parse(text) as { choices?: Array<{ message?: { content?: unknown } }> }).choices?.[0]?.message?.content;
  if (typeof content !== 'string') throw new Error('model endpoint answered without a message');
  return content;
}

/** Options of {@link startAgentPolicy}. */
export interface AgentPolicyOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default 127.0.0.1 */
  host?: string;
  /** Ask this model instead of the rules. @default {@link modelFromEnv}() */
  model?: ModelConfig | null;
  /** Called for each decision (logging). */
  onDecision?: (req: ExpansionPolicyRequest, answer: string) => void;
}

/** A running policy service: its URL (what `expansion.policyUrl` takes) and how to stop it. */
export interface AgentPolicy {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * Starts the service. A request that is not an `ExpansionPolicyRequest` gets HTTP 400 naming
 * the bad field (the tree records that as a rejected policy request); a failing model, HTTP 502.
 */
export async function startAgentPolicy(opts: AgentPolicyOptions = {}): Promise<AgentPolicy> {
  const model = opts.model === undefined ? modelFromEnv() : opts.model;
  const server = createServer((req, res) => { void handle(req, res); });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': status === 200 ? 'application/json' : 'text/plain; charset=utf-8' });
      res.end(body);
    };
    if (req.method !== 'POST') return reply(405, 'POST an ExpansionPolicyRequest (JSON)');
    let raw = '';
    for await (const chunk of req) {
      raw += String(chunk);
      if (raw.length > MAX_BODY_BYTES) return reply(413, `request larger than ${MAX_BODY_BYTES} bytes`);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return reply(400, 'request is not JSON');
    }
    const parsed = ExpansionPolicyRequestSchema.safeParse(body);
    if (!parsed.success) return reply(400, `not an ExpansionPolicyRequest: ${formatZodError(parsed.error).replace(/\n/g, '; ')}`);
    try {
      const answer = model ? await askModel(parsed.data, model) : JSON.stringify(decide(parsed.data));
      opts.onDecision?.(parsed.data, answer);
      reply(200, answer);
    } catch (err) {
      reply(502, `model failed: ${(err as Error).message}`);
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    server,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** `--port N` and `--host H` from the command line; exits 2 on anything else. */
function parseArgs(argv: readonly string[]): { port: number; host: string } {
  let port = 8700, host = '127.0.0.1';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--port' && v !== undefined && /^\d+$/.test(v) && Number(v) < 65536) { port = Number(v); i++; }
    else if (a === '--host' && v !== undefined) { host = v; i++; }
    else {
      process.stderr.write(`agent-policy: unexpected argument ${JSON.stringify(a)}; usage: agent-policy [--port N] [--host H]\n`);
      process.exit(2);
    }
  }
  return { port, host };
}

async function main(): Promise<void> {
  const { port, host } = parseArgs(process.argv.slice(2));
  const model = modelFromEnv();
  const agent = await startAgentPolicy({
    port, host, model,
    onDecision: (req, answer) => process.stdout.write(`${new Date().toISOString()} ${req.treeId}/${req.node.id}: ${answer.length > 300 ? `${answer.slice(0, 300)}…` : answer}\n`),
  });
  process.stdout.write(`agent-policy listening on ${agent.url} (${model ? `model ${model.model} at ${model.baseUrl}` : 'rule-based'}); set expansion.policyUrl to it\n`);
  const stop = () => { void agent.close().then(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

// Started as a program (not imported by a test).
if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`agent-policy: ${(err as Error).message}\n`);
    process.exit(3);
  });
}
