/**
 * The example agent's decisions (examples/agent-policy.ts) without a tree: the rule-based
 * choices after Leiden and QC, the model mode's request (JSON schema as response_format) and
 * its answer passed through unchanged, and the HTTP service's answers to bad requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerJsonSchema, askModel, decide, modelFromEnv, startAgentPolicy, QC_REPORT_CODE } from '../../examples/agent-policy';
import { ExpansionPolicyResponseSchema, type ExpansionPolicyRequest } from '../../common/schemas';

function request(block: ExpansionPolicyRequest['node']['block'], metrics: Record<string, unknown>, tree: ExpansionPolicyRequest['tree'] = []): ExpansionPolicyRequest {
  return { treeId: 't', userRequest: '', node: { id: 'n1', block, summary: '', shape: [100, 50], metrics, outputPath: '/ws/out.h5ad' }, tree };
}
const leiden = { name: 'leiden' as const, parameters: { resolution: 1 } };
const qc = { name: 'quality_control' as const, parameters: {} };

void test('after leiden: marker genes when it found more than 3 clusters, with a reason naming the count; none at 3 or fewer', () => {
  const four = decide(request(leiden, { n_clusters: 4, resolution: 0.8, key_added: 'leiden_r08' }));
  assert.equal(four.nodes.length, 1);
  const n = four.nodes[0]!;
  assert.deepEqual([n.id, n.parentId, n.block], ['n1.markers', 'n1', { name: 'marker_genes', parameters: { groupby: 'leiden_r08' } }]);
  assert.match(n.reason ?? '', /n1 found 4 clusters at resolution 0\.8 \(more than 3\)/);
  // The answer is what the tree accepts (same schema).
  assert.ok(ExpansionPolicyResponseSchema.safeParse(four).success);
  assert.deepEqual(decide(request(leiden, { n_clusters: 3 })).nodes, []);
  assert.deepEqual(decide(request(leiden, {})).nodes, [], 'no n_clusters metric: nothing');
  assert.deepEqual(decide(request(leiden, { n_clusters: '9' })).nodes, [], 'not a number: nothing');
  // groupby defaults to the block's default key.
  assert.deepEqual(decide(request(leiden, { n_clusters: 9 })).nodes[0]?.block, { name: 'marker_genes', parameters: { groupby: 'leiden' } });
  // Asked again (the child exists): nothing twice.
  assert.deepEqual(decide(request(leiden, { n_clusters: 9 }, [{ id: 'n1.markers', parentId: 'n1', block: 'marker_genes', state: 'RUNNING' }])).nodes, []);
});

void test('after quality_control: a QC report (inline block) when more than 20% of the cells were removed', () => {
  const heavy = decide(request(qc, { n_cells_before: 700, n_cells_after: 500, cells_removed_min_genes: 190, cells_removed_max_genes: 0, cells_removed_mito: 10 }));
  assert.equal(heavy.nodes.length, 1);
  const n = heavy.nodes[0]!;
  assert.equal(n.id, 'n1.qc_report');
  assert.ok('code' in n.block && n.block.code === QC_REPORT_CODE);
  assert.deepEqual(n.block.parameters, { n_cells_before: 700, n_cells_after: 500, removed_min_genes: 190, removed_max_genes: 0, removed_mito: 10 });
  assert.match(n.reason ?? '', /removed 200 of 700 cells \(28\.6%, more than 20%\)/);
  assert.ok(ExpansionPolicyResponseSchema.safeParse(heavy).success);
  assert.deepEqual(decide(request(qc, { n_cells_before: 700, n_cells_after: 560 })).nodes, [], 'exactly 20%: not more than 20%');
  assert.deepEqual(decide(request(qc, { n_cells_before: 0, n_cells_after: 0 })).nodes, []);
  assert.deepEqual(decide(request(qc, {})).nodes, []);
});

void test('the answer schema: a reason per node is optional and at most 2000 characters; unknown fields are refused', () => {
  const node = { id: 'x', block: { name: 'sleep', parameters: {} } };
  assert.ok(ExpansionPolicyResponseSchema.safeParse({ nodes: [node, { ...node, id: 'y', reason: 'r'.repeat(2000) }] }).success);
  const long = ExpansionPolicyResponseSchema.safeParse({ nodes: [{ ...node, reason: 'r'.repeat(2001) }] });
  assert.equal(long.success, false);
  assert.match(long.error?.issues[0]?.message ?? '', /at most 2000 characters/);
  assert.deepEqual(long.error?.issues[0]?.path, ['nodes', 0, 'reason']);
  assert.equal(ExpansionPolicyResponseSchema.safeParse({ nodes: [{ ...node, why: 'x' }] }).success, false);
});

void test('other blocks and inline code: nothing', () => {
  assert.deepEqual(decide(request({ name: 'pca', parameters: {} }, { n_clusters: 10 })).nodes, []);
  assert.deepEqual(decide(request({ code: 'def run(adata=None): return adata', requirements: [], network: false, parameters: {} }, { n_clusters: 10 })).nodes, []);
});

void test('model mode: configured only with all three variables; asks with the answer schema; returns the answer unchanged', async () => {
  assert.equal(modelFromEnv({ OPENAI_BASE_URL: 'http://x/v1', OPENAI_API_KEY: 'k' }), null);
  assert.deepEqual(modelFromEnv({ OPENAI_BASE_URL: 'http://x/v1/', OPENAI_API_KEY: 'k', RAGOMICS_AGENT_MODEL: 'm' }), { baseUrl: 'http://x/v1', apiKey: 'k', model: 'm' });
  const schema = answerJsonSchema();
  const block = (schema as { properties: { nodes: { items: { properties: { block: { anyOf?: unknown[] }; reason: { maxLength: number } } } } } }).properties.nodes.items.properties;
  assert.equal(block.block.anyOf?.length, 2, 'both block forms are described');
  assert.equal(block.reason.maxLength, 2000);
  const seen: Array<{ url: string; body: Record<string, unknown>; auth: string | null }> = [];
  const odd = '{"nodes": [{"id": "x", "block": {"name": "tsne"}}]}';
  const fake = (async (url: string, init: RequestInit) => {
    seen.push({ url, body: JSON.parse(String(init.body)) as Record<string, unknown>, auth: new Headers(init.headers).get('authorization') });
    return new Response(JSON.stringify({ choices: [{ message: { content: odd } }] }), { status: 200 });
  }) as unknown as typeof fetch;
  const answer = await askModel(request(leiden, { n_clusters: 5 }), { baseUrl: 'http://llm/v1', apiKey: 'sk', model: 'tiny' }, fake);
  assert.equal(answer, odd, 'passed through unchanged, invalid or not (the tree validates)');
  assert.equal(seen[0]?.url, 'http://llm/v1/chat/completions');
  assert.equal(seen[0]?.auth, 'Bearer sk');
  const rf = seen[0]?.body.response_format as { type: string; json_schema: { schema: unknown } };
  assert.equal(rf.type, 'json_schema');
  assert.deepEqual(rf.json_schema.schema, schema);
  const failing = (async () => new Response('overloaded', { status: 503 })) as unknown as typeof fetch;
  await assert.rejects(askModel(request(leiden, {}), { baseUrl: 'http://llm', apiKey: 'k', model: 'm' }, failing), /HTTP 503: overloaded/);
});

void test('the service: decisions over HTTP; 400 naming the field for a bad request, 405 for GET', async () => {
  const agent = await startAgentPolicy({ model: null });
  try {
    const post = (body: string) => fetch(agent.url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const ok = await post(JSON.stringify(request(leiden, { n_clusters: 6 })));
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { nodes: unknown[] }).nodes.length, 1);
    const bad = await post(JSON.stringify({ treeId: 't' }));
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /not an ExpansionPolicyRequest: .*node/);
    const notJson = await post('{');
    assert.equal(notJson.status, 400);
    assert.equal((await fetch(agent.url)).status, 405);
  } finally {
    await agent.close();
  }
});
