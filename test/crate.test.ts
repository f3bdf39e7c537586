/**
 * `ragomics crate`: a tree exported as a Workflow Run RO-Crate (Provenance Run Crate 0.5) and
 * checked by a real validator, CRS4's `rocrate-validator` from PyPI (roc-validator, installed by
 * scripts/ensure-crate-validator.sh; scripts/test.sh runs it when this file is in the run).
 *
 * - real blocks in Docker on the bundled PBMC dataset (QC → normalize → PCA, plus an inline
 *   block with parameters), exported by the CLI as a zip; validated with the
 *   `provenance-run-crate-0.5` profile at level REQUIRED; the crate's content checked against the
 *   tree (code, parameters, sha256, times, what is embedded and what is referenced);
 * - a running tree with a failed node (inprocess executor), exported by the SDK as a folder:
 *   valid too, and marked incomplete;
 * - bad input: unknown tree, existing output, bad --embed-max-bytes, a workspace that is gone:
 *   one line, exit 2, nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { dataDir, repoRoot, toolsDir } from '../activities/executors/repo-root';
import { WorkspaceMissingError } from '../client/errors';
import type { Entity } from '../client/crate/graph';
import { ragomics } from './helpers/cli';
import { sleepNode, uid, waitFor, withWorker } from './helpers/harness';

const run = promisify(execFile);
const VALIDATOR = path.join(toolsDir(), 'crate-validator', 'bin', 'rocrate-validator');
const DATASET = path.join(dataDir(), 'datasets', 'pbmc68k_counts.h5ad');
const CACHE = path.join(toolsDir(), 'crate-validator', 'http-cache');
const PROFILE = 'provenance-run-crate-0.5';

/**
 * Runs rocrate-validator on a crate (zip or folder), offline, from the cache
 * scripts/ensure-crate-validator.sh seeded with the RO-Crate 1.1 context. Returns whether it
 * passed and its issues: from the JSON report for a folder; for a zip from the text report
 * (0.13.0's JSON writer fails on zip input: "Object of type URI is not JSON serializable"), its
 * exit code saying pass (0) or fail (1).
 */
async function validate(crate: string, level: 'required' | 'recommended'): Promise<{ passed: boolean; issues: string[] }> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'crate-report-'));
  const report = path.join(tmp, 'report.json');
  const zip = crate.endsWith('.zip');
  const args = ['--no-interactive', '--disable-color', 'validate', '--offline', '--cache-path', CACHE, '-p', PROFILE, '-l', level, ...(zip ? ['--no-paging', '-v'] : ['-f', 'json', '-o', report]), crate];
  try {
    const r = await run(VALIDATOR, args, { timeout: 300_000, maxBuffer: 64 << 20 }).then(
      (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    );
    // Exit code 1 means "not valid" (the report says why); anything else is the validator failing.
    if (r.code !== 0 && r.code !== 1) throw new Error(`rocrate-validator failed to run (exit ${r.code}): ${r.stderr}${r.stdout.slice(-4000)}`);
    if (zip) return { passed: r.code === 0, issues: r.stdout.split('\n').filter((l) => /\[ [a-z0-9.-]+_\d+\.\d+ \]|Violation/.test(l)).map((l) => l.trim()) };
    const json = JSON.parse(readFileSync(report, 'utf8')) as { passed: boolean; issues?: { message?: string; check?: { identifier?: string }; violatingEntity?: string }[] };
    assert.equal(json.passed, r.code === 0);
    return { passed: json.passed, issues: (json.issues ?? []).map((i) => `${i.check?.identifier ?? '?'} ${i.violatingEntity ?? ''}: ${i.message ?? ''}`) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The metadata of a zipped crate, read with Python's zipfile (no unzip library needed for a test). */
async function zipEntries(zip: string): Promise<{ names: string[]; metadata: { '@graph': Entity[] } }> {
  const script = 'import json,sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print(json.dumps({"names": z.namelist(), "metadata": json.loads(z.read("ro-crate-metadata.json"))}))';
  const { stdout } = await run('python3', ['-c', script, zip], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as { names: string[]; metadata: { '@graph': Entity[] } };
}

const ids = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).map((x) => (x as { '@id': string })['@id']);
const types = (e: Entity): string[] => (Array.isArray(e['@type']) ? e['@type'] : [e['@type']]);

function checkValidatorInstalled(): void {
  assert.ok(existsSync(VALIDATOR), `rocrate-validator missing at ${VALIDATOR}: run scripts/ensure-crate-validator.sh (scripts/test.sh does when this file runs)`);
}

const INLINE = [
  'def run(adata=None, **parameters):',
  '    adata.uns["crate_test"] = {"label": parameters["label"], "factor": parameters["factor"]}',
  '    return adata',
  '',
].join('\n');

test('a finished tree of real Docker blocks exports as a Provenance Run Crate that rocrate-validator accepts', { timeout: 900_000 }, async () => {
  checkValidatorInstalled();
  assert.ok(existsSync(DATASET), `dataset missing: run scripts/fetch-dataset.sh (${DATASET})`);
  const out = mkdtempSync(path.join(tmpdir(), 'crate-docker-'));
  try {
    await withWorker({ executor: 'docker', maxConcurrentNodes: 2, defaultMemoryMB: 1024 }, async ({ client }) => {
      const tree = await client.startTree({
        id: uid('crate'),
        userRequest: 'QC, normalise and PCA the PBMC sample; tag the QC output',
        inputDataPath: DATASET,
        nodes: [
          { id: 'qc', block: { name: 'quality_control', parameters: { min_genes: 10, min_cells: 1, max_pct_mito: null } } },
          { id: 'normalize', parentId: 'qc', block: { name: 'normalize', parameters: {} } },
          { id: 'pca', parentId: 'normalize', block: { name: 'pca', parameters: { n_comps: 10, use_highly_variable: false } } },
          { id: 'tag', parentId: 'qc', block: { code: INLINE, parameters: { label: 'qc-done', factor: 2.5 } } },
        ],
      });
      const result = await tree.result();
      assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
      const status = await tree.status();
      const byId = new Map(status.nodes.map((n) => [n.id, n]));

      // The CLI, as a user runs it: AnnData above 64 KiB is referenced, the small files embedded.
      const zip = path.join(out, 'run.crate.zip');
      const cli = await ragomics(['crate', tree.treeId, '-o', zip, '--embed-max-bytes', String(64 * 1024), '--license', 'https://spdx.org/licenses/CC-BY-4.0']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stderr, /wrote run crate of .* \(zip; 4 node\(s\)/);

      const verdict = await validate(zip, 'required');
      assert.ok(verdict.passed, `rocrate-validator (${PROFILE}, REQUIRED) rejected the crate:\n${verdict.issues.join('\n')}`);

      const { names, metadata } = await zipEntries(zip);
      const graph = new Map(metadata['@graph'].map((e) => [e['@id'], e]));
      const get = (id: string): Entity => {
        const e = graph.get(id);
        assert.ok(e, `entity ${id} in the crate`);
        return e;
      };
      // The spec is the main workflow, with one step per node and the blocks as its tools.
      const wf = get('spec.json');
      assert.deepEqual(types(wf).sort(), ['ComputationalWorkflow', 'File', 'HowTo', 'SoftwareSourceCode']);
      assert.deepEqual(ids(get('./').mainEntity), ['spec.json']);
      assert.deepEqual(ids(wf.step).sort(), ['#step-normalize', '#step-pca', '#step-qc', '#step-tag']);
      const tools = ids(wf.hasPart);
      assert.ok(tools.includes('blocks/quality_control.py') && tools.includes('blocks/pca.py') && tools.some((t) => /^blocks\/inline-[0-9a-f]{12}\.py$/.test(t)), tools.join(', '));
      for (const t of tools) assert.ok(names.includes(t), `${t} is in the zip`);
      const inline = tools.find((t) => t.startsWith('blocks/inline-'))!;
      // Block code is the real code: the built-in module of this checkout, the inline code as given.
      const qcSource = readFileSync(path.join(repoRoot(), 'blocks', 'runtime', 'ragomics_runner', 'blocks', 'quality_control.py'), 'utf8');
      assert.equal(get('blocks/quality_control.py').sha256, createHash('sha256').update(qcSource).digest('hex'));
      assert.equal(get(inline).sha256, createHash('sha256').update(INLINE).digest('hex'));

      // One CreateAction per node attempt: instrument = its block, times, worker, image, outputs with sha256.
      const actions = metadata['@graph'].filter((e) => types(e).includes('CreateAction') && e['@id'] !== '#tree-run');
      assert.equal(actions.length, 4);
      for (const a of actions) {
        const node = /^#run-(.+)-\d+$/.exec(a['@id'])![1]!;
        const s = byId.get(node)!;
        assert.equal(a.actionStatus, 'http://schema.org/CompletedActionStatus');
        assert.match(String(a.startTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
        assert.ok(Date.parse(String(a.endTime)) >= Date.parse(String(a.startTime)));
        assert.ok(ids(a.agent)[0]?.startsWith('#worker-'), 'the worker is the agent');
        assert.ok(ids(a.containerImage)[0]?.startsWith('#image-'), 'the image digest is recorded');
        const results = ids(a.result).map(get);
        const main = results.find((f) => f.name === '_node_anndata.h5ad');
        assert.ok(main, `${node} has its AnnData as a result`);
        assert.equal(main.sha256, s.sha256, `${node}'s output sha256`);
        // 700 cells: every AnnData is above 64 KiB, so referenced where it is, with its size.
        assert.equal(main['@id'], `file://${s.outputPath}`);
        assert.equal(Number(main.contentSize), statSync(s.outputPath!).size);
        assert.ok(!names.some((n) => n.endsWith(`${node}/_node_anndata.h5ad`)), 'large outputs are not embedded');
        const small = results.find((f) => f.name === 'node-result.json');
        assert.ok(small && names.includes(small['@id']), `${node}'s node-result.json is embedded`);
        for (const f of results) assert.match(String(f.sha256), /^[0-9a-f]{64}$/);
      }
      // The children read their parent's output entity; the roots read the tree's input.
      const run = (node: string) => actions.find((a) => a['@id'].startsWith(`#run-${node}-`))!;
      assert.ok(ids(run('pca').object).includes(`file://${byId.get('normalize')!.outputPath}`));
      assert.ok(ids(run('qc').object).includes(`file://${DATASET}`));
      // Parameters: FormalParameter on the tool, PropertyValue on the run.
      const factor = ids(run('tag').object).map(get).find((e) => e.name === 'factor');
      assert.equal(factor?.value, 2.5);
      assert.equal(get(ids(factor?.exampleOfWork)[0]!).additionalType, 'Float');

      // The scheduler: an OrganizeAction with one ControlAction per node, whose result is the tree run.
      const organize = get('#organize');
      assert.deepEqual(ids(organize.result), ['#tree-run']);
      assert.equal(ids(organize.object).length, 4);
      for (const c of ids(organize.object).map(get)) assert.ok(ids(c.instrument)[0]?.startsWith('#step-') && ids(c.object).length === 1);
      const treeRun = get('#tree-run');
      assert.deepEqual(ids(treeRun.instrument), ['spec.json']);
      assert.equal(treeRun.actionStatus, 'http://schema.org/CompletedActionStatus');
      assert.deepEqual(ids(treeRun.result).sort(), [`file://${byId.get('pca')!.outputPath}`, `file://${byId.get('tag')!.outputPath}`].sort(), 'the leaves are the results');

      // Everything embedded when the limit allows it, as a folder this time (the default limit keeps AnnData out).
      const folder = path.join(out, 'all-embedded');
      const all = await client.exportCrate(tree.treeId, folder, { embedMaxBytes: 64 << 20 });
      assert.deepEqual([all.format, all.referenced, all.incomplete], ['dir', 0, false]);
      assert.ok(existsSync(path.join(folder, 'outputs', 'pca', '_node_anndata.h5ad')));
      assert.ok((await validate(folder, 'required')).passed);
      // RECOMMENDED: printed, not asserted (docs/crate.md lists what it asks that a ragomics run cannot say).
      const recommended = await validate(folder, 'recommended');
      console.log(`# crate: ${PROFILE} REQUIRED passed (zip and folder); RECOMMENDED ${recommended.passed ? 'passed' : `fails ${recommended.issues.length} issue(s):\n#   ${[...new Set(recommended.issues.map((i) => i.replace(/^(\S+) .*?: /, '$1: ')))].join('\n#   ')}`}`);
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a running tree with a failed node exports as an incomplete run that still validates; bad input writes nothing', { timeout: 600_000 }, async () => {
  checkValidatorInstalled();
  const out = mkdtempSync(path.join(tmpdir(), 'crate-inproc-'));
  try {
    await withWorker({ executor: 'inprocess' }, async ({ client, gate, workspace }) => {
      gate.hold('slow');
      const tree = await client.startTree({
        id: uid('crate-run'),
        nodes: [sleepNode('root', 0), sleepNode('bad', 0, { parentId: 'root', fail: true, maxRetries: 0 }), sleepNode('slow', 0, { parentId: 'root' }), sleepNode('after', 0, { parentId: 'slow' })],
      });
      await gate.started('slow');
      await waitFor(async () => (await tree.status()).nodes.find((n) => n.id === 'bad')?.state === 'FAILED');

      const dir = path.join(out, 'running-crate');
      const r = await client.exportCrate(tree.treeId, dir);
      assert.equal(r.incomplete, true);
      assert.equal(r.format, 'dir');
      const verdict = await validate(dir, 'required');
      assert.ok(verdict.passed, verdict.issues.join('\n'));
      const graph = new Map((JSON.parse(readFileSync(path.join(dir, 'ro-crate-metadata.json'), 'utf8')) as { '@graph': Entity[] })['@graph'].map((e) => [e['@id'], e]));
      assert.equal(graph.get('#tree-run')?.actionStatus, 'http://schema.org/ActiveActionStatus');
      assert.equal(graph.get('#tree-run')?.endTime, undefined);
      assert.match(String(graph.get('./')?.description), /INCOMPLETE/);
      assert.equal(graph.get('#run-bad-1')?.actionStatus, 'http://schema.org/FailedActionStatus');
      assert.ok(String(graph.get('#run-bad-1')?.error).length > 0);
      assert.equal(graph.get('#run-slow-1')?.actionStatus, 'http://schema.org/ActiveActionStatus');
      // The validator does check: the same crate without the scheduler's engine is rejected.
      const broken = path.join(out, 'broken-crate');
      cpSync(dir, broken, { recursive: true });
      const meta = JSON.parse(readFileSync(path.join(broken, 'ro-crate-metadata.json'), 'utf8')) as { '@graph': Entity[] };
      delete meta['@graph'].find((e) => e['@id'] === '#organize')!.instrument;
      writeFileSync(path.join(broken, 'ro-crate-metadata.json'), JSON.stringify(meta));
      const rejected = await validate(broken, 'required');
      assert.equal(rejected.passed, false);
      assert.ok(rejected.issues.some((i) => /OrganizeAction must reference an entity representing the workflow engine/.test(i)), rejected.issues.join('\n'));
      // A node that never started has its step, but no execution.
      assert.ok(graph.get('#step-after'));
      assert.equal(graph.get('#control-after'), undefined);

      // Bad input: one line, exit 2, nothing written.
      const unknown = await ragomics(['crate', uid('no-such-tree'), '-o', path.join(out, 'x.crate.zip')]);
      assert.equal(unknown.code, 2, unknown.stderr);
      assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
      assert.match(unknown.stderr, /no tree with id/);
      const exists = path.join(out, 'exists.crate.zip');
      writeFileSync(exists, 'keep me');
      const refused = await ragomics(['crate', tree.treeId, '-o', exists]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /already exists \(--force replaces it\)/);
      assert.equal(readFileSync(exists, 'utf8'), 'keep me');
      const badLimit = await ragomics(['crate', tree.treeId, '-o', path.join(out, 'y.crate.zip'), '--embed-max-bytes', '1e3']);
      assert.equal(badLimit.code, 2, badLimit.stderr);
      assert.match(badLimit.stderr, /--embed-max-bytes: must be a whole number/);
      const forced = await ragomics(['crate', tree.treeId, '-o', exists, '--force']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stderr, /still running: the crate records an unfinished run/);
      assert.notEqual(readFileSync(exists).subarray(0, 2).toString(), 'ke', 'replaced by a zip');

      // The workspace is gone: a one-line error and no crate (nor any temporary file) left behind.
      // (Checked while the tree runs, so its worker answers from its cache: on a loaded machine a
      // query to a closed tree, which the worker must replay first, can miss the query deadline.)
      const trees = path.join(workspace, 'trees');
      for (const d of readdirSync(trees)) if (d.startsWith(`${tree.treeId}.`)) rmSync(path.join(trees, d), { recursive: true, force: true });
      const gone = path.join(out, 'gone.crate.zip');
      await assert.rejects(client.exportCrate(tree.treeId, gone), (e) => e instanceof WorkspaceMissingError && /is gone/.test(e.message));
      const cli = await ragomics(['crate', tree.treeId, '-o', gone]);
      assert.equal(cli.code, 2, cli.stderr);
      assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
      assert.match(cli.stderr, /workspace of tree .* is gone/);
      assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('gone') || f.startsWith('.gone')), []);
      await tree.cancel('test done');
      gate.release('slow');
      assert.equal((await tree.result()).state, 'CANCELLED');
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('scripts/ensure-crate-validator.sh: exit 3 and a one-line error when the package cannot be installed; a no-op when warm', { timeout: 120_000 }, async () => {
  const tools = mkdtempSync(path.join(tmpdir(), 'crate-tools-'));
  const script = path.join(repoRoot(), 'scripts', 'ensure-crate-validator.sh');
  try {
    // No package index: pip cannot resolve roc-validator.
    const failed = await run('bash', [script], { env: { ...process.env, RAGOMICS_TOOLS_DIR: tools, PIP_NO_INDEX: '1', PIP_FIND_LINKS: '' } }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
    );
    assert.equal(failed.code, 3, failed.stderr);
    assert.match(failed.stderr.trim().split('\n').pop()!, /^\[ragomics\] ERROR: pip install -r scripts\/crate-validator-requirements.txt failed \(see above\)$/);
    assert.ok(!existsSync(path.join(tools, 'crate-validator', '.ragomics-stamp')), 'no stamp: the next run tries again');
  } finally {
    rmSync(tools, { recursive: true, force: true });
  }
  // Warm (the suite's venv): prints the bin folder and installs nothing.
  checkValidatorInstalled();
  const warm = await run('bash', [script]);
  assert.equal(warm.stdout.trim(), path.dirname(VALIDATOR));
  assert.doesNotMatch(warm.stderr, /creating|storing/);
});
