/**
 * End to end through the real command line: `node bin/ragomics.js` as a child process against
 * the dev server, with a test worker (inprocess executor) on its own task queue. Covers run
 * (--json and live progress), status --json (the contract's shape), add during a run,
 * cancel --node, timeline --format html opened in headless Chromium, and report.
 *
 * No test depends on how long a tree takes: trees that must still be running when a command
 * arrives are kept open (`expansion.idleTimeout`) until the test closes them, or hold a long
 * node that the test cancels.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { uid, withWorker, type WorkerContext } from './helpers/harness';
import { ROOT, ragomics, startRagomics } from './helpers/cli';
import { skipUnlessCI } from './helpers/prereq';

const QUICKSTART = path.join(ROOT, 'examples', 'quickstart-sleep.yaml');
const CHROMIUM = '/usr/bin/chromium';


/** Polls `check` until it returns a value (not undefined), or fails after `ms` (only a bound on a failing test's hang). */
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function assertContractStatus(s: Record<string, unknown>): void {
  assert.equal(typeof s.treeId, 'string');
  assert.ok(['COMPLETED', 'FAILED', 'CANCELLED', 'RUNNING'].includes(s.state as string));
  assert.ok(Array.isArray(s.nodes));
  for (const n of s.nodes as Record<string, unknown>[]) {
    assert.equal(typeof n.id, 'string');
    assert.ok(n.parentId === null || typeof n.parentId === 'string');
    assert.equal(typeof n.state, 'string');
    assert.equal(typeof n.attempts, 'number');
    assert.ok(!Number.isNaN(Date.parse(n.queuedAt as string)), 'queuedAt is ISO-8601');
    for (const k of ['startedAt', 'endedAt']) assert.ok(n[k] === null || !Number.isNaN(Date.parse(n[k] as string)), `${k} is ISO-8601 or null`);
    assert.ok(n.error === null || typeof n.error === 'string');
  }
  const m = s.metrics as Record<string, unknown>;
  for (const k of ['totalProcessed', 'avgWaitTime', 'avgExecutionTime', 'successRate', 'makespan']) assert.equal(typeof m[k], 'number', `metrics.${k}`);
}

void describe('ragomics CLI end to end', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'ragomics-cli-'));
  after(() => rmSync(out, { recursive: true, force: true }));
  /** Written by the first test, opened in Chromium by the second. */
  const pages: { timeline?: string; report?: string; attempts?: number; runAttempts?: number } = {};

  void test('run --json, status --json, timeline (csv, json, svg, html) and report', async () => {
    await withWorker({}, async ({ taskQueue }: WorkerContext) => {
      const env = { RAGOMICS_TASK_QUEUE: taskQueue };
      const id = uid('cli-run');
      const run = await ragomics(['run', QUICKSTART, '--json', '--id', id], env);
      assert.equal(run.code, 0, run.stderr);
      const final = JSON.parse(run.stdout) as Record<string, unknown>;
      assertContractStatus(final);
      assert.equal(final.state, 'COMPLETED');
      assert.equal((final.nodes as unknown[]).length, 6);

      const status = await ragomics(['status', id, '--json'], env);
      assert.equal(status.code, 0, status.stderr);
      const s = JSON.parse(status.stdout) as Record<string, unknown>;
      assertContractStatus(s);
      assert.deepEqual((s.nodes as { state: string }[]).map((n) => n.state), Array(6).fill('COMPLETED'));

      const json = await ragomics(['timeline', id, '--format', 'json', '-o', path.join(out, 't.json')], env);
      assert.equal(json.code, 0, json.stderr);
      const attempts = (JSON.parse(readFileSync(path.join(out, 't.json'), 'utf8')) as { attempts: { node: string; attempt: number; started: string | null }[] }).attempts;
      assert.equal(attempts.length, 6);
      const csv = await ragomics(['timeline', id, '--format', 'csv'], env);
      assert.equal(csv.code, 0, csv.stderr);
      assert.match(csv.stdout.split('\r\n')[0] ?? '', /^node,parent_id,block,attempt,state,queued,ready,started,ended,duration,wait,exit_code,peak_memory_mb/);
      assert.equal(csv.stdout.trim().split('\r\n').length, 7);
      const svg = await ragomics(['timeline', id, '-o', path.join(out, 't.svg')], env);
      assert.equal(svg.code, 0, svg.stderr);
      assert.equal((readFileSync(path.join(out, 't.svg'), 'utf8').match(/<title>node: /g) ?? []).length >= 6, true, 'every bar has a hover title');

      const htmlFile = path.join(out, 'timeline.html');
      const html = await ragomics(['timeline', id, '--format', 'html', '-o', htmlFile], env);
      assert.equal(html.code, 0, html.stderr);
      const reportFile = path.join(out, 'report.html');
      const report = await ragomics(['report', id, '-o', reportFile], env);
      assert.equal(report.code, 0, report.stderr);
      assert.match(readFileSync(reportFile, 'utf8'), /Analysis tree/);

      Object.assign(pages, { timeline: htmlFile, report: reportFile, attempts: attempts.length, runAttempts: attempts.filter((a) => a.attempt > 0).length });
    });
  });

  void test('the timeline and report pages work in headless Chromium', async (t) => {
    if (!existsSync(CHROMIUM)) {
      skipUnlessCI(t, `${CHROMIUM} missing: the HTML pages were not opened in a browser (apt-get install chromium; scripts/ensure-test-tools.sh installs it as root)`);
      return;
    }
    assert.ok(pages.timeline && pages.report, 'the previous test wrote the pages');
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${pages.timeline}`);
      const bars = await page.evaluate(() => {
        const chart = (globalThis as unknown as { ragomicsCharts: Record<string, { getOption(): { series: { name: string; data: unknown[] }[] } }> }).ragomicsCharts['timeline-chart'];
        return chart?.getOption().series.map((x) => [x.name, x.data.length] as [string, number]) ?? [];
      });
      const runBars = bars.filter(([name]) => name !== 'waiting').reduce((a, [, n]) => a + n, 0);
      assert.equal(runBars, pages.runAttempts, `one run bar per node attempt (${JSON.stringify(bars)})`);
      assert.equal(await page.locator('tr.attempt-row').count(), pages.attempts);
      // Hover details: show the tooltip of the first run bar and read it.
      await page.evaluate(() => {
        const chart = (globalThis as unknown as { ragomicsCharts: Record<string, { dispatchAction(a: unknown): void }> }).ragomicsCharts['timeline-chart'];
        chart?.dispatchAction({ type: 'showTip', seriesIndex: 1, dataIndex: 0 });
      });
      // A bound on a hang only: a first paint on a loaded 2-core machine can take seconds.
      const tip = await page.locator('.tip').first().innerText({ timeout: 60_000 });
      for (const field of ['node', 'block', 'attempt', 'state', 'started', 'duration', 'worker']) assert.match(tip, new RegExp(field));

      await page.goto(`file://${pages.report}`);
      const graphNodes = await page.evaluate(() => {
        const chart = (globalThis as unknown as { ragomicsCharts: Record<string, { getOption(): { series: { data: unknown[]; links: unknown[] }[] } }> }).ragomicsCharts['tree-graph'];
        const series = chart?.getOption().series[0];
        return series ? [series.data.length, series.links.length] : [0, 0];
      });
      assert.deepEqual(graphNodes, [6, 6], 'six nodes; five parent edges plus the extra dependency cluster ← qc-report');
      assert.equal(await page.locator('tr.node-row').count(), 6);
      assert.match(await page.locator('#nodes').innerText(), /"seconds":0\.8/, 'parameters are shown');
      assert.deepEqual(errors, [], 'no script errors in the pages');
      await page.close();
    } finally {
      await browser.close();
    }
  });

  void test('run shows live progress; add during the run; the added nodes run too', async () => {
    await withWorker({}, async ({ client, taskQueue }: WorkerContext) => {
      const env = { RAGOMICS_TASK_QUEUE: taskQueue };
      const id = uid('cli-add');
      // The quickstart kept open until the test closes it: `add` always finds it running, however
      // fast its nodes finish (a plain quickstart takes ~3 s and once finished refuses changes).
      const spec = path.join(out, `${id}.json`);
      writeFileSync(spec, JSON.stringify({ ...(parse(readFileSync(QUICKSTART, 'utf8')) as object), expansion: { idleTimeout: 600 } }));
      const running = ragomics(['run', spec, '--id', id], env);
      await until('the tree to start', async () => ((await client.getTree(id).summary()).state === 'RUNNING' ? true : undefined));
      const add = await ragomics(['add', id, path.join(ROOT, 'examples', 'add-nodes.yaml'), '--request-id', `${id}-r1`], env);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /added 2 node\(s\) to .*subcluster, subcluster-markers/);
      const again = await ragomics(['add', id, path.join(ROOT, 'examples', 'add-nodes.yaml'), '--request-id', `${id}-r1`], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /already applied/);
      // Closed: the tree ends once every node (the added ones too) has ended.
      await client.getTree(id).close();
      const run = await running;
      assert.equal(run.code, 0, run.stderr);
      // Not a TTY: one plain line per change, then the summary.
      assert.match(run.stdout, /^started tree /m);
      assert.match(run.stdout, /load (RUNNING|COMPLETED)/, 'polling may see load only once it ended');
      assert.match(run.stdout, /subcluster-markers COMPLETED/);
      assert.match(run.stdout, /COMPLETED: 8\/8 completed/);
    });
  });

  void test('cancel --node stops one node and its dependents; run then exits 1', async () => {
    await withWorker({}, async ({ client, taskQueue }: WorkerContext) => {
      const env = { RAGOMICS_TASK_QUEUE: taskQueue };
      const id = uid('cli-cancel');
      const spec = path.join(out, `${id}.yaml`);
      writeFileSync(spec, [
        'nodes:',
        '  - { id: root, block: { name: sleep, parameters: { seconds: 0.2 } } }',
        '  - { id: long, parentId: root, block: { name: sleep, parameters: { seconds: 60 } } }',
        '  - { id: after-long, parentId: long, block: { name: sleep, parameters: { seconds: 0.1 } } }',
        '  - { id: quick, parentId: root, block: { name: sleep, parameters: { seconds: 0.2 } } }',
      ].join('\n'));
      const running = ragomics(['run', spec, '--json', '--id', id], env);
      await until('node "long" to run', async () => ((await client.getTree(id).status()).nodes.find((n) => n.id === 'long')?.state === 'RUNNING' ? true : undefined));
      const cancel = await ragomics(['cancel', id, '--node', 'long'], env);
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.match(cancel.stdout, /cancelled .*long/);
      const run = await running;
      assert.equal(run.code, 1, 'a cancelled node makes the tree end with exit code 1');
      const final = JSON.parse(run.stdout) as { nodes: { id: string; state: string }[] };
      const states = Object.fromEntries(final.nodes.map((n) => [n.id, n.state]));
      assert.deepEqual(states, { root: 'COMPLETED', long: 'CANCELLED', 'after-long': 'CANCELLED', quick: 'COMPLETED' });
      const status = await ragomics(['status', id], env);
      assert.equal(status.code, 1);
      assert.match(status.stdout, /long\s+sleep\s+CANCELLED/);
    });
  });

  void test('run --detach, pause, parallelism, resume, watch --json and list', async () => {
    await withWorker({}, async ({ client, taskQueue }: WorkerContext) => {
      const env = { RAGOMICS_TASK_QUEUE: taskQueue };
      const id = uid('cli-steer');
      const spec = path.join(out, `${id}.json`);
      // Kept open until the test closes it, so every command finds it running (a 2-second tree
      // could end before a slow `pause` arrives).
      writeFileSync(spec, JSON.stringify({
        maxParallelJobs: 1,
        expansion: { idleTimeout: 600 },
        nodes: [{ id: 'root', block: { name: 'sleep', parameters: { seconds: 0.3 } } },
          ...['a', 'b', 'c'].map((x) => ({ id: x, parentId: 'root', block: { name: 'sleep', parameters: { seconds: 0.5 } } }))],
      }));
      const detach = await ragomics(['run', spec, '--id', id, '--detach'], env);
      assert.equal(detach.code, 0, detach.stderr);
      assert.equal(detach.stdout.trim(), id);
      const pause = await ragomics(['pause', id], env);
      assert.equal(pause.code, 0, pause.stderr);
      // `pause` is a signal: it is applied with the workflow's next task.
      await until('the tree to be paused', async () => ((await client.getTree(id).status()).paused ? true : undefined));
      const par = await ragomics(['parallelism', id, '3'], env);
      assert.equal(par.code, 0, par.stderr);
      assert.match(par.stdout, /maxParallelJobs 1 → 3/);
      const resume = await ragomics(['resume', id], env);
      assert.equal(resume.code, 0, resume.stderr);
      const watching = ragomics(['watch', id, '--json'], env);
      await client.getTree(id).close();
      const watch = await watching;
      assert.equal(watch.code, 0, watch.stderr);
      const final = JSON.parse(watch.stdout) as { state: string; maxParallelJobs: number; paused: boolean };
      assert.deepEqual([final.state, final.maxParallelJobs, final.paused], ['COMPLETED', 3, false]);
      // Visibility is eventually consistent: poll until the list shows the tree.
      const listed = await until('the tree in `list`', async () => {
        const r = await ragomics(['list', '--json', '--query', `RagomicsTreeId = "${id}"`], env);
        const trees = JSON.parse(r.stdout) as { treeId: string; status: string }[];
        return trees.length === 1 && trees[0]?.status === 'COMPLETED' ? trees : undefined;
      });
      assert.equal(listed[0]?.treeId, id);
    });
  });

  void test('run waits for a worker; status without one exits 3 at once', { timeout: 120_000 }, async () => {
    const taskQueue = uid('tq-late');
    const env = { RAGOMICS_TASK_QUEUE: taskQueue };
    const id = uid('cli-late');
    let stderr = '';
    const running = startRagomics(['run', QUICKSTART, '--id', id, '--json'], env);
    // Until `run` has started the tree, status says it does not exist (2); then, no worker (3).
    const status = await until('the tree to exist', async () => {
      const r = await ragomics(['status', id], env);
      return r.code === 2 ? undefined : r;
    });
    assert.equal(status.code, 3, status.stderr);
    assert.match(status.stderr, new RegExp(`no worker is polling task queue "${taskQueue}".*ragomics worker --task-queue ${taskQueue}`));
    // `run` tells the user it waits (it looks for a poller every 2 s); only then comes the worker.
    await until('`run` to say it waits for a worker', async () => (/waiting for a worker on task queue/.test(running.stderr()) ? true : undefined));
    await withWorker({ taskQueue }, async () => {
      const run = await running.done;
      stderr = run.stderr;
      assert.equal(run.code, 0, run.stderr);
      assert.equal((JSON.parse(run.stdout) as { state: string }).state, 'COMPLETED');
    });
    assert.match(stderr, /waiting for a worker on task queue/);
  });
});
