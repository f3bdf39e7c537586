/**
 * Provenance of every node, on the real server: who or what added each node (the spec, an update
 * with its request id and client identity, the CLI, a signal, a named and an unnamed rule, the
 * policy endpoint with its per-node reasons, a block's own suggestion) and what happened to it
 * afterwards (repairs), as `ragomics status --json`, the human status, the report and the Web
 * UI's details show it. The policy endpoint is examples/agent-policy.ts: in model mode against a
 * stand-in OpenAI-compatible server (inprocess executor), and rule-based end to end on real
 * blocks and the PBMC dataset (Docker executor). An invalid agent answer is rejected, visibly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgentPolicy } from '../examples/agent-policy';
import { clientIdentity } from '../client/sdk';
import type { ContractStatus } from '../client/cli/status-view';
import { ragomics } from './helpers/cli';
import { uid, waitFor, withWorker } from './helpers/harness';
import { PROJECT_ROOT } from '../workers/config';

const sleep = (extra: Record<string, unknown> = {}) => ({ name: 'sleep' as const, parameters: { seconds: 0, ...extra } });
const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'];

/** A stand-in for an OpenAI-compatible chat endpoint: answers per completed node id, records what it was asked. */
async function fakeModel(answers: (nodeId: string) => unknown): Promise<{ url: string; asked: Array<Record<string, unknown>>; close(): Promise<void> }> {
  const asked: Array<Record<string, unknown>> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const chat = JSON.parse(body) as { messages: Array<{ role: string; content: string }> };
      asked.push(chat as unknown as Record<string, unknown>);
      const nodeId = (JSON.parse(chat.messages.find((m) => m.role === 'user')!.content) as { node: { id: string } }).node.id;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: JSON.stringify(answers(nodeId)) } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    asked,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test('every way a node is added is recorded and shown: spec, update, CLI, signal, rules, the agent (model mode) with reasons; an invalid answer is rejected visibly', { timeout: 240_000 }, async () => {
  const model = await fakeModel((id) => {
    if (id === 'root') return { nodes: [{ id: 'root.agent', block: sleep(), reason: 'the agent wants a second look at root' }, { id: 'root.agent2', block: sleep() }] };
    // Not a valid answer: an unknown block. The tree must reject it and say so.
    if (id === 'bad') return { nodes: [{ id: 'bad.tsne', block: { name: 'tsne', parameters: {} }, reason: 'try tsne' }] };
    return { nodes: [] };
  });
  const agent = await startAgentPolicy({ model: { baseUrl: model.url, apiKey: 'test-key', model: 'stand-in' } });
  const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-prov-'));
  try {
    await withWorker({}, async ({ client }) => {
      const tree = await client.startTree({
        id: uid('prov'), maxNodes: 60, maxChildrenPerNode: 10,
        expansion: {
          policyUrl: agent.url, idleTimeout: 600,
          // Every completed sleep node gets two children that fail (so they add nothing further).
          rules: [
            { name: 'probe', after: 'sleep', add: [{ idSuffix: 'probe', block: sleep({ fail: true }) }] },
            { after: 'sleep', add: [{ idSuffix: 'r1', block: sleep({ fail: true }) }] },
          ],
        },
        nodes: [{ id: 'root', block: sleep() }],
      });
      const id = tree.treeId;
      await waitFor(async () => (await tree.status()).nodes.some((n) => n.id === 'root.agent'));
      await tree.addNodes([{ id: 'upd', parentId: 'root', block: sleep() }], { requestId: 'upd-1', client: 'alice@lab-1 pid 4242' });
      writeFileSync(path.join(dir, 'nodes.json'), JSON.stringify([{ id: 'viacli', parentId: 'root', block: sleep() }]));
      const add = await ragomics(['add', id, path.join(dir, 'nodes.json'), '--request-id', 'cli-1']);
      assert.equal(add.code, 0, add.stderr);
      await tree.addNodesAsync([{ id: 'sig', parentId: 'root', block: sleep() }], { requestId: 'sig-1' });
      await tree.addNodes([{ id: 'bad', parentId: 'root', block: sleep() }], { requestId: 'bad-1' });
      // Settled: the invalid answer was rejected and every node (the rules' children included) ended.
      const expected = ['root', 'root.probe', 'root.r1', 'root.agent', 'root.agent2', 'upd', 'upd.probe', 'viacli', 'sig', 'bad', 'bad.probe', 'bad.r1'];
      await waitFor(async () => {
        const s = await tree.status();
        const ids = new Set(s.nodes.map((n) => n.id));
        return s.rejected.some((r) => r.requestId === 'policy:bad') && expected.every((e) => ids.has(e)) && s.nodes.every((n) => TERMINAL.includes(n.state));
      }, 120_000);

      // What `ragomics status --json` prints.
      const cli = await ragomics(['status', id, '--json']);
      const status = JSON.parse(cli.stdout) as ContractStatus;
      const node = (nid: string) => {
        const n = status.nodes.find((x) => x.id === nid);
        assert.ok(n, `node ${nid} in status --json`);
        return n;
      };
      const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
      for (const n of status.nodes) assert.match(n.provenance?.at ?? '', iso, `${n.id} has a time`);
      assert.deepEqual({ ...node('root').provenance, at: '' }, { by: 'spec', at: '', requestId: 'spec' });
      assert.deepEqual({ ...node('upd').provenance, at: '' }, { by: 'client', at: '', requestId: 'upd-1', client: 'alice@lab-1 pid 4242' });
      assert.equal(node('viacli').provenance?.requestId, 'cli-1');
      assert.match(node('viacli').provenance?.client ?? '', /^cli: .+ pid \d+$/, 'the CLI names itself');
      assert.notEqual(node('viacli').provenance?.client, `cli: ${clientIdentity()}`, 'the CLI process, not this one');
      assert.deepEqual({ ...node('sig').provenance, at: '' }, { by: 'signal', at: '', requestId: 'sig-1', client: clientIdentity() });
      assert.deepEqual({ ...node('root.probe').provenance, at: '' }, { by: 'rule', at: '', requestId: 'rule:root:0', rule: 'probe', from: 'root' });
      assert.equal(node('root.r1').provenance?.rule, 'rule 1 (after sleep)', 'an unnamed rule: its index and block');
      assert.deepEqual({ ...node('root.agent').provenance, at: '' }, {
        by: 'policy', at: '', requestId: 'policy:root', url: agent.url, from: 'root', reason: 'the agent wants a second look at root',
      });
      assert.equal(node('root.agent2').provenance?.reason, undefined, 'a node the agent gave no reason for has none');
      // A node is added after the completion that triggered it.
      assert.ok(Date.parse(node('root.agent').provenance!.at) >= Date.parse(node('root').endedAt!));
      // The invalid answer: rejected as a whole, visible with its reason, nothing added.
      const rejected = status.rejected.find((r) => r.requestId === 'policy:bad');
      assert.ok(rejected, JSON.stringify(status.rejected));
      assert.equal(rejected.source, 'policy');
      assert.match(rejected.errors.join('\n'), /tsne/);
      assert.equal(status.nodes.some((n) => n.id === 'bad.tsne'), false);
      // The model was asked with the answer's JSON schema.
      const rf = model.asked[0]?.response_format as { type: string; json_schema: { schema: { properties: { nodes: unknown } } } };
      assert.equal(rf.type, 'json_schema');
      assert.ok(rf.json_schema.schema.properties.nodes);

      // The human status: an ADDED BY column and the agent's reason.
      const text = (await ragomics(['status', id])).stdout;
      assert.match(text, /ADDED BY/);
      assert.match(text, /root\.probe .*rule probe/);
      assert.match(text, /upd +sleep .*update alice@lab-/);
      assert.match(text, /root\.agent .*policy\n {4}↳ policy \(http:\/\/127\.0\.0\.1:\d+\/\): the agent wants a second look at root/);

      // The Web UI's details: the latest additions and who made them.
      const meta = await tree.workflow.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      assert.match(meta.currentDetails ?? '', /\*\*Latest additions\*\*/);
      assert.match(meta.currentDetails ?? '', /(update bad-1 from|rule "probe" after bad|rule "rule 1 \(after sleep\)" after bad)/);
      assert.ok((meta.currentDetails ?? '').length < 2000, 'bounded');

      // The report: an "added by" column with the whole provenance as hover text.
      const reportFile = path.join(dir, 'report.html');
      const rep = await ragomics(['report', id, '-o', reportFile]);
      assert.equal(rep.code, 0, rep.stderr);
      const html = readFileSync(reportFile, 'utf8');
      assert.match(html, /<th>added by<\/th>/);
      assert.match(html, /title="policy http:\/\/127\.0\.0\.1:\d+\/ after root · request policy:root · [^"]+ · reason: the agent wants a second look at root"/);

      await tree.close();
      const result = await tree.result();
      assert.equal(result.state, 'FAILED', 'the rules added failing nodes on purpose');
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await agent.close();
    await model.close();
  }
});

const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');
const BROKEN = (msg: string) => `def run(adata=None, **parameters):\n    raise ValueError("${msg}")\n`;
const FIXED = 'def run(adata=None, **parameters):\n    import anndata, numpy as np\n    return anndata.AnnData(np.ones((4, 3), dtype=np.float32))\n';
const SUGGESTS = [
  'from ragomics_runner import report',
  'def run(adata=None, **parameters):',
  '    import anndata, numpy as np',
  '    report.suggest_child(block={"name": "sleep", "parameters": {"seconds": 0}})',
  '    return anndata.AnnData(np.ones((3, 2), dtype=np.float32))',
  '',
].join('\n');

test('real blocks: the rule-based agent adds marker genes after Leiden (> 3 clusters) and a QC report after a heavy QC, with reasons as provenance; repairs and block suggestions too', { timeout: 900_000 }, async () => {
  // The PBMC dataset, written by the blocks image (no download) when missing.
  if (!existsSync(DATASET)) execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'fetch-dataset.sh')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  const agent = await startAgentPolicy({ model: null });
  const fixes: string[] = [];
  const fixer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const { nodeId } = JSON.parse(body) as { nodeId: string };
      fixes.push(nodeId);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(nodeId === 'custom'
        ? { code: FIXED, explanation: 'build the AnnData instead of reading a missing column' }
        : { code: null, explanation: 'no idea what this block wants' }));
    });
  });
  await new Promise<void>((r) => fixer.listen(0, '127.0.0.1', r));
  const fixerUrl = `http://127.0.0.1:${(fixer.address() as AddressInfo).port}/fix`;
  try {
    await withWorker({ executor: 'docker', maxConcurrentNodes: 2, defaultMemoryMB: 1024 }, async ({ client }) => {
      // min_genes 240 removes about 40% of the 700 cells (median 243 genes per cell): the agent's QC rule fires.
      const pbmc = await client.startTree({
        id: uid('prov-agent'), userRequest: 'PBMC clustering grown by the example agent', inputDataPath: DATASET, maxParallelJobs: 2, maxNodes: 30,
        expansion: { policyUrl: agent.url },
        nodes: [
          { id: 'qc', block: { name: 'quality_control', parameters: { min_genes: 240, min_cells: 3 } } },
          { id: 'normalize', parentId: 'qc', block: { name: 'normalize', parameters: {} } },
          { id: 'hvg', parentId: 'normalize', block: { name: 'highly_variable_genes', parameters: { n_top_genes: 500 } } },
          { id: 'pca', parentId: 'hvg', block: { name: 'pca', parameters: { n_comps: 30 } } },
          { id: 'leiden_r1', parentId: 'pca', block: { name: 'leiden', parameters: { resolution: 1.0 } } },
          { id: 'leiden_r005', parentId: 'pca', block: { name: 'leiden', parameters: { resolution: 0.05 } } },
        ],
      });
      const repairs = await client.startTree({
        id: uid('prov-repair'), maxParallelJobs: 2,
        expansion: { fixerUrl, maxRepairs: 2, fromResults: true },
        nodes: [
          { id: 'custom', block: { code: BROKEN("typo in column name: 'leidn'"), parameters: {} } },
          { id: 'hopeless', block: { code: BROKEN('nothing will fix me'), parameters: {} } },
          { id: 'suggester', block: { code: SUGGESTS, parameters: {} } },
        ],
      });
      const [r1, r2] = await Promise.all([pbmc.result(), repairs.result()]);

      // The agent's tree, as `ragomics status --json` prints it.
      assert.equal(r1.state, 'COMPLETED', JSON.stringify(r1.failures));
      const cli = await ragomics(['status', pbmc.treeId, '--json']);
      assert.equal(cli.code, 0, cli.stderr);
      const s = JSON.parse(cli.stdout) as ContractStatus;
      const full = await pbmc.status();
      const byId = new Map(s.nodes.map((n) => [n.id, n]));
      const summaryOf = (nid: string) => full.nodes.find((n) => n.id === nid)?.summary ?? '';
      let withMarkers = 0;
      for (const leiden of ['leiden_r1', 'leiden_r005']) {
        const clusters = Number(/^(\d+) Leiden clusters/.exec(summaryOf(leiden))?.[1]);
        assert.ok(Number.isInteger(clusters), `${leiden}: ${summaryOf(leiden)}`);
        const markers = byId.get(`${leiden}.markers`);
        console.log(`# ${leiden}: ${clusters} clusters; markers ${markers ? markers.state : 'not added'}`);
        if (clusters > 3) {
          withMarkers++;
          assert.ok(markers, `${leiden} found ${clusters} clusters: the agent adds markers`);
          assert.equal(markers.state, 'COMPLETED');
          assert.equal(markers.block, 'marker_genes');
          assert.equal(markers.provenance?.by, 'policy');
          assert.equal(markers.provenance?.url, agent.url);
          assert.equal(markers.provenance?.from, leiden);
          assert.match(markers.provenance?.reason ?? '', new RegExp(`^${leiden} found ${clusters} clusters at resolution [\\d.]+ \\(more than 3\\)`));
        } else {
          assert.equal(markers, undefined, `${leiden} found ${clusters} clusters: no markers`);
        }
      }
      assert.ok(withMarkers >= 1, 'resolution 1.0 on PBMCs gives more than 3 clusters');
      const report = byId.get('qc.qc_report');
      assert.ok(report, 'QC removed more than 20%: the agent adds a QC report');
      assert.equal(report.state, 'COMPLETED');
      assert.equal(report.block, 'inline');
      assert.match(report.provenance?.reason ?? '', /^qc removed (\d+) of 700 cells \((\d+\.\d)%, more than 20%\)/);
      assert.match(summaryOf('qc.qc_report'), /^QC removed \d+ of 700 cells/);
      for (const nid of ['qc', 'normalize', 'hvg', 'pca', 'leiden_r1', 'leiden_r005']) assert.equal(byId.get(nid)?.provenance?.by, 'spec', nid);
      console.log(`# agent reasons: ${s.nodes.filter((n) => n.provenance?.reason).map((n) => `${n.id}: ${n.provenance!.reason}`).join(' | ')}`);

      // Repairs, as events; a block's suggestion, as provenance.
      assert.equal(r2.state, 'FAILED', 'hopeless stays failed');
      const rs = JSON.parse((await ragomics(['status', repairs.treeId, '--json'])).stdout) as ContractStatus;
      const custom = rs.nodes.find((n) => n.id === 'custom')!;
      assert.equal(custom.state, 'COMPLETED');
      assert.deepEqual(custom.events?.map((e) => [e.kind, e.detail]), [['repair', 'repair 1: build the AnnData instead of reading a missing column']]);
      const hopeless = rs.nodes.find((n) => n.id === 'hopeless')!;
      assert.equal(hopeless.state, 'FAILED');
      assert.deepEqual(hopeless.events?.map((e) => [e.kind, e.detail]), [['repair', 'gave up: no idea what this block wants']]);
      assert.equal(rs.nodes.find((n) => n.id === 'suggester')?.events, undefined, 'nothing happened to it');
      const child = rs.nodes.find((n) => n.id === 'suggester.sleep');
      assert.deepEqual({ ...child?.provenance, at: '' }, { by: 'result', at: '', requestId: 'result:suggester', from: 'suggester' });
      assert.equal(child?.state, 'COMPLETED');
      assert.deepEqual(fixes.sort(), ['custom', 'hopeless']);
      const text = (await ragomics(['status', repairs.treeId])).stdout;
      assert.match(text, /custom .*\n {4}↳ repair \d\d:\d\d:\d\d: repair 1: build the AnnData/);
    });
  } finally {
    await agent.close();
    fixer.close();
  }
});

test('provenance travels across continue-as-new unchanged (the carried state holds it)', { timeout: 180_000 }, async () => {
  await withWorker({}, async ({ client, gate }) => {
    gate.hold('root');
    const chain = Array.from({ length: 30 }, (_, i) => ({ id: `c${i}`, parentId: i === 0 ? 'root' : `c${i - 1}`, block: sleep() }));
    const tree = await client.startTree({
      id: uid('prov-can'), maxNodes: 50,
      nodes: [{ id: 'root', block: sleep() }, ...chain],
    }, { continueAsNewAfterEvents: 60 });
    await gate.started('root');
    // Added in the first run, while root holds everything up.
    await tree.addNodes([{ id: 'upd', parentId: 'root', block: sleep() }], { requestId: 'upd-can', client: 'carol@lab-2 pid 9' });
    await tree.addNodesAsync([{ id: 'sig', parentId: 'root', block: sleep() }], { requestId: 'sig-can', client: 'dave@lab-3 pid 11' });
    await waitFor(async () => (await tree.status()).nodes.some((n) => n.id === 'sig'));
    const before = await tree.status();
    assert.equal(before.runs, 0, 'still the first run');
    gate.release('root');
    const result = await tree.result();
    assert.equal(result.state, 'COMPLETED');
    assert.ok(result.runs >= 1, `continued as new (${result.runs} times)`);
    const after = await tree.status();
    const prov = (s: typeof before) => Object.fromEntries(s.nodes.map((n) => [n.id, n.provenance]));
    assert.deepEqual(prov(after), prov(before), 'every node keeps its provenance');
    assert.deepEqual({ ...after.nodes.find((n) => n.id === 'upd')?.provenance, at: '' }, { by: 'client', at: '', requestId: 'upd-can', client: 'carol@lab-2 pid 9' });
    assert.deepEqual({ ...after.nodes.find((n) => n.id === 'sig')?.provenance, at: '' }, { by: 'signal', at: '', requestId: 'sig-can', client: 'dave@lab-3 pid 11' });
  });
});
