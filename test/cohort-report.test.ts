/**
 * Seeing a cohort on the real server (issue 12, item 9), with the inprocess executor: a cohort of
 * three samples (qc → norm per sample, a gather, a node after it; `sleep` blocks) runs to the
 * end, then `ragomics report` and `ragomics timeline` (html, json, csv) are run as a user would
 * and their output checked for the grouping by sample. The inprocess executor runs only `sleep`,
 * so the QC figures themselves (from `quality_control` results) are covered by the unit tests
 * (test/unit/cohort-report.test.ts); here the QC table's rows say there is no QC node.
 * A second test runs 24 samples and opens the report in headless Chromium: the graph as ECharts
 * drew it has every node, no two boxes overlapping, and the gather's inputs joined by one bus.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TreeSpecInput } from '../common/schemas';
import { ragomics } from './helpers/cli';
import { uid, withWorker, type WorkerContext } from './helpers/harness';
import { skipUnlessCI } from './helpers/prereq';

const CHROMIUM = '/usr/bin/chromium';

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

void test('24 samples on the real server: the report\'s graph, as the browser draws it, has no overlapping boxes and one bus into the gather', async (t) => {
  if (!existsSync(CHROMIUM)) {
    skipUnlessCI(t, `${CHROMIUM} missing: the 24-sample report was not opened in a browser (apt-get install chromium; scripts/ensure-test-tools.sh installs it as root)`);
    return;
  }
  await withWorker({}, async ({ client, taskQueue }: WorkerContext) => {
    const id = uid('cohort-24');
    const ids = Array.from({ length: 24 }, (_, i) => `P${String(i + 1).padStart(2, '0')}`);
    const tree = await client.startTree({
      id, maxParallelJobs: 8, maxNodes: 100,
      samples: ids.map((sample, i) => ({ sample, path: sampleFile(sample), condition: i % 2 ? 'stim' : 'ctrl', batch: `b${i % 3}` })),
      forEachSample: [
        { id: 'qc_{sample}', block: sleep },
        { id: 'normalize_{sample}', parentId: 'qc_{sample}', block: sleep },
        { id: 'hvg_{sample}', parentId: 'normalize_{sample}', block: sleep },
      ],
      nodes: [
        { id: 'concatenate', inputs: { gather: 'hvg_{sample}' }, block: sleep },
        { id: 'integrate', parentId: 'concatenate', block: sleep },
        { id: 'leiden', parentId: 'integrate', block: sleep },
        { id: 'umap', parentId: 'integrate', block: sleep },
      ],
    });
    const t0 = Date.now();
    assert.equal((await tree.result()).state, 'COMPLETED');
    console.log(`# 24-sample cohort (76 sleep nodes, inprocess) ran in ${Date.now() - t0} ms`);
    const reportFile = path.join(dir, 'report-24.html');
    const report = await ragomics(['report', id, '-o', reportFile], { RAGOMICS_TASK_QUEUE: taskQueue });
    assert.equal(report.code, 0, report.stderr);
    assert.equal(readFileSync(reportFile, 'utf8').match(/<tr class="sample-row"/g)?.length, 24);

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${reportFile}`);
      // Where ECharts put each item, in pixels (bus points have a space in their name).
      const drawn = await page.evaluate(() => {
        type Data = { count(): number; getName(i: number): string; getItemLayout(i: number): [number, number] };
        const chart = (globalThis as unknown as { ragomicsCharts: Record<string, { getModel(): { getSeriesByIndex(i: number): { getData(): Data } } }> }).ragomicsCharts['tree-graph'];
        const data = chart?.getModel().getSeriesByIndex(0).getData();
        const out: Array<[string, number, number]> = [];
        for (let i = 0; i < (data?.count() ?? 0); i++) out.push([data!.getName(i), ...data!.getItemLayout(i)]);
        return out;
      });
      const boxes = drawn.filter(([name]) => !name.includes(' '));
      assert.equal(boxes.length, 24 * 3 + 4);
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, ax, ay] = boxes[i]!, [b, bx, by] = boxes[j]!;
          assert.ok(Math.abs(ax - bx) >= 150 || Math.abs(ay - by) >= 34, `${a} at (${ax}, ${ay}) overlaps ${b} at (${bx}, ${by})`);
        }
      }
      const pos = new Map(boxes.map(([n, x, y]) => [n, { x, y }]));
      assert.equal(pos.get('concatenate')?.y, ((pos.get('hvg_P01')?.y ?? 0) + (pos.get('hvg_P24')?.y ?? 0)) / 2, 'the gather halfway down the lanes');
      assert.equal(drawn.filter(([name]) => name.startsWith('bus concatenate')).length, 25, 'one bus: a corner per input and a junction');
      const size = await page.locator('#tree-graph').boundingBox();
      console.log(`# 24-sample graph drawn at ${size?.width} × ${size?.height} px`);
      assert.ok(size && size.height < 1400, `graph height ${size?.height}`);
      assert.deepEqual(errors, [], 'no script errors in the page');
    } finally {
      await browser.close();
    }
  });
});
