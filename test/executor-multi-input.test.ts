/**
 * Nodes with several inputs (issue 12) through runNode with the REAL runner: the Docker executor
 * with the blocks image and the local executor with the blocks venv, plus the in-process
 * executor's `sleep`. Three upstream nodes publish small AnnData files of different sizes; a
 * gather node reads them through `run(adatas=None, samples=None, **p)`. Proves: input order,
 * lazy loading, sample columns, zero bytes copied (the runner sees each upstream file's own
 * inode, mounted read-only / symlinked), and the typed, non-retryable InputCountMismatchError
 * for a block that takes one input on a node with three (and the reverse).
 * Needs the Docker engine and the blocks image (scripts/build-image.sh), and .tools/blocks-venv.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { createActivities, createDockerExecutor, createInprocessExecutor, createLocalExecutor, resolveLocalPython, type Activities } from '../activities';
import { FailureTypes } from '../common/failure-types';
import type { NodeResult } from '../common/schemas';
import { loadWorkerConfig, resolveBlocksImage } from '../workers/config';
import { skipUnlessCI } from './helpers/prereq';
import { failureOf, managedContainers, nodeInput, removeRoot, runNode, tempRoot, treeIdFactory, writeInput } from './fixtures/executor/helpers';

const treeId = treeIdFactory('exec-multi');
const TREE_PREFIX = treeId('').slice(0, -1);
const docker = new Docker();
let root: string;

/** An upstream node of one sample: writes an AnnData of `cells` x 4 and records the `sample=` it got. */
const MAKE = (cells: number, tag: string): string => `
import anndata, numpy as np, pandas as pd
def run(adata=None, sample=None, **p):
    report.metric("sample", sample)
    obs = pd.DataFrame({"origin": ["${tag}"] * ${cells}}, index=[f"${tag}-c{i}" for i in range(${cells})])
    return anndata.AnnData(X=np.ones((${cells}, 4), dtype="float32"), obs=obs)
`;

/** The gather: lazy access, order, samples, its input mounts; returns the concatenation. */
const GATHER = `
import anndata
def run(adatas=None, samples=None, **p):
    before = adatas.loaded()
    first = next(iter(adatas))
    adatas[first]
    after_one = adatas.loaded()
    mounts = {}
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                f = line.split()
                if f[4].startswith("/workspace/inputs/"):
                    mounts[f[4]] = f[5].split(",")[0]
    except OSError:
        pass
    cells = {k: int(adatas[k].n_obs) for k in adatas}
    report.metric("keys", list(adatas))
    report.metric("loadedBefore", before)
    report.metric("loadedAfterOne", after_one)
    report.metric("cells", cells)
    report.metric("samples", samples)
    report.metric("mounts", mounts)
    return anndata.concat([adatas[k] for k in adatas], label="sample", keys=list(adatas), index_unique="-")
`;

/** A block that takes several inputs, run on a node with one. */
const MANY_ONLY = 'def run(adatas=None, **p):\n    return None\n';

before(async () => {
  root = await tempRoot('ragomics-exec-multi');
});
after(async () => {
  const left = await managedContainers(docker, TREE_PREFIX).catch(() => []);
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  await removeRoot(root);
  assert.deepEqual(left.map((c) => c.Labels['ragomics.tree']), [], 'containers left behind by this file');
});

/** Keys in an order that is neither sorted nor the order the upstream nodes ran in. */
const KEYS = ['s2', 's3', 's1'] as const;
const CELLS: Record<(typeof KEYS)[number], number> = { s1: 5, s2: 7, s3: 3 };

/** Runs three upstream nodes and the gather over them; asserts everything the gather saw. */
async function gatherProof(activities: Activities, tree: string, what: string): Promise<{ upstream: Record<string, NodeResult>; gather: NodeResult }> {
  const upstream: Record<string, NodeResult> = {};
  for (const key of ['s1', 's2', 's3'] as const) {
    const sample = { sample: key, columns: { condition: key === 's1' ? 'ctrl' : 'treated', batch: 'b1' } };
    upstream[key] = await runNode(activities, nodeInput(tree, { nodeId: `qc-${key}`, sample, block: { code: MAKE(CELLS[key], key), parameters: {} } }));
    assert.deepEqual(upstream[key].metrics.sample, { sample: key, condition: sample.columns.condition, batch: 'b1' }, `${what}: sample= of a per-sample node`);
  }
  const inputs = KEYS.map((key) => ({
    key, path: upstream[key]!.outputPath,
    ...(key === 's3' ? {} : { sample: { sample: key, columns: { condition: key === 's1' ? 'ctrl' : 'treated', batch: 'b1' } } }),
  }));
  const t0 = performance.now();
  const gather = await runNode(activities, nodeInput(tree, { nodeId: 'gather', inputPath: null, inputs, block: { code: GATHER, parameters: {} } }));
  console.log(`# ${what}: gather of 3 inputs ran in ${Math.round(performance.now() - t0)} ms`);
  const m = gather.metrics;
  assert.deepEqual(m.keys, [...KEYS], `${what}: the block saw the inputs in the node's order`);
  assert.deepEqual(m.loadedBefore, [], `${what}: nothing was read before run() asked`);
  assert.deepEqual(m.loadedAfterOne, ['s2'], `${what}: one access read only that input`);
  assert.deepEqual(m.cells, { s2: 7, s3: 3, s1: 5 }, `${what}: each key holds its own upstream output`);
  assert.deepEqual(m.samples, { s2: { sample: 's2', condition: 'treated', batch: 'b1' }, s1: { sample: 's1', condition: 'ctrl', batch: 'b1' } }, `${what}: samples= carries the sheet columns of the inputs that have a sample`);
  assert.deepEqual(gather.shape, [15, 4], `${what}: the concatenation has every cell`);
  // Zero copy: the runner's view of each input has the upstream output's own inode and size.
  const dir = path.join(root, 'trees', tree, 'nodes', 'gather', 'published', 'attempt-1');
  const manifest = JSON.parse(await readFile(path.join(dir, 'result.json'), 'utf8')) as { io: { input: unknown; inputs: { key: string; facts: { bytes: number; inode: number } }[] } };
  assert.equal(manifest.io.input, null);
  assert.deepEqual(manifest.io.inputs.map((i) => i.key), [...KEYS]);
  for (const entry of manifest.io.inputs) {
    const st = await stat(upstream[entry.key]!.outputPath);
    assert.equal(entry.facts.inode, st.ino, `${what}: input ${entry.key} is the upstream file itself (inode), not a copy`);
    assert.equal(entry.facts.bytes, st.size, `${what}: input ${entry.key} bytes`);
  }
  const job = JSON.parse(await readFile(path.join(root, 'trees', tree, 'nodes', 'gather', 'attempts', '1-1', 'job.json'), 'utf8')) as { inputs: { key: string; path: string }[]; inputRequired: boolean };
  assert.deepEqual(job.inputs.map((i) => i.key), [...KEYS], `${what}: job.json lists the inputs in order`);
  assert.equal(job.inputRequired, true);
  return { upstream, gather };
}

/** A single-input block on three inputs, and a many-input block on one: typed, non-retryable, named. */
async function mismatchProof(activities: Activities, tree: string, upstream: Record<string, NodeResult>, what: string): Promise<void> {
  const inputs = KEYS.map((key) => ({ key, path: upstream[key]!.outputPath }));
  const f = await failureOf(runNode(activities, nodeInput(tree, { nodeId: 'pca-on-3', inputs, block: { name: 'pca', parameters: {} } })));
  assert.equal(f.type, FailureTypes.InputCountMismatch, `${what}: ${f.message}`);
  assert.equal(f.nonRetryable, true);
  assert.match(f.message, /block pca of node pca-on-3 takes one input .* the node has 3 inputs/);
  assert.equal((f.details?.[0] as { exitCode: number }).exitCode, 67);
  const g = await failureOf(runNode(activities, nodeInput(tree, { nodeId: 'many-on-1', inputPath: upstream.s1!.outputPath, block: { code: MANY_ONLY, parameters: {} } })));
  assert.equal(g.type, FailureTypes.InputCountMismatch, `${what}: ${g.message}`);
  assert.equal(g.nonRetryable, true);
  assert.match(g.message, /block inline of node many-on-1 takes several inputs .* the node has 1 input;/);
  // A missing input fails before anything starts, naming its key and path.
  const missing = [...inputs.slice(0, 2), { key: 'gone', path: path.join(root, 'no-such.h5ad') }];
  const h = await failureOf(runNode(activities, nodeInput(tree, { nodeId: 'missing', inputs: missing, block: { code: GATHER, parameters: {} } })));
  assert.equal(h.type, FailureTypes.InputMissing);
  assert.match(h.message, /input "gone" ".*no-such\.h5ad" does not exist/);
  assert.equal(existsSync(path.join(root, 'trees', tree, 'nodes', 'missing')), false, `${what}: no attempt workspace for a missing input`);
}

void describe('multi-input nodes', () => {
  void test('docker executor: three inputs mounted read-only in place, in order, read lazily; mismatches typed', { timeout: 600_000 }, async () => {
    const image = resolveBlocksImage(loadWorkerConfig({}));
    const ok = await docker.getImage(image).inspect().then(() => true, () => false);
    if (!ok) return assert.fail(`blocks image ${image} missing: run scripts/build-image.sh`);
    const activities = createActivities({ executor: createDockerExecutor({ docker, image }), workspaceRoot: root, workerId: 'test-multi-docker', defaultMemoryMB: 1024 });
    const tree = treeId('docker');
    const { upstream, gather } = await gatherProof(activities, tree, 'docker');
    // One bind mount per input, read-only (the published files are 0444 as well, so a write
    // attempt would stop at the file mode; the mount table shows the mount itself is "ro").
    assert.deepEqual(gather.metrics.mounts, Object.fromEntries(KEYS.map((k) => [`/workspace/inputs/${k}.h5ad`, 'ro'])));
    await mismatchProof(activities, tree, upstream, 'docker');
    assert.deepEqual(await managedContainers(docker, tree), []);
  });

  void test('local executor: three inputs symlinked in place, in order, read lazily; mismatches typed', { timeout: 300_000 }, async (t) => {
    const python = resolveLocalPython();
    const probe = spawnSync(python, ['-c', 'import anndata'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) return skipUnlessCI(t, `the local executor's venv has no anndata (${python}): run scripts/ensure-local-python.sh`);
    const activities = createActivities({ executor: createLocalExecutor({ python }), workspaceRoot: root, workerId: 'test-multi-local' });
    const tree = treeId('local');
    const { upstream } = await gatherProof(activities, tree, 'local');
    for (const key of KEYS) {
      const link = path.join(root, 'trees', tree, 'nodes', 'gather', 'attempts', '1-1', 'inputs', `${key}.h5ad`);
      assert.ok((await lstat(link)).isSymbolicLink(), `${link} is a symlink`);
      assert.equal(await readlink(link), upstream[key]!.outputPath);
    }
    await mismatchProof(activities, tree, upstream, 'local');
  });

  void test('inprocess executor: sleep takes a multi-input node and reports the keys in order', async () => {
    const activities = createActivities({ executor: createInprocessExecutor(), workspaceRoot: root, workerId: 'test-multi-inproc' });
    const tree = treeId('inproc');
    const inputs = await Promise.all(['c', 'a', 'b'].map(async (key) => ({ key, path: await writeInput(root) })));
    const result = await runNode(activities, nodeInput(tree, { nodeId: 'g', inputs }));
    assert.deepEqual(result.metrics.input_keys, ['c', 'a', 'b']);
    assert.match(result.summary, /inputs: c, a, b/);
    const single = await runNode(activities, nodeInput(tree, { nodeId: 'one', inputPath: inputs[0]!.path }));
    assert.equal(single.metrics.input_keys, undefined, 'a single-input sleep reports no keys');
    const bad = await failureOf(runNode(activities, nodeInput(tree, { nodeId: 'dup', inputs: [inputs[0]!, inputs[0]!] })));
    assert.equal(bad.type, FailureTypes.InvalidParameters);
    assert.match(bad.message, /inputs\[1\]\.key: input key "c" appears twice/);
    // A Temporal retry of a published multi-input attempt returns it and runs nothing (as for one input).
    const again = await runNode(activities, nodeInput(tree, { nodeId: 'g', inputs }), 2);
    assert.equal(again.reused, true);
    assert.equal(again.outputSha256, result.outputSha256);
  });
});
