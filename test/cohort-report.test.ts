/**
 * Seeing a cohort on the real server (issue 12, item 9), with the inprocess executor: a cohort of
 * three samples (qc → norm per sample, a gather, a node after it; `sleep` blocks) runs to the
 * end, then `ragomics report` and `ragomics timeline` (html, json, csv) are run as a user would
 * and their output checked for the grouping by sample. The inprocess executor runs only `sleep`,
 * so the QC figures themselves (from `quality_control` results) are covered by the unit tests
 * (test/unit/cohort-report.test.ts); here the QC table's rows say there is no QC node.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TreeSpecInput } from '../common/schemas';
import { ragomics } from './helpers/cli';
import { uid, withWorker, type WorkerContext } from './helpers/harness';

const sleep = { name: 'sleep' as const, parameters: { seconds: 0 } };
const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-cohort-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A placeholder `.h5ad` per sample (the sleep block does not read it; the activity checks it exists). */
function sampleFile(name: string): string {
  const p = path.join(dir, `${name}.h5ad`);
  writeFileSync(p, 'placeholder\n');
  return p;
}

void test('a cohort on the real server: the report has a Samples section and nodes grouped by sample; the timeline is grouped and carries the sample', async () => {
  await withWorker({}, async ({ client, taskQueue }: WorkerContext) => {
    const env = { RAGOMICS_TASK_QUEUE: taskQueue };
    const id = uid('cohort-report');
    const spec: TreeSpecInput = {
      id, maxParallelJobs: 4, maxNodes: 30,
      samples: [
        { sample: 'S1', path: sampleFile('s1'), condition: 'ctrl', batch: 'b1' },
        { sample: 'S2', path: sampleFile('s2'), condition: 'stim', batch: 'b1' },
        { sample: 'S3', path: sampleFile('s3'), condition: 'stim', batch: 'b2' },
      ],
      forEachSample: [
        { id: 'qc_{sample}', block: sleep },
        { id: 'norm_{sample}', parentId: 'qc_{sample}', block: sleep },
      ],
      nodes: [
        { id: 'merge', inputs: { gather: 'norm_{sample}' }, block: sleep },
        { id: 'cluster', parentId: 'merge', block: sleep },
      ],
    };
    const tree = await client.startTree(spec);
    assert.equal((await tree.result()).state, 'COMPLETED');

    const t0 = Date.now();
    const reportFile = path.join(dir, 'report.html');
    const report = await ragomics(['report', id, '-o', reportFile], env);
    assert.equal(report.code, 0, report.stderr);
    console.log(`# report of a 3-sample cohort in ${Date.now() - t0} ms`);
    const html = readFileSync(reportFile, 'utf8');
    const samples = /<table id="samples">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
    assert.deepEqual([...samples.matchAll(/<tr class="sample-row" data-sample="([^"]+)"><td>[^<]*<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td>/g)].map((m) => m.slice(1)), [
      ['S1', 'ctrl', 'b1'], ['S2', 'stim', 'b1'], ['S3', 'stim', 'b2'],
    ]);
    assert.match(samples, /title="norm_S2: COMPLETED"/);
    assert.match(samples, /no quality_control node in this sample/, 'sleep nodes: no QC figures, and the row says why');
    const nodes = /<table id="nodes">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
    const order = [...nodes.matchAll(/<tr class="(sample-group|node-row)" data-(?:sample|node)="([^"]*)"/g)].map((m) => (m[1] === 'sample-group' ? `#${m[2]}` : m[2]));
    assert.deepEqual(order, ['#S1', 'qc_S1', 'norm_S1', '#S2', 'qc_S2', 'norm_S2', '#S3', 'qc_S3', 'norm_S3', '#', 'merge', 'cluster']);
    assert.match(html, /id="tree-graph" class="chart" data-nodes="8"/);

    const csvFile = path.join(dir, 'timeline.csv');
    const csv = await ragomics(['timeline', id, '--format', 'csv', '-o', csvFile], env);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = readFileSync(csvFile, 'utf8').split('\r\n').filter(Boolean);
    assert.match(lines[0] ?? '', /,error,sample$/);
    const sampleOf = new Map(lines.slice(1).map((l) => [l.split(',')[0], l.split(',').at(-1)]));
    assert.deepEqual(Object.fromEntries(sampleOf), { qc_S1: 'S1', norm_S1: 'S1', qc_S2: 'S2', norm_S2: 'S2', qc_S3: 'S3', norm_S3: 'S3', merge: '', cluster: '' });

    const json = await ragomics(['timeline', id, '--format', 'json'], env);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as { attempts: Array<{ node: string; sample: string | null }> };
    assert.deepEqual(doc.attempts.map((a) => [a.node, a.sample]).filter(([n]) => n === 'norm_S3' || n === 'merge'), [['norm_S3', 'S3'], ['merge', null]]);

    const page = await ragomics(['timeline', id, '--format', 'html'], env);
    assert.equal(page.code, 0, page.stderr);
    assert.deepEqual([...page.stdout.matchAll(/<tr class="sample-group" data-sample="([^"]*)"/g)].map((m) => m[1]), ['S1', 'S2', 'S3', '']);
    assert.ok(page.stdout.includes('[S2] norm_S2 #1'), 'chart rows labelled with their sample');
  });
});
