/**
 * `ragomics fork` and `RagomicsClient.forkTree` against the real server: a fork of a finished
 * tree's node (CLI, with a nodes file that also sets a spec field) and of a running tree's node
 * (CLI --follow); without a nodes file, the node's descendants are copied. The new tree's roots
 * get the source node's published output as their input (recorded at the executor, i.e. what
 * the activity really passed on), and `origin` shows in `status --json` and `ragomics status`.
 * Every failure is one line, exit 2, and starts nothing: unknown tree, unknown node, a node
 * not COMPLETED (FAILED, RUNNING), an output changed or gone since publishing, a leaf with
 * nothing to copy, a taken id, invalid nodes files. A second test forks real blocks in Docker
 * (scanpy on the small PBMC dataset) and refuses a node that completed without an AnnData output.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ForkSourceError, TreeIdTakenError } from '../client/errors';
import type { RagomicsClient } from '../client/sdk';
import type { BlockExecutor } from '../activities/executors/types';
import { sleepNode, uid, waitFor, withWorker } from './helpers/harness';
import { assertFailsOneLine as assertFails, ragomics } from './helpers/cli';
import { PROJECT_ROOT } from '../workers/config';

/** The small PBMC dataset of scripts/fetch-dataset.sh (as test/skeleton-docker.test.ts). */
const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');
const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-fork-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}


/** Records the input path the executor got for each `tree/node`: what the activity really passed on. */
function recordInputs(executor: BlockExecutor): Map<string, string | null> {
  const inputs = new Map<string, string | null>();
  const run = executor.run.bind(executor);
  executor.run = async (job, ctl) => {
    inputs.set(`${job.treeId}/${job.nodeId}`, job.inputPath);
    return run(job, ctl);
  };
  return inputs;
}

async function assertNotStarted(client: RagomicsClient, id: string): Promise<void> {
  await assert.rejects(client.client.workflow.getHandle(id).describe(), WorkflowNotFoundError, `tree ${id} must not exist`);
}

test('fork from a finished and a running tree; origin in status; every bad input exits 2 and starts nothing', { timeout: 300_000 }, async () => {
  await withWorker({}, async ({ client, taskQueue, gate, rw }) => {
    const inputs = recordInputs(rw.executor);
    const env = { RAGOMICS_TASK_QUEUE: taskQueue };
    // The source, finished: qc → norm → hvg, and qc → bad, which fails (so the tree ends FAILED).
    const src = await client.startTree({
      id: uid('fork-src'),
      nodes: [sleepNode('qc', 0), sleepNode('norm', 0, { parentId: 'qc' }), sleepNode('hvg', 0, { parentId: 'norm' }), sleepNode('bad', 0, { parentId: 'qc', fail: true })],
    });
    assert.equal((await src.result()).state, 'FAILED');
    const srcNodes = new Map((await src.status()).nodes.map((n) => [n.id, n]));
    const norm = srcNodes.get('norm');
    assert.ok(norm?.outputPath && norm.sha256 && existsSync(norm.outputPath));

    // CLI, nodes file with another spec field: two new nodes; the root reads norm's output.
    const forkId = uid('fork-a');
    const nodesFile = file('nodes.yaml', 'maxParallelJobs: 2\nnodes:\n  - { id: pca, block: { name: sleep, parameters: { seconds: 0 } } }\n  - { id: umap, parentId: pca, block: { name: sleep } }\n');
    const forked = await ragomics(['fork', src.treeId, 'norm', nodesFile, '--id', forkId, '--json'], env);
    assert.equal(forked.code, 0, forked.stderr);
    const origin = { treeId: src.treeId, nodeId: 'norm', outputPath: norm.outputPath, outputSha256: norm.sha256 };
    assert.deepEqual(JSON.parse(forked.stdout), { treeId: forkId, origin, nodes: ['pca', 'umap'], copied: false, taskQueue });
    const tree = client.getTree(forkId);
    assert.equal((await tree.result()).state, 'COMPLETED');
    assert.equal(inputs.get(`${forkId}/pca`), norm.outputPath, 'the new root read the forked output');
    const forkedStatus = await tree.status();
    assert.equal(inputs.get(`${forkId}/umap`), forkedStatus.nodes.find((n) => n.id === 'pca')?.outputPath, 'its child reads the new root');
    const json = await ragomics(['status', forkId, '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    const statusJson = JSON.parse(json.stdout) as { origin: unknown; maxParallelJobs: number };
    assert.deepEqual(statusJson.origin, origin);
    assert.equal(statusJson.maxParallelJobs, 2, 'other spec fields of the nodes file apply');
    const text = await ragomics(['status', forkId], env);
    assert.ok(text.stdout.includes(`\n  forked from tree ${src.treeId}, node norm: ${norm.outputPath} (sha256 ${norm.sha256.slice(0, 12)}…)\n`), text.stdout);
    // The source says nothing about forks.
    assert.equal('origin' in (JSON.parse((await ragomics(['status', src.treeId, '--json'], env)).stdout) as object), false);

    // SDK, no nodes: qc's descendants are copied, qc's children (norm, bad) becoming roots.
    const copy = await client.forkTree(src.treeId, 'qc', { nodes: [] });
    assert.equal(copy.copied, true);
    assert.deepEqual(copy.nodeIds, ['norm', 'hvg', 'bad']);
    assert.match(copy.tree.treeId, new RegExp(`^${src.treeId}-fork-[0-9a-f]{8}$`));
    await copy.tree.result();
    const copied = await copy.tree.status({ details: true });
    assert.deepEqual(copied.nodes.map((n) => [n.id, n.parentId, n.state]), [['norm', null, 'COMPLETED'], ['hvg', 'norm', 'COMPLETED'], ['bad', null, 'FAILED']]);
    const srcBad = (await src.status({ details: true })).nodes.find((n) => n.id === 'bad');
    assert.deepEqual(copied.nodes.find((n) => n.id === 'bad')?.blockSpec, srcBad?.blockSpec, 'the copy runs the same block with the same parameters');
    assert.equal(inputs.get(`${copy.tree.treeId}/norm`), srcNodes.get('qc')?.outputPath);
    assert.equal(inputs.get(`${copy.tree.treeId}/bad`), srcNodes.get('qc')?.outputPath);
    assert.deepEqual(copied.origin, { treeId: src.treeId, nodeId: 'qc', outputPath: srcNodes.get('qc')?.outputPath, outputSha256: srcNodes.get('qc')?.sha256 });

    // A running tree: r1 completed, held still runs.
    gate.hold('held');
    const live = await client.startTree({ id: uid('fork-live'), nodes: [sleepNode('r1', 0), sleepNode('held', 0, { parentId: 'r1' })] });
    await gate.started('held');
    await waitFor(async () => (await live.status()).nodes.every((n) => n.state === (n.id === 'r1' ? 'COMPLETED' : 'RUNNING')));
    const liveFork = uid('fork-b');
    const followed = await ragomics(['fork', live.treeId, 'r1', file('one.yaml', '- { id: x, block: { name: sleep } }\n'), '--id', liveFork, '--follow'], env);
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stdout, new RegExp(`^forked tree ${liveFork} from ${live.treeId}/r1 \\(input .+_node_anndata\\.h5ad, sha256 [0-9a-f]{12}…\\) with 1 node\\(s\\) on task queue "${taskQueue}"\n`));
    assert.equal((await client.getTree(liveFork).status()).state, 'COMPLETED', '--follow returned once the fork ended');

    // ---- bad input: one line, exit 2, nothing started -------------------------------------
    const fresh = uid('never');
    const bad = async (args: string[], pattern: RegExp | string) => {
      assertFails(await ragomics(['fork', ...args, '--id', fresh], env), 2, pattern);
    };
    await bad([uid('no-such-tree'), 'norm', nodesFile], /^error: no tree with id "no-such-tree-[0-9a-f]{8}"$/);
    await bad([src.treeId, 'zzz', nodesFile], `error: NODE: no node "zzz" in tree "${src.treeId}" (it has 4 node(s))`);
    await bad([src.treeId, 'bad', nodesFile], `error: NODE: node "bad" of tree "${src.treeId}" is FAILED, not COMPLETED; only a completed node's output can be forked`);
    await bad([live.treeId, 'held', nodesFile], `error: NODE: node "held" of tree "${live.treeId}" is RUNNING, not COMPLETED; only a completed node's output can be forked`);
    await bad([forkId, 'umap'], `error: NODES_FILE: node "umap" of tree "${forkId}" has no descendants to copy; give the new tree's nodes in a nodes file`);
    await bad([src.treeId, 'norm', file('bad-field.yaml', 'nodes:\n  - { id: a, block: { name: sleep }, colour: red }\n')], /^error: .*bad-field\.yaml:2:\d+: nodes\[0\]\.colour: unknown field$/);
    await bad([src.treeId, 'norm', file('input.yaml', 'inputDataPath: /x.h5ad\nnodes:\n  - { id: a, block: { name: sleep } }\n')], /^error: .*input\.yaml:1:1: inputDataPath: set by fork \(the forked node's output\); remove it$/);
    await bad([src.treeId, 'norm', file('dangling.yaml', '- { id: a, parentId: nope, block: { name: sleep } }\n')], /^error: .*dangling\.yaml:1:\d+: nodes\[0\]\.parentId: .*"nope"/);
    await bad([src.treeId, 'norm', file('broken.json', '{ "nodes": [ }\n')], /^error: .*broken\.json:1:14: malformed JSON: expected a value, found "\}"$/);
    await bad([src.treeId, 'norm', file('empty-list.yaml', 'nodes: []\n')], /^error: .*empty-list\.yaml:1:1: nodes: must hold at least one node \(leave the file out to copy the node's descendants\)$/);
    // The published output changed (or vanished) after publishing: the recorded sha256 protects the fork.
    const hvgOut = srcNodes.get('hvg')?.outputPath as string;
    chmodSync(hvgOut, 0o644);
    writeFileSync(hvgOut, 'tampered\n', { flag: 'a' });
    await bad([src.treeId, 'hvg', nodesFile], new RegExp(`^error: NODE: the output of node "hvg" at ${hvgOut} changed after it was published \\(sha256 [0-9a-f]{12}…, recorded ${srcNodes.get('hvg')?.sha256?.slice(0, 12)}…\\)$`));
    const qcOut = srcNodes.get('qc')?.outputPath as string;
    renameSync(qcOut, `${qcOut}.moved`);
    await bad([src.treeId, 'qc', nodesFile], `error: NODE: cannot read the output of node "qc" at ${qcOut} (ENOENT) to verify its sha256; is the workspace visible from here?`);
    renameSync(`${qcOut}.moved`, qcOut);
    await assertNotStarted(client, fresh);
    // Ids: a taken one (a finished tree, a running one) and an invalid one.
    for (const [taken, status] of [[src.treeId, 'COMPLETED'], [live.treeId, 'RUNNING']] as const) {
      const before = await client.client.workflow.getHandle(taken).describe();
      assertFails(await ragomics(['fork', src.treeId, 'norm', nodesFile, '--id', taken], env), 2, `error: id: tree id "${taken}" is taken (a tree with that id exists: its workflow is ${status}); choose another`);
      const afterDescribe = await client.client.workflow.getHandle(taken).describe();
      assert.equal(afterDescribe.runId, before.runId, 'the existing tree is untouched');
    }
    assertFails(await ragomics(['fork', src.treeId, 'norm', nodesFile, '--id', 'bad id'], env), 2, /^error: --id: "bad id" may hold only letters/);
    // The SDK's errors are typed: callers match on the class and `problem`, never on the text.
    await assert.rejects(client.forkTree(src.treeId, 'bad', { nodes: [sleepNode('z', 0)] }), (e: unknown) => e instanceof ForkSourceError && e.problem === 'not-completed' && e.exitCode === 2);
    await assert.rejects(client.forkTree(src.treeId, 'norm', { id: forkId, nodes: [sleepNode('z', 0)] }), (e: unknown) => e instanceof TreeIdTakenError && e.exitCode === 2);
    await assert.rejects(client.forkTree(src.treeId, 'norm', { inputDataPath: '/x.h5ad' } as never), /inputDataPath: set by fork/);

    gate.release('held');
    assert.equal((await live.result()).state, 'COMPLETED');
  });
});

test('fork of real blocks (Docker, PBMC dataset): PCA on the forked normalized output; a node without AnnData output cannot be forked', { timeout: 600_000 }, async () => {
  assert.ok(existsSync(DATASET), `dataset missing: run scripts/fetch-dataset.sh (${DATASET})`);
  {
    const sample = DATASET;
    await withWorker({ executor: 'docker', maxConcurrentNodes: 2, defaultMemoryMB: 1024 }, async ({ client, taskQueue, rw }) => {
      const inputs = recordInputs(rw.executor);
      const env = { RAGOMICS_TASK_QUEUE: taskQueue };
      const src = await client.startTree({
        id: uid('fork-real'),
        inputDataPath: sample,
        nodes: [
          { id: 'qc', block: { name: 'quality_control', parameters: { min_genes: 10, min_cells: 1, max_pct_mito: null } } },
          { id: 'normalize', parentId: 'qc', block: { name: 'normalize', parameters: {} } },
        ],
      });
      const r = await src.result();
      assert.equal(r.state, 'COMPLETED', JSON.stringify(r.failures));
      const normalize = (await src.status()).nodes.find((n) => n.id === 'normalize');
      assert.ok(normalize?.outputPath);
      const pcaFile = file('pca.yaml', 'nodes:\n  - { id: pca, block: { name: pca, parameters: { n_comps: 5, use_highly_variable: false } } }\n');
      const id = uid('fork-real-pca');
      const run = await ragomics(['fork', src.treeId, 'normalize', pcaFile, '--id', id, '--follow', '--json'], env);
      assert.equal(run.code, 0, run.stderr);
      const final = JSON.parse(run.stdout) as { state: string; origin: { nodeId: string; outputPath: string }; nodes: { id: string; state: string; outputPath: string }[] };
      assert.equal(final.state, 'COMPLETED');
      assert.deepEqual([final.origin.nodeId, final.origin.outputPath], ['normalize', normalize.outputPath]);
      assert.equal(inputs.get(`${id}/pca`), normalize.outputPath);
      // PCA ran on the forked cells: same cells as normalize's output, with a PCA result.
      const result = (p: string) => JSON.parse(readFileSync(path.join(path.dirname(p), 'node-result.json'), 'utf8')) as { shape: [number, number] };
      const pca = final.nodes.find((n) => n.id === 'pca');
      assert.ok(pca?.outputPath);
      assert.equal(result(pca.outputPath).shape[0], result(normalize.outputPath).shape[0]);

      // A root without input whose block returns nothing completes without an AnnData output.
      const none = await client.startTree({ id: uid('fork-none'), nodes: [{ id: 'metrics', block: { code: 'def run(adata=None, **parameters):\n    return None\n', parameters: {} } }] });
      assert.equal((await none.result()).state, 'COMPLETED');
      assert.equal((await none.status()).nodes[0]?.outputPath ?? '', '');
      const fresh = uid('never');
      assertFails(await ragomics(['fork', none.treeId, 'metrics', pcaFile, '--id', fresh], env), 2, `error: NODE: node "metrics" of tree "${none.treeId}" completed without an AnnData output (_node_anndata.h5ad); there is nothing to fork from`);
      await assertNotStarted(client, fresh);
    });
  }
});
