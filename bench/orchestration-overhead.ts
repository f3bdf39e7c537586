/**
 * Orchestration overhead, side by side in one run (issue 7, item 1; issue 15, goal 3). The same
 * no-op nodes (`sleep 0` through the whole `runNode` activity with the in-process executor:
 * workspace, publishing with sha256, attempt records) run these ways:
 *  - floor: zero overhead (computed: the sum or the bound of the nodes' own durations);
 *  - pool: the seed's JobPool done right, in this process without Temporal (bench/baseline);
 *  - bare: the least a Temporal workflow can do (bench/workflows/bare.ts: a no-op activity per
 *    node, nothing around it), i.e. the server round trip of this machine's dev server, in its
 *    own worker process (bench/workflows/bare-worker.ts);
 *  - barework: the same bare workflows with the pool's activity per node instead of the no-op
 *    (the real `runNode`), in a bare worker process of its own with a ragomics worker's dispatch
 *    options (eager nodes): the floor of a design that runs one such activity per node through
 *    this server, measured;
 *  - ragomics: the analysis-tree workflow, in a `ragomics worker` process of this checkout;
 *  - local: the same trees with `localActivities: true` (common/schemas.ts), on the same worker
 *    process: each node a local activity (a marker in the history, no activity task);
 *  - with `--baseline DIR`: the same in a `ragomics worker` process of another built checkout
 *    (npx tsc + node scripts/bundle-workflows.js there), e.g. the commit before a change.
 * Shapes: a chain (per-node overhead = a node's start minus its dependency's end, from the
 * nodes' own timestamps), a fan at maxParallelJobs P (nodes per second), and ten sequential
 * 0.5 s sleep nodes end to end (client call to result, against the 5 s floor).
 * Variants alternate round by round (the order reversed every other round); medians are over all
 * rounds. Every run is checked (every node completed, every interval present) before it counts.
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/orchestration-overhead.js [ROUNDS] [CHAIN] [FAN] [P] [--baseline DIR]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../activities';
import { createInprocessExecutor } from '../activities/executors/inprocess';
import { repoRoot } from '../activities/executors/repo-root';
import { RagomicsClient } from '../client';
import { LOCAL_NODE_MAX_TIMEOUT_SECONDS, type NodeResult } from '../common/schemas';
import { sleepNode, TEMPORAL_ADDRESS, uid } from '../test/helpers/harness';
import { median, percentile } from '../test/helpers/timeline-checks';
import { runPool, type PoolJob } from './baseline/job-pool';
import { chainHandoffPhases, PHASES, type HandoffPhases } from './handoff-phases';
import { listeningPid, ownCpuMs, processCpuMs } from './process-cpu';
import { BenchRecord } from './record';

/** Column heads of the handoff phases (bench/handoff-phases.ts). */
const PHASE_LABELS: Record<keyof HandoffPhases, string> = {
  after: 'compute end → activity completed', server: '→ workflow task started', workflow: 'workflow task', dispatch: '→ next activity started', before: '→ next compute start',
};
import { startWorkerProcess, type WorkerProcessHandle } from './worker-process';

type Interval = { start: number; end: number };
type Variant = 'pool' | 'bare' | 'barework' | 'ragomics' | 'local' | 'base';

/** A node of a benchmark shape: id, dependency (null for the root), seconds of sleep. */
interface ShapeNode { id: string; parent: string | null; seconds: number }

const chain = (n: number, seconds: number): ShapeNode[] => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, parent: i ? `c${i - 1}` : null, seconds }));
const fan = (n: number): ShapeNode[] => [{ id: 'root', parent: null, seconds: 0 }, ...Array.from({ length: n - 1 }, (_, i) => ({ id: `f${i}`, parent: 'root', seconds: 0 }))];

/** What one run of a shape gives: node intervals in shape order, the end-to-end time, and the workflow that ran it (none for the pool). */
interface RunFigures { intervals: Interval[]; endToEndMs: number; workflowId?: string }

/** Throws unless `iv` holds one finite interval per node of `shape`, each ending at or after its start. */
function checkIntervals(what: string, shape: ShapeNode[], iv: ReadonlyArray<Interval | undefined>): Interval[] {
  if (iv.length !== shape.length) throw new Error(`${what}: ${iv.length} intervals for ${shape.length} nodes`);
  iv.forEach((x, i) => {
    if (!x || !Number.isFinite(x.start) || !Number.isFinite(x.end) || x.end < x.start) throw new Error(`${what}: node ${shape[i]!.id} has no valid start/end (${JSON.stringify(x)})`);
  });
  return iv as Interval[];
}

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
  return { endToEndMs, intervals: checkIntervals('pool', shape, shape.map((n) => { const r = run.results.get(n.id); return r && { start: Date.parse(r.startedAt), end: Date.parse(r.endedAt) }; })) };
}

/**
 * Runs a chain or a fan through the bare Temporal workflows: with a no-op activity per node, or
 * with `work` the pool's activity per node (`bareChainWork`, `bareFanWork`: the pool's fan shape).
 */
async function runBare(client: Client, taskQueue: string, shape: ShapeNode[], parallel: number, isChain: boolean, work: boolean): Promise<RunFigures> {
  const ms = (shape[0]?.seconds ?? 0) * 1000;
  const t0 = Date.now();
  const workflowId = uid(`bare${work ? '-work' : ''}-${isChain ? 'chain' : 'fan'}`);
  const suffix = work ? 'Work' : '';
  const intervals: Interval[] = isChain
    ? await client.workflow.execute(`bareChain${suffix}`, { taskQueue, workflowId, args: [shape.length, ms] })
    : await client.workflow.execute(`bareFan${suffix}`, { taskQueue, workflowId, args: [shape.length, parallel, ms] });
  // The bare workflows return one interval per completed activity: all of them, or the run failed.
  return { endToEndMs: Date.now() - t0, intervals: checkIntervals('bare', shape, intervals), workflowId };
}

/** Runs a shape as an analysis tree through `client` (whose task queue a ragomics worker process polls). */
async function runTree(client: RagomicsClient, what: string, shape: ShapeNode[], parallel: number, localActivities: boolean): Promise<RunFigures> {
  const t0 = Date.now();
  const tree = await client.startTree({
    // A local tree's nodes may run at most LOCAL_NODE_MAX_TIMEOUT_SECONDS (the spec refuses longer).
    id: uid('bench-tree'), maxParallelJobs: parallel, ...(localActivities ? { localActivities, jobTimeout: LOCAL_NODE_MAX_TIMEOUT_SECONDS } : {}), maxNodes: shape.length, maxChildrenPerNode: Math.max(shape.length, 1), maxDepth: Math.max(shape.length, 1),
    nodes: shape.map((n) => sleepNode(n.id, n.seconds, n.parent ? { parentId: n.parent } : {})),
  });
  const result = await tree.result();
  const endToEndMs = Date.now() - t0;
  if (result.state !== 'COMPLETED' || result.counts.COMPLETED !== shape.length) throw new Error(`${what}: tree ${tree.treeId} ended ${result.state} with ${result.counts.COMPLETED}/${shape.length} nodes completed`);
  const byNode = new Map((await tree.timeline()).map((e) => [e.node, { start: Date.parse(e.started ?? ''), end: Date.parse(e.ended ?? '') }]));
  return { endToEndMs, intervals: checkIntervals(`${what} tree ${tree.treeId}`, shape, shape.map((n) => byNode.get(n.id))), workflowId: tree.treeId };
}

const handoffs = (iv: Interval[]) => iv.slice(1).map((x, i) => x.start - iv[i]!.end);
const span = (iv: Interval[]) => Math.max(...iv.map((x) => x.end)) - Math.min(...iv.map((x) => x.start));
const fmt = (x: number, digits = 1) => x.toFixed(digits);
/** Issue 15, goal 3: ragomics/bare chain handoff at most this, and fan throughput at least this share of the pool. */
const HANDOFF_RATIO_TARGET = 1.1;
const FAN_SHARE_TARGET = 0.4;

/** `[ROUNDS] [CHAIN] [FAN] [P] [--baseline DIR]`; DIR is another built checkout whose worker runs beside this one's. */
function parseArgs(argv: string[]): { rounds: number; chainLength: number; fanSize: number; parallel: number; baseline?: string } {
  const i = argv.indexOf('--baseline');
  const baseline = i >= 0 ? path.resolve(argv[i + 1] ?? '') : undefined;
  const rest = argv.filter((_, j) => i < 0 || (j !== i && j !== i + 1));
  const whole = (at: number, name: string, fallback: number, least: number): number => {
    const v = Number(rest[at] ?? fallback);
    if (!Number.isInteger(v) || v < least) throw new Error(`${name}: a whole number ≥ ${least}, got "${rest[at]}"`);
    return v;
  };
  if (baseline !== undefined) {
    for (const f of ['dist/client/cli.js', 'dist/workflow-bundle.js']) {
      if (!existsSync(path.join(baseline, f))) throw new Error(`--baseline ${baseline}: no ${f} there (run npx tsc -p . && node scripts/bundle-workflows.js in it)`);
    }
  }
  return { rounds: whole(0, 'ROUNDS', 5, 1), chainLength: whole(1, 'CHAIN', 30, 2), fanSize: whole(2, 'FAN', 200, 2), parallel: whole(3, 'P', 10, 1), baseline };
}

/**
 * Starts a bare worker process on `taskQueue` (its `work` activity in `workspace`; `dispatch`:
 * the SDK's dispatch options or a ragomics worker's); resolves once it polls. Killed with this
 * process (SIGKILL on exit).
 */
async function startBareWorker(taskQueue: string, maxConcurrent: number, workspace: string, dispatch: 'sdk' | 'ragomics'): Promise<{ pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'workflows', 'bare-worker.js')], {
    env: { ...process.env, TEMPORAL_ADDRESS, BARE_TASK_QUEUE: taskQueue, BARE_MAX_CONCURRENT: String(maxConcurrent), BARE_WORKSPACE: workspace, BARE_DISPATCH: dispatch },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { log += d.toString(); if (log.includes('worker started')) resolve(); });
    child.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
    void exited.then((code) => reject(new Error(`bare worker exited (code ${code}) before it started:\n${log}`)));
  });
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      process.removeListener('exit', killOnExit);
    },
  };
}

/** This run's result lines, written to .data/bench/orchestration-overhead.json at the end (bench/record.ts). */
const rec = new BenchRecord('orchestration-overhead');

async function main(): Promise<void> {
  const { rounds, chainLength, fanSize, parallel, baseline } = parseArgs(process.argv.slice(2));
  const shapes = { chain: chain(chainLength, 0), fan: fan(fanSize), ten: chain(10, 0.5) };
  const variants: Variant[] = baseline ? ['pool', 'bare', 'barework', 'ragomics', 'local', 'base'] : ['pool', 'bare', 'barework', 'ragomics', 'local'];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ragomics-orchestration-'));
  const slots = Math.max(20, parallel);
  const queues = { bare: uid('bench-bare'), barework: uid('bench-barework'), ragomics: uid('bench-ragomics'), base: uid('bench-base') };
  // Every worker in its own process, started the same way, each with its own workspace.
  const workers: WorkerProcessHandle[] = [
    startWorkerProcess({ address: TEMPORAL_ADDRESS, taskQueue: queues.ragomics, workerId: uid('w-this'), workspace: path.join(dir, 'ws-this'), logDir: dir, maxConcurrentNodes: slots, repoDir: repoRoot() }),
    ...(baseline ? [startWorkerProcess({ address: TEMPORAL_ADDRESS, taskQueue: queues.base, workerId: uid('w-base'), workspace: path.join(dir, 'ws-base'), logDir: dir, maxConcurrentNodes: slots, repoDir: baseline })] : []),
  ];
  const bare = await startBareWorker(queues.bare, slots, path.join(dir, 'ws-bare'), 'sdk');
  const barework = await startBareWorker(queues.barework, slots, path.join(dir, 'ws-barework'), 'ragomics');

  const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
  const client = new Client({ connection });
  const clients = {
    ragomics: await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue: queues.ragomics }),
    base: baseline ? await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue: queues.base }) : undefined,
  };
  const perVariant = () => new Map<Variant, number[]>(variants.map((v) => [v, []]));
  // chainMedian: each round's median handoff, so the per-round spread of the ratios can be printed.
  const figures = { chainHandoffs: perVariant(), chainMedian: perVariant(), chainRate: perVariant(), fanRate: perVariant(), ten: perVariant() };
  // CPU per fan node: the variant's worker process (the pool: this process) and the server's.
  const serverPid = listeningPid(Number(TEMPORAL_ADDRESS.split(':').pop()));
  const fanCpu = new Map<Variant, { worker: number[]; server: number[] }>(variants.map((v) => [v, { worker: [], server: [] }]));
  const workerPid: Partial<Record<Variant, number>> = { bare: bare.pid, barework: barework.pid, ragomics: workers[0]!.pid, local: workers[0]!.pid, ...(baseline ? { base: workers[1]!.pid } : {}) };
  const cpuOf = (v: Variant) => ({
    worker: v === 'pool' ? ownCpuMs() : processCpuMs(workerPid[v]!),
    server: serverPid === null ? null : processCpuMs(serverPid),
  });
  // Local nodes have no activity events to split a handoff by (only their markers).
  const phases = new Map<Variant, HandoffPhases[]>(variants.filter((v) => v !== 'pool' && v !== 'local').map((v) => [v, []]));
  try {
    await Promise.all(workers.map((w) => w.ready));
    for (let round = 0; round <= rounds; round++) {
      // Alternate the order so no variant always runs right after the same one.
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
        const run = (shape: ShapeNode[], isChain: boolean) =>
          v === 'pool' ? runInPool(shape, isChain ? 1 : parallel, path.join(dir, 'ws-pool'))
            : v === 'bare' || v === 'barework' ? runBare(client, queues[v], shape, isChain ? 1 : parallel, isChain, v === 'barework')
              : runTree((v === 'base' ? clients.base : clients.ragomics)!, v, shape, isChain ? 1 : parallel, v === 'local');
        const c = await run(shapes.chain, true);
        const cpu0 = cpuOf(v);
        const f = await run(shapes.fan, false);
        const cpu1 = cpuOf(v);
        const t = await run(shapes.ten, true);
        if (round === 0) continue; // warm-up: JIT, workflow cache, SQLite pages
        const chainHandoffs = handoffs(c.intervals);
        figures.chainHandoffs.get(v)!.push(...chainHandoffs);
        figures.chainMedian.get(v)!.push(median(chainHandoffs));
        if (c.workflowId !== undefined && phases.has(v)) {
          const { events } = await client.workflow.getHandle(c.workflowId).fetchHistory();
          phases.get(v)!.push(...chainHandoffPhases(events ?? [], v === 'bare' ? 'noop' : v === 'barework' ? 'work' : 'runNode', c.intervals));
        }
        figures.chainRate.get(v)!.push((chainLength * 1000) / span(c.intervals));
        figures.fanRate.get(v)!.push((fanSize * 1000) / span(f.intervals));
        fanCpu.get(v)!.worker.push((cpu1.worker - cpu0.worker) / fanSize);
        if (cpu0.server !== null && cpu1.server !== null) fanCpu.get(v)!.server.push((cpu1.server - cpu0.server) / fanSize);
        figures.ten.get(v)!.push(t.endToEndMs);
      }
      if (round > 0) process.stderr.write(`round ${round}/${rounds} done\n`);
    }
  } finally {
    await clients.ragomics.close();
    await clients.base?.close();
    await connection.close();
    await bare.stop();
    await barework.stop();
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.waitExit(60_000).catch(() => w.kill('SIGKILL'))));
  }
  rmSync(dir, { recursive: true, force: true });

  const h = (v: Variant) => figures.chainHandoffs.get(v)!;
  const fanRate = (v: Variant) => median(figures.fanRate.get(v)!);
  rec.log(`\n## Orchestration overhead: ${rounds} rounds (after 1 warm-up), chain of ${chainLength}, fan of ${fanSize} at maxParallelJobs ${parallel}, ten sequential 0.5 s nodes`);
  rec.log('| variant | per-node overhead in a chain: median (p95) | chain nodes/s | fan nodes/s | ten × 0.5 s end to end | vs 5 s floor |');
  rec.log('|---|---|---|---|---|---|');
  rec.log('| floor (zero overhead) | 0 ms | ∞ | ∞ | 5.00 s | 1.00 |');
  const names: Record<Variant, string> = {
    pool: 'in-process pool (no Temporal)', bare: 'bare Temporal workflow (server round trip)',
    barework: 'bare Temporal workflow + the pool\'s activity per node (`runNode`, eager dispatch)', ragomics: 'ragomics analysis tree',
    local: 'ragomics analysis tree, `localActivities: true`',
    base: `ragomics analysis tree, baseline checkout (${baseline ? path.basename(baseline) : ''})`,
  };
  for (const v of variants) {
    const ten = median(figures.ten.get(v)!) / 1000;
    rec.log(`| ${names[v]} | ${fmt(median(h(v)))} ms (${fmt(percentile(h(v), 95))} ms) | ${fmt(median(figures.chainRate.get(v)!))} | ${fmt(fanRate(v))} | ${ten.toFixed(2)} s | ${(ten / 5).toFixed(3)} |`);
  }
  const ours = median(h('ragomics'));
  const bound = 3 * (median(h('pool')) + median(h('bare')));
  const ten = median(figures.ten.get('ragomics')!) / 5000;
  const cpuCell = (xs: number[]) => (xs.length ? `${fmt(median(xs), 2)} ms` : 'not measured');
  rec.log(`\nCPU per fan node (median over the rounds; user + system time of the whole process, all its threads, from /proc; the pool's "worker" is this benchmark process; the server is ${serverPid === null ? 'not found (no process listening on the Temporal port)' : `pid ${serverPid}, the process listening on ${TEMPORAL_ADDRESS}`}):`);
  rec.log('| variant | worker process | Temporal server |');
  rec.log('|---|---|---|');
  for (const v of variants) rec.log(`| ${names[v]} | ${cpuCell(fanCpu.get(v)!.worker)} | ${v === 'pool' ? 'none' : cpuCell(fanCpu.get(v)!.server)} |`);
  // Means, so the phases add up to the mean handoff (a median of a sum is no sum of medians).
  rec.log(`\nwhere a chain handoff goes (mean ms per handoff over every measured chain, from the histories' event times and the nodes' own stamps; bench/handoff-phases.ts; not for \`localActivities\`, whose nodes leave no activity events):`);
  rec.log(`| variant | ${PHASES.map((p) => PHASE_LABELS[p]).join(' | ')} | sum (mean handoff) |`);
  rec.log(`|---|${PHASES.map(() => '---|').join('')}---|`);
  for (const [v, list] of phases) {
    const mean = (k: keyof HandoffPhases) => list.reduce((a, x) => a + x[k], 0) / list.length;
    rec.log(`| ${names[v]} | ${PHASES.map((p) => fmt(mean(p), 2)).join(' | ')} | ${fmt(PHASES.reduce((a, p) => a + mean(p), 0), 2)} |`);
  }
  rec.log(`\ntargets: median overhead ${fmt(ours)} ms ≤ 30 ms: ${ours <= 30 ? 'met' : `missed by ${fmt(ours - 30)} ms`}; ` +
    `≤ 3 × (pool ${fmt(median(h('pool')))} + bare ${fmt(median(h('bare')))}) = ${fmt(bound)} ms: ${ours <= bound ? 'met' : `missed by ${fmt(ours - bound)} ms`}; ` +
    `ten × 0.5 s at ${ten.toFixed(3)} × floor ≤ 1.3: ${ten <= 1.3 ? 'met' : 'missed'}`);
  const ratio = (v: Variant) => median(h(v)) / median(h('bare'));
  const share = (v: Variant) => fanRate(v) / fanRate('pool');
  rec.log(`ratios (same run): ragomics/bare handoff ${ratio('ragomics').toFixed(2)}, ragomics/pool fan throughput ${share('ragomics').toFixed(3)}` +
    (baseline ? `; baseline checkout: ragomics/bare handoff ${ratio('base').toFixed(2)}, ragomics/pool fan throughput ${share('base').toFixed(3)}` : ''));
  rec.log(`targets (issue 15, goal 3): ragomics/bare handoff ${ratio('ragomics').toFixed(2)} ≤ ${HANDOFF_RATIO_TARGET.toFixed(2)}: ${ratio('ragomics') <= HANDOFF_RATIO_TARGET ? 'met' : 'missed'}; ` +
    `fan throughput ${share('ragomics').toFixed(3)} of the pool ≥ ${FAN_SHARE_TARGET.toFixed(2)}: ${share('ragomics') >= FAN_SHARE_TARGET ? 'met' : 'missed'}` +
    (baseline ? ` (baseline checkout: ${ratio('base').toFixed(2)} and ${share('base').toFixed(3)})` : ''));
  // The same ratios round by round (each round's variants ran side by side): a judgment that
  // holds in some rounds and not others is unsettled, and this line says so.
  /** A variant's handoff ratio to bare and fan share of the pool, one of each per round; and in how many rounds each target held. */
  const roundFigures = (v: Variant) => {
    const ratios = figures.chainMedian.get(v)!.map((m, i) => m / figures.chainMedian.get('bare')![i]!);
    const shares = figures.fanRate.get(v)!.map((r, i) => r / figures.fanRate.get('pool')![i]!);
    return {
      ratios, shares,
      ratioHeld: `${ratios.filter((x) => x <= HANDOFF_RATIO_TARGET).length} of ${ratios.length}`,
      shareHeld: `${shares.filter((x) => x >= FAN_SHARE_TARGET).length} of ${shares.length}`,
    };
  };
  const perRound = (v: Variant) => {
    const r = roundFigures(v);
    const range = (xs: number[], d: number) => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;
    return `handoff ratio ${range(r.ratios, 2)} (≤ ${HANDOFF_RATIO_TARGET.toFixed(2)} in ${r.ratioHeld}), ` +
      `fan share ${range(r.shares, 3)} (≥ ${FAN_SHARE_TARGET.toFixed(2)} in ${r.shareHeld})`;
  };
  rec.log(`per round (each round's own medians and rates): ragomics ${perRound('ragomics')}` + (baseline ? `; baseline checkout ${perRound('base')}` : ''));
  // The same targets for trees that opt into local activities (a line of its own, so the
  // default's line above keeps its shape and meaning).
  rec.log(`targets (issue 15, goal 3, localActivities: true): ragomics/bare handoff ${ratio('local').toFixed(2)} ≤ ${HANDOFF_RATIO_TARGET.toFixed(2)}: ${ratio('local') <= HANDOFF_RATIO_TARGET ? 'met' : 'missed'}; ` +
    `fan throughput ${share('local').toFixed(3)} of the pool ≥ ${FAN_SHARE_TARGET.toFixed(2)}: ${share('local') >= FAN_SHARE_TARGET ? 'met' : 'missed'}`);
  rec.log(`per round, localActivities: true (each round's own medians and rates): ragomics ${perRound('local')}`);
  // The floor of any design that runs the pool's work as one activity per node through this
  // server, measured: bare Temporal's workflows with that activity (barework). Its ratios are
  // the targets' own (to bare's handoff, to the pool's fan), round by round too; ragomics's
  // figures over it are what the tree's own workflow code adds.
  const floorRounds = roundFigures('barework');
  rec.log(`floor (issue 15, goal 3, same run, measured): bare Temporal with the pool's activity per node: chain handoff ${fmt(median(h('barework')))} ms, ` +
    `a ratio to bare of ${ratio('barework').toFixed(2)} (≤ ${HANDOFF_RATIO_TARGET.toFixed(2)} in ${floorRounds.ratioHeld} rounds); ` +
    `fan ${fmt(fanRate('barework'))} nodes/s, ${share('barework').toFixed(3)} of the pool (≥ ${FAN_SHARE_TARGET.toFixed(2)} in ${floorRounds.shareHeld} rounds); ` +
    `ragomics over this floor: handoff ${(median(h('ragomics')) / median(h('barework'))).toFixed(2)}, fan throughput ${(fanRate('ragomics') / fanRate('barework')).toFixed(3)}`);
  rec.log(`so in this run the handoff target is ${ratio('barework') <= HANDOFF_RATIO_TARGET ? 'within' : 'beyond'} reach, and the fan target ${share('barework') >= FAN_SHARE_TARGET ? 'within' : 'beyond'} reach, ` +
    'of any design that runs the pool\'s work as one activity per node through this server');
  // The bound any one-activity-per-node design has here: bare Temporal's own share of the pool.
  const bareShare = share('bare');
  const ofBare = (v: Variant) => fanRate(v) / fanRate('bare');
  rec.log(`bound (same run): bare Temporal's own fan throughput is ${bareShare.toFixed(3)} of the pool (one no-op activity per node through this server); ` +
    `no design that runs one activity per node through it can do better, so the ${FAN_SHARE_TARGET.toFixed(2)} target is ${bareShare >= FAN_SHARE_TARGET ? 'within' : 'beyond'} reach of such a design on this machine; ` +
    `ragomics reaches ${ofBare('ragomics').toFixed(3)} of bare's fan throughput` + (baseline ? ` (baseline checkout: ${ofBare('base').toFixed(3)})` : '') +
    `; with \`localActivities: true\`, which runs no activity task per node and so is not held to this bound, ${ofBare('local').toFixed(3)}`);
  rec.save();
}

main().catch((e) => { console.error(e); process.exit(1); });
