/**
 * The walking skeleton through every layer, on the real server and the real Docker engine: the
 * SDK starts a tree of three nodes (root, two children), a worker runs each node's real scanpy
 * block in a container through dockerode, the two children run in parallel after the root, and
 * the outputs read back with the expected change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { uid, withWorker } from './helpers/harness';
import { expectNoContainerLeft } from './fixtures/reliability/common';
import { PROJECT_ROOT, loadWorkerConfig, resolveBlocksImage } from '../workers/config';

const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');
const IMAGE = resolveBlocksImage(loadWorkerConfig({}));

/** Bound on one `docker run` of the inspector (seconds when healthy): a hung engine fails the test instead of hanging CI. */
const INSPECT_TIMEOUT_MS = 120_000;

/** Reads shape and keys of an .h5ad with the image's own anndata (the host has no Python stack). */
function inspect(file: string): { n_obs: number; n_vars: number; layers: string[]; uns: string[] } {
  const script = 'import anndata,json,sys; a=anndata.read_h5ad(sys.argv[1]); print(json.dumps({"n_obs":a.n_obs,"n_vars":a.n_vars,"layers":list(a.layers.keys()),"uns":list(a.uns.keys())}))';
  const out = execFileSync('docker', ['run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp', '-v', `${file}:/in.h5ad:ro`, '--entrypoint', '/opt/ragomics/bin/python', IMAGE, '-c', script, '/in.h5ad'], { encoding: 'utf8', timeout: INSPECT_TIMEOUT_MS });
  return JSON.parse(out.trim().split('\n').pop()!) as ReturnType<typeof inspect>;
}

test('skeleton: root then two children in parallel, each a real block in a Docker container', { timeout: 600_000 }, async () => {
  assert.ok(existsSync(DATASET), `dataset missing: run scripts/fetch-dataset.sh (${DATASET})`);
  await withWorker({ executor: 'docker', maxConcurrentNodes: 3, defaultMemoryMB: 1024 }, async ({ client }) => {
    const tree = await client.startTree({
      id: uid('skeleton'),
      userRequest: 'walking skeleton: QC, then normalization and PCA side by side',
      inputDataPath: DATASET,
      nodes: [
        { id: 'qc', block: { name: 'quality_control', parameters: { min_genes: 10, min_cells: 1, max_pct_mito: null } } },
        { id: 'normalize', parentId: 'qc', block: { name: 'normalize', parameters: {} } },
        { id: 'pca', parentId: 'qc', block: { name: 'pca', parameters: { n_comps: 10, use_highly_variable: false } } },
      ],
    });
    const result = await tree.result();
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
    const status = await tree.status({ transitions: true });
    const byId = new Map(status.nodes.map((n) => [n.id, n]));
    const [qc, norm, pca] = ['qc', 'normalize', 'pca'].map((id) => byId.get(id)!);
    for (const n of [qc, norm, pca]) {
      assert.ok(n?.outputPath && existsSync(n.outputPath), `${n?.id} published its output`);
      assert.match(n.sha256!, /^[0-9a-f]{64}$/);
      assert.equal(statSync(n.outputPath).mode & 0o222, 0, `${n.id}'s published output is read-only`);
    }
    // The children ran side by side, after the root.
    const t = (iso: string | null) => Date.parse(iso!);
    assert.ok(t(norm!.startedAt) >= t(qc!.endedAt) && t(pca!.startedAt) >= t(qc!.endedAt));
    console.log(`# skeleton: normalize/pca started ${Math.abs(t(norm!.startedAt) - t(pca!.startedAt))} ms apart, overlapped ${Math.min(t(norm!.endedAt), t(pca!.endedAt)) - Math.max(t(norm!.startedAt), t(pca!.startedAt))} ms`);
    // The scheduler started both in one workflow task (deterministic); that the containers then
    // overlap follows because each runs for seconds (scanpy) while starting them takes far less.
    const dispatched = (n: typeof norm) => (n!.transitions ?? []).find((x) => x.state === 'RUNNING')?.at;
    assert.equal(dispatched(norm), dispatched(pca), 'normalize and pca were started together');
    assert.ok(t(norm!.startedAt) < t(pca!.endedAt) && t(pca!.startedAt) < t(norm!.endedAt), 'normalize and pca overlapped');
    // Real effects, read back from the published .h5ad files.
    const input = inspect(DATASET);
    const afterQc = inspect(qc!.outputPath!);
    assert.ok(afterQc.n_obs <= input.n_obs && afterQc.layers.includes('counts'), 'QC kept raw counts in a layer');
    assert.ok(inspect(norm!.outputPath!).uns.includes('log1p'), 'normalize applied log1p');
    assert.ok(inspect(pca!.outputPath!).uns.includes('pca'), 'pca stored its variance');
    // No container of this tree is left behind: cold and warm pool containers alike (a pooled
    // one carries its node in its name, not its labels). A pooled node's exited container is
    // removed just after its result (docker.ts runWarm), so this waits for it (a hang bound).
    await expectNoContainerLeft(new Docker(), tree.treeId);
    console.log(`# skeleton: ${status.nodes.map((n) => `${n.id} ${n.state} ${n.outputPath}`).join('; ')}`);
  });
});
