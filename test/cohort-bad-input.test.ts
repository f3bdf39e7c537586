/**
 * Bad cohort input on the real server, through the SDK and the CLI (issue 12, item 8): each is
 * refused with one line naming what is wrong, and nothing changes: a running tree's status
 * (nodes, states, transitions, samples) is identical before and after; a tree that was refused
 * at start has no workflow.
 *
 * - a sample already in the tree, added again (SDK `addSamples`, alone and beside a new sample:
 *   all-or-nothing; CLI `add-samples`, exit 2);
 * - a sample whose file does not exist (CLI `add-samples`, exit 2; the SDK does not look at files,
 *   on purpose: see client/local-checks.ts);
 * - a multi-input node (a gather) on a built-in block that takes one input (SDK `startTree`:
 *   InvalidInputError; CLI `run`: exit 2).
 *
 * The sample added after its gather started is covered by test/cohort.test.ts.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TreeSpecInput } from '../common/schemas';
import { InvalidInputError } from '../client/errors';
import type { TreeHandle } from '../client/sdk';
import { ragomics } from './helpers/cli';
import { uid, withWorker, type WorkerContext } from './helpers/harness';

const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-cohort-bad-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = { name: 'sleep' as const, parameters: { seconds: 0 } };

function write(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Everything of a running tree that a refused request must leave alone. */
async function snapshot(tree: TreeHandle): Promise<unknown> {
  const s = await tree.status({ transitions: true, details: true });
  return {
    totalNodes: s.totalNodes,
    samples: s.samples,
    nodes: s.nodes.map((n) => ({ id: n.id, state: n.state, sample: n.sample, inputs: n.inputs, transitions: n.transitions?.length })),
  };
}

void describe('bad cohort input changes nothing', () => {
  void test('adding a sample already in the tree (SDK, CLI) or one whose file is missing (CLI): one line, exit 2, the tree unchanged', async () => {
    await withWorker({}, async ({ client, taskQueue, gate }: WorkerContext) => {
      const env = { RAGOMICS_TASK_QUEUE: taskQueue };
      const s1 = write('s1.h5ad', 'placeholder\n');
      const s2 = write('s2.h5ad', 'placeholder\n');
      const s3 = write('s3.h5ad', 'placeholder\n');
      // Both per-sample nodes held running: the snapshots below then change only if a request did.
      gate.hold('qc_S1', 'qc_S2');
      const spec: TreeSpecInput = {
        id: uid('cohort-bad-add'),
        samples: [{ sample: 'S1', path: s1 }, { sample: 'S2', path: s2 }],
        forEachSample: [{ id: 'qc_{sample}', block: sleep }],
        nodes: [{ id: 'merge', inputs: { gather: 'qc_{sample}' }, block: sleep }],
      };
      const tree = await client.startTree(spec);
      await gate.started('qc_S1');
      await gate.started('qc_S2');
      const before = await snapshot(tree);

      // SDK: the duplicate alone, then beside a new sample (all-or-nothing: S3 is not added either).
      await assert.rejects(tree.addSamples([{ sample: 'S1', path: s1 }], { requestId: 'dup-1' }), (e: Error) => {
        assert.match(e.message, /duplicate sample id "S1" \(already in the tree\)/);
        assert.equal(e.message.trim().split('\n').length, 1, e.message);
        return true;
      });
      await assert.rejects(tree.addSamples([{ sample: 'S3', path: s3 }, { sample: 'S2', path: s2 }], { requestId: 'dup-2' }), /duplicate sample id "S2" \(already in the tree\)/);
      assert.deepEqual(await snapshot(tree), before, 'the refused SDK requests changed nothing');

      // CLI: a sheet naming a sample already in the tree; a sheet naming a file that does not exist.
      const dup = await ragomics(['add-samples', spec.id!, write('dup.csv', 'sample,path\nS2,s2.h5ad\n')], env);
      assert.equal(dup.code, 2, dup.stderr);
      assert.match(dup.stderr, /duplicate sample id "S2" \(already in the tree\)/);
      assert.equal(dup.stderr.trim().split('\n').length, 1, `one line: ${dup.stderr}`);
      const missing = await ragomics(['add-samples', spec.id!, write('missing.csv', 'sample,path\nS3,s3.h5ad\nS4,nowhere.h5ad\n')], env);
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /missing\.csv:3: row 2, column "path": no readable \.h5ad file at ".*nowhere\.h5ad"/);
      assert.equal(missing.stderr.trim().split('\n').length, 1, `one line: ${missing.stderr}`);
      assert.deepEqual(await snapshot(tree), before, 'the refused CLI requests changed nothing (S3 of the same sheet was not added)');

      // The tree goes on as it was: the gather reads the two samples it had.
      gate.release('qc_S1', 'qc_S2');
      const result = await tree.result();
      assert.equal(result.state, 'COMPLETED');
      assert.equal(result.counts.COMPLETED, 3);
      const end = await tree.status({ details: true });
      assert.deepEqual(end.samples?.map((x) => x.sample), ['S1', 'S2']);
      assert.deepEqual(end.nodes.find((n) => n.id === 'merge')?.inputs, ['qc_S1', 'qc_S2']);
    });
  });

  void test('a multi-input node on a block that takes one input: SDK InvalidInputError, CLI exit 2, one line, no workflow started', async () => {
    await withWorker({}, async ({ client, taskQueue }: WorkerContext) => {
      const env = { RAGOMICS_TASK_QUEUE: taskQueue };
      const s1 = write('m1.h5ad', 'placeholder\n');
      const s2 = write('m2.h5ad', 'placeholder\n');
      const expected = /block "pca" takes one input \(parentId\), but the node has 2 inputs \(inputs\)/;

      const sdkId = uid('cohort-bad-many');
      await assert.rejects(client.startTree({
        id: sdkId,
        samples: [{ sample: 'A', path: s1 }, { sample: 'B', path: s2 }],
        forEachSample: [{ id: 'qc_{sample}', block: sleep }],
        nodes: [{ id: 'merge', inputs: { gather: 'qc_{sample}' }, block: { name: 'pca', parameters: {} } }],
      }), (e: Error) => {
        assert.ok(e instanceof InvalidInputError, `an InvalidInputError: ${e.name}`);
        assert.match(e.message, expected);
        assert.equal(e.message.trim().split('\n').length, 1, e.message);
        return true;
      });
      await assert.rejects(client.getTree(sdkId).workflow.describe(), WorkflowNotFoundError, 'SDK: nothing started');

      write('pairs.csv', 'sample,path\nA,m1.h5ad\nB,m2.h5ad\n');
      const spec = write('many-on-one.yaml', 'samples: pairs.csv\nforEachSample:\n  - { id: "qc_{sample}", block: { name: sleep, parameters: { seconds: 0 } } }\nnodes:\n  - { id: merge, inputs: { gather: "qc_{sample}" }, block: { name: pca } }\n');
      const cliId = uid('cohort-bad-many-cli');
      const r = await ragomics(['run', spec, '--detach', '--id', cliId], env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, expected);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      await assert.rejects(client.getTree(cliId).workflow.describe(), WorkflowNotFoundError, 'CLI: nothing started');
    });
  });
});
