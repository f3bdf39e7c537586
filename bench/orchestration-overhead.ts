/**
 * Orchestration overhead, side by side in one run (issue 7, item 1). The same no-op nodes
 * (`sleep 0` through the whole `runNode` activity with the in-process executor: workspace,
 * publishing with sha256, attempt records) run four ways:
 *  - floor: zero overhead (computed: the sum or the bound of the nodes' own durations);
 *  - pool: the seed's JobPool done right, in one process without Temporal (bench/baseline);
 *  - bare: the least a Temporal workflow can do (bench/workflows/bare.ts: a no-op activity per
 *    node, nothing around it), i.e. the server round trip of this machine's dev server;
 *  - ragomics: the analysis-tree workflow.
 * Shapes: a chain (per-node overhead = a node's start minus its dependency's end, from the
 * nodes' own timestamps), a fan at maxParallelJobs P (nodes per second), and ten sequential
 * 0.5 s sleep nodes end to end (client call to result, against the 5 s floor).
 * Variants alternate round by round; medians are over all rounds.
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/orchestration-overhead.js [ROUNDS] [CHAIN] [FAN] [P]
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createInprocessExecutor } from '../activities/executors/inprocess';
import type { NodeResult } from '../common/schemas';
import { sleepNode, TEMPORAL_ADDRESS, uid, withWorker, type WorkerContext } from '../test/helpers/harness';
import { median, percentile } from '../test/helpers/timeline-checks';
import { runPool, type PoolJob } from './baseline/job-pool';
import type { BareActivities } from './workflows/bare';
import { BenchRecord } from './record';

type Interval = { start: number; end: number };
type Variant = 'pool' | 'bare' | 'ragomics';
const VARIANTS: Variant[] = ['pool', 'bare', 'ragomics'];

/** A node of a benchmark shape: id, dependency (null for the root), seconds of sleep. */
interface ShapeNode { id: string; parent: string | null; seconds: number }

const chain = (n: number, seconds: number): ShapeNode[] => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, parent: i ? `c${i - 1}` : null, seconds }));
const fan = (n: number): ShapeNode[] => [{ id: 'root', parent: null, seconds: 0 }, ...Array.from({ length: n - 1 }, (_, i) => ({ id: `f${i}`, parent: 'root', seconds: 0 }))];

/** What one run of a shape gives: node intervals in shape order and the end-to-end time. */
interface RunFigures { intervals: Interval[]; endToEndMs: number }

/** Runs a shape through the in-process pool, each node being the real `runNode` activity. */
async function runInPool(shape: ShapeNode[], parallel: number, workspace: string): Promise<RunFigures> {
  const activities = createActivities({ executor: createInprocessExecutor(), workspaceRoot: workspace, workerId: 'pool' });
  const treeId = uid('pool');
  const jobs: PoolJob<NodeResult>[] = shape.map((n) => ({
    id: n.id,
    dependencies: n.parent ? [n.parent] : [],
    run: (results) => new MockActivityEnvironment().run(activities.runNode, {
      treeId, runKey: 'pool', nodeId: n.id, attempt: 1, timeoutSeconds: 60,
      block: sleepNode(n.id, n.seconds).block, inputPath: n.parent ? results.get(n.parent)!.outputPath : null,
    }),
  }));
  const t0 = Date.now();
  const run = await runPool(jobs, { maxParallelJobs: parallel });
  const endToEndMs = Date.now() - t0;
  const failed = [...run.states].filter(([, s]) => s !== 'COMPLETED');
  if (failed.length) throw new Error(`pool: ${failed.length} node(s) did not complete`);
  return { endToEndMs, intervals: shape.map((n) => { const r = run.results.get(n.id)!; return { start: Date.parse(r.startedAt), end: Date.parse(r.endedAt) }; }) };
}

/** Runs a chain or a fan through the bare Temporal workflows. */
async function runBare(client: Client, taskQueue: string, shape: ShapeNode[], parallel: number, isChain: boolean): Promise<RunFigures> {
  const ms = (shape[0]?.seconds ?? 0) * 1000;
  const t0 = Date.now();
  const intervals = isChain
    ? await client.workflow.execute('bareChain', { taskQueue, workflowId: uid('bare-chain'), args: [shape.length, ms] })
    : await client.workflow.execute('bareFan', { taskQueue, workflowId: uid('bare-fan'), args: [shape.length, parallel, ms] });
  return { endToEndMs: Date.now() - t0, intervals: intervals as Interval[] };
}

/** Runs a shape as an analysis tree. */
async function runTree(ctx: WorkerContext, shape: ShapeNode[], parallel: number): Promise<RunFigures> {
  const t0 = Date.now();
  const tree = await ctx.client.startTree({
    id: uid('bench-tree'), maxParallelJobs: parallel, maxNodes: shape.length, maxChildrenPerNode: Math.max(shape.length, 1), maxDepth: Math.max(shape.length, 1),
    nodes: shape.map((n) => sleepNode(n.id, n.seconds, n.parent ? { parentId: n.parent } : {})),
  });
  const result = await tree.result();
  const endToEndMs = Date.now() - t0;
  if (result.state !== 'COMPLETED') throw new Error(`tree ${tree.treeId} ended ${result.state}`);
  const byNode = new Map((await tree.timeline()).map((e) => [e.node, { start: Date.parse(e.started!), end: Date.parse(e.ended!) }]));
  return { endToEndMs, intervals: shape.map((n) => byNode.get(n.id)!) };
}

const handoffs = (iv: Interval[]) => iv.slice(1).map((x, i) => x.start - iv[i]!.end);
const span = (iv: Interval[]) => Math.max(...iv.map((x) => x.end)) - Math.min(...iv.map((x) => x.start));
const fmt = (x: number, digits = 1) => x.toFixed(digits);

/** This run's result lines, written to .data/bench/orchestration-overhead.json at the end (bench/record.ts). */
const rec = new BenchRecord('orchestration-overhead');

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const chainLength = Number(process.argv[3] ?? 30);
  const fanSize = Number(process.argv[4] ?? 200);
  const parallel = Number(process.argv[5] ?? 10);
  const shapes = { chain: chain(chainLength, 0), fan: fan(fanSize), ten: chain(10, 0.5) };

  await withWorker({ maxConcurrentNodes: Math.max(20, parallel) }, async (ctx) => {
    const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
    const client = new Client({ connection });
    const bareQueue = `${ctx.taskQueue}-bare`;
    const noop: BareActivities['noop'] = async (ms) => {
      const start = Date.now();
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      return { start, end: Date.now() };
    };
    const bareWorker = await Worker.create({
      connection: ctx.rw.connection, taskQueue: bareQueue, workflowsPath: require.resolve('./workflows/bare'), activities: { noop },
      maxConcurrentActivityTaskExecutions: Math.max(20, parallel),
    });
    const figures = {
      chainHandoffs: new Map<Variant, number[]>(VARIANTS.map((v) => [v, []])),
      chainRate: new Map<Variant, number[]>(VARIANTS.map((v) => [v, []])),
      fanRate: new Map<Variant, number[]>(VARIANTS.map((v) => [v, []])),
      ten: new Map<Variant, number[]>(VARIANTS.map((v) => [v, []])),
    };
    try {
      await bareWorker.runUntil(async () => {
        for (let round = 0; round <= rounds; round++) {
          for (const v of VARIANTS) {
            const run = (shape: ShapeNode[], isChain: boolean) =>
              v === 'pool' ? runInPool(shape, isChain ? 1 : parallel, ctx.workspace)
                : v === 'bare' ? runBare(client, bareQueue, shape, isChain ? 1 : parallel, isChain)
                  : runTree(ctx, shape, isChain ? 1 : parallel);
            const c = await run(shapes.chain, true);
            const f = await run(shapes.fan, false);
            const t = await run(shapes.ten, true);
            if (round === 0) continue; // warm-up: JIT, workflow cache, SQLite pages
            figures.chainHandoffs.get(v)!.push(...handoffs(c.intervals));
            figures.chainRate.get(v)!.push((chainLength * 1000) / span(c.intervals));
            figures.fanRate.get(v)!.push((fanSize * 1000) / span(f.intervals));
            figures.ten.get(v)!.push(t.endToEndMs);
          }
          if (round > 0) process.stderr.write(`round ${round}/${rounds} done\n`);
        }
      });
    } finally {
      await connection.close();
    }

    const h = (v: Variant) => figures.chainHandoffs.get(v)!;
    rec.log(`\n## Orchestration overhead: ${rounds} rounds (after 1 warm-up), chain of ${chainLength}, fan of ${fanSize} at maxParallelJobs ${parallel}, ten sequential 0.5 s nodes`);
    rec.log('| variant | per-node overhead in a chain: median (p95) | chain nodes/s | fan nodes/s | ten × 0.5 s end to end | vs 5 s floor |');
    rec.log('|---|---|---|---|---|---|');
    rec.log('| floor (zero overhead) | 0 ms | ∞ | ∞ | 5.00 s | 1.00 |');
    const names: Record<Variant, string> = { pool: 'in-process pool (no Temporal)', bare: 'bare Temporal workflow (server round trip)', ragomics: 'ragomics analysis tree' };
    for (const v of VARIANTS) {
      const ten = median(figures.ten.get(v)!) / 1000;
      rec.log(`| ${names[v]} | ${fmt(median(h(v)))} ms (${fmt(percentile(h(v), 95))} ms) | ${fmt(median(figures.chainRate.get(v)!))} | ${fmt(median(figures.fanRate.get(v)!))} | ${ten.toFixed(2)} s | ${(ten / 5).toFixed(3)} |`);
    }
    const ours = median(h('ragomics'));
    const bound = 3 * (median(h('pool')) + median(h('bare')));
    const ten = median(figures.ten.get('ragomics')!) / 5000;
    rec.log(`\ntargets: median overhead ${fmt(ours)} ms ≤ 30 ms: ${ours <= 30 ? 'met' : `missed by ${fmt(ours - 30)} ms`}; ` +
      `≤ 3 × (pool ${fmt(median(h('pool')))} + bare ${fmt(median(h('bare')))}) = ${fmt(bound)} ms: ${ours <= bound ? 'met' : `missed by ${fmt(ours - bound)} ms`}; ` +
      `ten × 0.5 s at ${ten.toFixed(3)} × floor ≤ 1.3: ${ten <= 1.3 ? 'met' : 'missed'}`);
    rec.log(`ratios (same run): ragomics/bare handoff ${(ours / median(h('bare'))).toFixed(2)}, ragomics/pool fan throughput ${(median(figures.fanRate.get('ragomics')!) / median(figures.fanRate.get('pool')!)).toFixed(3)}`);
  });
  rec.save();
}

main().catch((e) => { console.error(e); process.exit(1); });
