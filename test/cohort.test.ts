/**
 * Cohorts on the real server (issue 12), with the inprocess executor: per-sample subtrees
 * expanded from `forEachSample`, a gather reading one input per sample in sheet order, samples
 * added while the gather waits (it takes them in), refused once it started (nothing changes),
 * idempotent by request id; and the CLI: a sheet read relative to the spec, `add-samples`, and
 * bad sheets exiting 2 with one line per problem and nothing started.
 *
 * What each node's activity received is recorded by an activity interceptor on the test worker
 * (the RunNodeInput the workflow built), so the assertions read the real input, not a copy.
 * Nothing waits for time: nodes whose end matters are held by the NodeGate.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ActivityInboundCallsInterceptor, ActivityExecuteInput, Next } from '@temporalio/worker';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { RunNodeInput, TreeSpecInput } from '../common/schemas';
import { ragomics } from './helpers/cli';
import { uid, withWorker, type WorkerContext } from './helpers/harness';

const sleep = { name: 'sleep' as const, parameters: { seconds: 0 } };

/** Records the input of every `runNode` activity the worker executes, by node id (last attempt wins). */
function recorder(): { inputs: Map<string, RunNodeInput>; interceptors: { activity: Array<() => { inbound: ActivityInboundCallsInterceptor }> } } {
  const inputs = new Map<string, RunNodeInput>();
  const inbound: ActivityInboundCallsInterceptor = {
    execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
      const arg = input.args[0] as Partial<RunNodeInput> | undefined;
      if (arg && typeof arg.nodeId === 'string' && 'inputPath' in arg) inputs.set(arg.nodeId, arg as RunNodeInput);
      return next(input);
    },
  };
  return { inputs, interceptors: { activity: [() => ({ inbound })] } };
}

const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-cohort-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A placeholder `.h5ad` per sample (the sleep block does not read it; the activity checks it exists). */
function sampleFile(name: string): string {
  const p = path.join(dir, `${name}.h5ad`);
  writeFileSync(p, 'placeholder\n');
  return p;
}

const rows = [
  { sample: 'S1', path: sampleFile('s1'), condition: 'ctrl', batch: 'b1' },
  { sample: 'S2', path: sampleFile('s2'), condition: 'stim', batch: 'b1' },
  { sample: 'S3', path: sampleFile('s3'), condition: 'stim', batch: 'b2' },
];

function cohort(id: string): TreeSpecInput {
  return {
    id, maxParallelJobs: 4, maxNodes: 30,
    samples: rows,
    forEachSample: [
      { id: 'qc_{sample}', block: sleep },
      { id: 'norm_{sample}', parentId: 'qc_{sample}', block: sleep },
    ],
    nodes: [
      { id: 'merge', inputs: { gather: 'norm_{sample}' }, block: sleep },
      { id: 'cluster', parentId: 'merge', block: sleep },
    ],
  };
}

void describe('cohorts on the real server', () => {
  void test('3 samples: per-sample chains, then a gather reading 3 inputs in sheet order', async () => {
    const rec = recorder();
    await withWorker({}, async ({ client }: WorkerContext) => {
      const tree = await client.startTree(cohort(uid('cohort')));
      const result = await tree.result();
      assert.equal(result.state, 'COMPLETED');
      assert.equal(result.counts.COMPLETED, 8);
      const s = await tree.status();
      assert.deepEqual(s.nodes.map((n) => n.id), ['qc_S1', 'norm_S1', 'qc_S2', 'norm_S2', 'qc_S3', 'norm_S3', 'merge', 'cluster']);
      assert.deepEqual(s.nodes.map((n) => n.sample ?? null), ['S1', 'S1', 'S2', 'S2', 'S3', 'S3', null, null]);
      assert.deepEqual(s.samples?.map((x) => [x.sample, x.columns]), [['S1', { condition: 'ctrl', batch: 'b1' }], ['S2', { condition: 'stim', batch: 'b1' }], ['S3', { condition: 'stim', batch: 'b2' }]]);
      const out = new Map(s.nodes.map((n) => [n.id, n.outputPath]));

      // A template root reads its sample's own file; per-sample nodes carry their sample.
      const qc2 = rec.inputs.get('qc_S2');
      assert.equal(qc2?.inputPath, rows[1]!.path);
      assert.deepEqual(qc2?.sample, { sample: 'S2', columns: { condition: 'stim', batch: 'b1' } });
      assert.equal(rec.inputs.get('norm_S2')?.inputPath, out.get('qc_S2'));
      // The gather: no single input; 3 inputs in sheet order, keyed by sample, with their columns.
      const merge = rec.inputs.get('merge');
      assert.equal(merge?.inputPath, null);
      assert.deepEqual(merge?.inputs, [
        { key: 'S1', path: out.get('norm_S1'), sample: { sample: 'S1', columns: { condition: 'ctrl', batch: 'b1' } } },
        { key: 'S2', path: out.get('norm_S2'), sample: { sample: 'S2', columns: { condition: 'stim', batch: 'b1' } } },
        { key: 'S3', path: out.get('norm_S3'), sample: { sample: 'S3', columns: { condition: 'stim', batch: 'b2' } } },
      ]);
      assert.equal(merge?.sample, undefined);
      // After the gather: an ordinary single-input node.
      assert.equal(rec.inputs.get('cluster')?.inputPath, out.get('merge'));
      assert.equal(rec.inputs.get('cluster')?.inputs, undefined);
    }, { interceptors: rec.interceptors });
  });

  void test('addSamples while the gather waits: the new subtree runs and the gather reads 4 inputs; the same request id is a no-op; after the gather started, refused and nothing changes', async () => {
    const rec = recorder();
    await withWorker({}, async ({ client, gate }: WorkerContext) => {
      gate.hold('norm_S2', 'merge');
      const tree = await client.startTree(cohort(uid('cohort-grow')));
      await gate.started('norm_S2');
      const S4 = { sample: 'S4', path: sampleFile('s4'), condition: 'ctrl', batch: 'b2' };
      const added = await tree.addSamples([S4], { requestId: 'batch-2' });
      assert.deepEqual(added, { requestId: 'batch-2', samples: ['S4'], added: ['qc_S4', 'norm_S4'], gathers: ['merge'], duplicate: false });
      const again = await tree.addSamples([S4], { requestId: 'batch-2' });
      assert.equal(again.duplicate, true);
      assert.deepEqual(again.added, []);
      const afterAdd = await tree.status({ details: true });
      assert.equal(afterAdd.totalNodes, 10, 'the repeated request added nothing');
      assert.deepEqual(afterAdd.nodes.find((n) => n.id === 'merge')?.inputs, ['norm_S1', 'norm_S2', 'norm_S3', 'norm_S4']);

      gate.release('norm_S2');
      await gate.started('merge');
      const before = await tree.status({ transitions: true });
      await assert.rejects(
        tree.addSamples([{ sample: 'S5', path: sampleFile('s5') }], { requestId: 'batch-3' }),
        /gather node "merge" \(over "norm_\{sample\}"\) is RUNNING/,
      );
      const unchanged = await tree.status({ transitions: true });
      assert.equal(unchanged.totalNodes, before.totalNodes);
      assert.deepEqual(unchanged.samples?.map((x) => x.sample), ['S1', 'S2', 'S3', 'S4']);
      assert.deepEqual(unchanged.nodes.map((n) => [n.id, n.transitions?.length]), before.nodes.map((n) => [n.id, n.transitions?.length]));

      gate.release('merge');
      const result = await tree.result();
      assert.equal(result.state, 'COMPLETED');
      assert.equal(result.counts.COMPLETED, 10);
      const s = await tree.status();
      const out = new Map(s.nodes.map((n) => [n.id, n.outputPath]));
      assert.deepEqual(rec.inputs.get('merge')?.inputs?.map((i) => [i.key, i.path]), ['S1', 'S2', 'S3', 'S4'].map((x) => [x, out.get(`norm_${x}`)]));
      assert.equal(rec.inputs.get('qc_S4')?.inputPath, S4.path);
      // The gather and its dependent moved after the new sample's nodes (insertion order stays topological).
      assert.deepEqual(s.nodes.map((n) => n.id).slice(-4), ['qc_S4', 'norm_S4', 'merge', 'cluster']);
    }, { interceptors: rec.interceptors });
  });
});

void describe('cohorts across continue-as-new', () => {
  void test('samples added while draining travel in the carried state; the restored tree runs the gather with every input', async () => {
    const rec = recorder();
    await withWorker({}, async ({ client, gate }: WorkerContext) => {
      gate.hold('norm_S3');
      // A low event limit: the tree drains and continues as new while norm_S3 is held.
      const tree = await client.startTree(cohort(uid('cohort-can')), { continueAsNewAfterEvents: 20 });
      await gate.started('norm_S3');
      const S4 = { sample: 'S4', path: sampleFile('s4c'), condition: 'ctrl', batch: 'b3' };
      const added = await tree.addSamples([S4], { requestId: 'late' });
      assert.deepEqual(added.gathers, ['merge']);
      gate.release('norm_S3');
      const result = await tree.result();
      assert.equal(result.state, 'COMPLETED');
      assert.ok(result.runs >= 1, `continued as new (runs ${result.runs})`);
      assert.equal(result.counts.COMPLETED, 10);
      const s = await tree.status();
      assert.deepEqual(s.samples?.map((x) => x.sample), ['S1', 'S2', 'S3', 'S4']);
      assert.equal(s.nodes.find((n) => n.id === 'norm_S4')?.sample, 'S4');
      assert.deepEqual(rec.inputs.get('merge')?.inputs?.map((i) => i.key), ['S1', 'S2', 'S3', 'S4']);
      assert.deepEqual(rec.inputs.get('qc_S4')?.sample, { sample: 'S4', columns: { condition: 'ctrl', batch: 'b3' } });
      console.log(`# cohort across continue-as-new: ${result.runs} run(s) after the first`);
    }, { interceptors: rec.interceptors });
  });
});

void describe('cohorts through the CLI', () => {
  const write = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const specFor = (sheet: string): string => `samples: ${sheet}\nforEachSample:\n  - { id: "qc_{sample}", block: { name: sleep, parameters: { seconds: 0 } } }\nnodes:\n  - { id: merge, inputs: { gather: "qc_{sample}" }, block: { name: sleep, parameters: { seconds: 0 } } }\n`;

  void test('run with a sheet (paths relative to it), status grouped by sample, add-samples (idempotent); bad sheets exit 2 naming row and column, nothing started', async () => {
    await withWorker({}, async ({ client, taskQueue, gate }: WorkerContext) => {
      const env = { RAGOMICS_TASK_QUEUE: taskQueue };
      write('good.csv', 'sample,path,condition\nA,s1.h5ad,ctrl\n"B",s2.h5ad,"stim, late"\n');
      const spec = write('cohort.yaml', specFor('good.csv'));
      gate.hold('qc_B');
      const id = uid('cli-cohort');
      const run = await ragomics(['run', spec, '--detach', '--id', id], env);
      assert.equal(run.code, 0, run.stderr);
      await gate.started('qc_B');

      write('more.tsv', 'sample\tpath\tcondition\nC\ts3.h5ad\tctrl\n');
      const add = await ragomics(['add-samples', id, path.join(dir, 'more.tsv'), '--request-id', 'r1'], env);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /added 1 sample\(s\) to .* \(C\): 1 node\(s\); gathered by merge/);
      const again = await ragomics(['add-samples', id, path.join(dir, 'more.tsv'), '--request-id', 'r1'], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /already applied; nothing changed/);
      write('missing.csv', 'sample,path\nD,nowhere.h5ad\n');
      const bad = await ragomics(['add-samples', id, path.join(dir, 'missing.csv')], env);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /missing\.csv:2: row 1, column "path": no readable \.h5ad file at ".*nowhere\.h5ad"/);

      const text = await ragomics(['status', id], env);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /sample A \(condition=ctrl\)\n\s+qc_A .*\n\s+sample B \(condition=stim, late\)\n\s+qc_B /);
      assert.match(text.stdout, /cohort nodes\n\s+merge .*\n\s+↳ reads 3 input\(s\): qc_A, qc_B, qc_C/);
      gate.release('qc_B');
      assert.equal((await client.getTree(id).result()).state, 'COMPLETED');
      const json = await ragomics(['status', id, '--json'], env);
      const status = JSON.parse(json.stdout) as { nodes: Array<{ id: string; sample?: string }>; samples: Array<{ sample: string; path: string; columns: Record<string, string> }> };
      assert.deepEqual(status.samples.map((x) => [x.sample, x.path, x.columns]), [
        ['A', path.join(dir, 's1.h5ad'), { condition: 'ctrl' }], ['B', path.join(dir, 's2.h5ad'), { condition: 'stim, late' }], ['C', path.join(dir, 's3.h5ad'), { condition: 'ctrl' }],
      ]);
      assert.equal(status.nodes.find((n) => n.id === 'qc_C')?.sample, 'C');
      assert.equal(Object.hasOwn(status.nodes.find((n) => n.id === 'merge') ?? {}, 'sample'), false);

      const cases: Array<[string, string, RegExp[]]> = [
        ['missing file', 'sample,path\nA,s1.h5ad\nB,gone.h5ad\n', [/bad\.csv:3: row 2, column "path": no readable \.h5ad file at ".*gone\.h5ad"/]],
        ['duplicate sample', 'sample,path\nA,s1.h5ad\nA,s2.h5ad\n', [/bad\.csv:3: row 2, column "sample": duplicate sample id "A" \(also .*bad\.csv:2: row 1, column "sample"\)/]],
        ['missing column', 'sample,file\nA,s1.h5ad\n', [/bad\.csv:1: header: missing column "path"/]],
      ];
      for (const [what, sheet, expected] of cases) {
        write('bad.csv', sheet);
        const badId = uid('cli-bad');
        const r = await ragomics(['run', write('bad.yaml', specFor('bad.csv')), '--id', badId], env);
        assert.equal(r.code, 2, `${what}: ${r.stderr}`);
        for (const e of expected) assert.match(r.stderr, e, what);
        assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
        await assert.rejects(client.getTree(badId).workflow.describe(), WorkflowNotFoundError, `${what}: nothing started`);
      }
    });
  });
});
