/**
 * What the local executor's warm mode (the fork server, activities/executors/fork-server.ts)
 * buys (issue 15, goal 1: a node costs what its science costs). Two in-process workers with the LOCAL executor and the real runner (the blocks venv)
 * on their own task queues, through the real workflow: `cold` (warmPool 0: every node starts
 * Python and imports anndata/scanpy itself, the path before the pool), `warm` (warmPool > 0:
 * one fork server, a forked child per node) and `warm-before` (the same fork server with
 * RAGOMICS_FORK_SPEEDUPS=0: no spare child, exits reported after waitpid, thread limits scanned and
 * blocks imported in each child; the server of commit 0190ad1, see forkserver.py), rounds
 * interleaved (the order rotates):
 *   (a) a chain of ten `sleep 0.5` nodes, end to end (startTree to result()), against the 5.0 s
 *       floor; target ≤ 1.2 × the floor; its time over the floor split into head, in-node,
 *       handoff and tail parts by the tree's node timestamps (overFloor);
 *   (b) the per-node cost of a `sleep 0` node: one-node trees, each started once the fork server
 *       is ready, cost = the executor's run() call from its start to its return (the attempt's
 *       whole life in the executor: links, process start or hand-over, imports left, the block,
 *       exit, logs closed); also the node's start→end from the tree's timestamps; target ≤ 300 ms;
 *   (c) a fan of N no-op nodes (a root and N-1 children, `sleep 0`) at 10 slots
 *       (maxParallelJobs 10, 10 worker slots): N / makespan, nodes per second.
 * (b) also splits out the runner's own part (result.json timings). `--no-before` leaves `warm-before` out. "Ready" means the server
 * finished its warm-up (printed its ready line). Before any round each worker runs one warm-up node (not counted). The bench checks itself
 * before it records: every tree COMPLETED with every node, every `cold` attempt ran cold, every
 * (b) `warm` attempt ran warm (phases.warm) and each (a)/(c) warm variant had warm attempts.
 *   npx tsc -p . && TEMPORAL_ADDRESS=127.0.0.1:7233 RAGOMICS_PYTHON=.tools/blocks-venv/bin/python \
 *     node dist/bench/warm-chain.js [ROUNDS] [--pool P] [--fan N] [--fan-rounds R]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveLocalPython } from '../activities/executors/local';
import type { LocalExecutor } from '../activities/executors/local';
import { RagomicsClient } from '../client/sdk';
import { TEMPORAL_ADDRESS, uid } from '../test/helpers/harness';
import { median } from '../test/helpers/timeline-checks';
import { loadWorkerConfig } from '../workers/config';
import { createRagomicsWorker, type RagomicsWorker } from '../workers/create-worker';
import { BenchRecord } from './record';

const CHAIN = 10;
const CHAIN_SLEEP = 0.5;
const FLOOR_S = CHAIN * CHAIN_SLEEP;
const SLOTS = 10;

interface Attempt {
  treeId: string;
  nodeId: string;
  warm: boolean;
  runMs: number;
  /** The runner's own part (result.json timings): from the job line's arrival (warm) or the process's start (cold) to the output written. */
  runnerMs: number | null;
}

interface Variant {
  name: 'cold' | 'warm-before' | 'warm';
  pool: number;
  rw: RagomicsWorker;
  exec: LocalExecutor;
  client: RagomicsClient;
  workspace: string;
  attempts: Attempt[];
}

function parseArgs(argv: string[]): { rounds: number; pool: number; fan: number; fanRounds: number; before: boolean } {
  const flag = (name: string, d: number): number => {
    const i = argv.indexOf(name);
    if (i < 0) return d;
    const n = Number(argv[i + 1]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: a whole number ≥ 1, got "${argv[i + 1]}"`);
    return n;
  };
  const positional = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
  const rounds = Number(positional[0] ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`ROUNDS: a whole number ≥ 1, got "${positional[0]}"`);
  return { rounds, pool: flag('--pool', 4), fan: flag('--fan', 200), fanRounds: flag('--fan-rounds', 1), before: !argv.includes('--no-before') };
}

async function startVariant(name: Variant['name'], pool: number, python: string): Promise<Variant> {
  const workspace = mkdtempSync(path.join(tmpdir(), `ragomics-warm-${name}-`));
  const taskQueue = uid(`warm-bench-${name}`);
  // The executor hands its environment to the fork server when it is created (here, at once).
  const saved = process.env.RAGOMICS_FORK_SPEEDUPS;
  if (name === 'warm-before') process.env.RAGOMICS_FORK_SPEEDUPS = '0';
  let rw: RagomicsWorker;
  try {
    rw = await createRagomicsWorker(loadWorkerConfig({
      address: TEMPORAL_ADDRESS, taskQueue, workspace, executor: 'local', python, warmPool: pool, maxConcurrentNodes: SLOTS, logLevel: 'ERROR', workerId: uid(name),
    }));
  } finally {
    if (saved === undefined) delete process.env.RAGOMICS_FORK_SPEEDUPS;
    else process.env.RAGOMICS_FORK_SPEEDUPS = saved;
  }
  const exec = rw.executor as LocalExecutor;
  const attempts: Attempt[] = [];
  const run = exec.run.bind(exec);
  exec.run = async (job, ctl) => {
    const t0 = performance.now();
    const outcome = await run(job, ctl);
    const runMs = performance.now() - t0;
    let runnerMs: number | null = null;
    try {
      const t = (JSON.parse(await readFile(path.join(job.paths.outputDir, 'result.json'), 'utf8')) as { timings: Record<string, number | null> }).timings;
      const from = t.jobReceivedAt ?? t.processStart;
      runnerMs = from != null && t.outputWritten != null ? t.outputWritten - from : null;
    } catch {
      // no result.json (a failed attempt): the tree's check reports it
    }
    attempts.push({ treeId: job.treeId, nodeId: job.nodeId, warm: outcome.phases?.warm === true, runMs, runnerMs });
    return outcome;
  };
  const client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
  return { name, pool, rw, exec, client, workspace, attempts };
}

/** Waits until the fork server finished its warm-up (the cold variant: at once). */
async function poolFull(v: Variant): Promise<void> {
  const end = Date.now() + 120_000;
  while (!(v.exec.forkServerStats()?.ready ?? true)) {
    if (Date.now() > end) throw new Error(`${v.name}: the fork server was not ready in 120 s: ${JSON.stringify(v.exec.forkServerStats())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleepNode = (id: string, seconds: number, parentId?: string) => ({ id, block: { name: 'sleep' as const, parameters: { seconds } }, ...(parentId ? { parentId } : {}) });

/** Runs a tree; checks it COMPLETED with `n` nodes; returns its id and end-to-end seconds. */
async function runTree(v: Variant, spec: Parameters<RagomicsClient['startTree']>[0], n: number): Promise<{ treeId: string; e2e: number; makespan: number; calledAt: number; returnedAt: number; nodes: { start: number; end: number }[] }> {
  const calledAt = Date.now();
  const t0 = performance.now();
  const tree = await v.client.startTree(spec);
  const r = await tree.result();
  const e2e = (performance.now() - t0) / 1000;
  const returnedAt = calledAt + e2e * 1000;
  if (r.state !== 'COMPLETED' || !r.allSucceeded) throw new Error(`${v.name}: tree ${spec.id} ended ${r.state}: ${JSON.stringify(r.failures).slice(0, 500)}`);
  const st = await tree.status({ nodeWaits: false });
  const done = st.nodes.filter((x) => x.state === 'COMPLETED');
  if (done.length !== n) throw new Error(`${v.name}: tree ${spec.id}: ${done.length} of ${n} nodes COMPLETED`);
  return { treeId: spec.id!, e2e, makespan: r.metrics.makespan, calledAt, returnedAt, nodes: done.map((x) => ({ start: Date.parse(x.startedAt!), end: Date.parse(x.endedAt!) })) };
}

/** Where one chain's time over its floor went, ms (see {@link overFloor}). */
interface ChainSplit {
  head: number;
  inNodes: number;
  gaps: number;
  tail: number;
}

/**
 * Splits a chain's end-to-end time over its floor by the tree's own node timestamps (the
 * executor's run() call, start to return, ms precision): `head` from the startTree call to the
 * first node's start, `inNodes` each node's span beyond its sleep (the runtime's own cost: hand-over,
 * the block's read, write and figure, the exit), `gaps` from one node's end to the next one's start
 * (the activity's file work, the server round trip, the workflow task, the next attempt's
 * preparation), `tail` from the last node's end to result() returning. They add up to the
 * end-to-end time minus the floor.
 */
function overFloor(chain: { calledAt: number; returnedAt: number; nodes: { start: number; end: number }[] }): ChainSplit {
  const nodes = [...chain.nodes].sort((a, b) => a.start - b.start);
  let inNodes = 0;
  let gaps = 0;
  nodes.forEach((x, i) => {
    inNodes += x.end - x.start - CHAIN_SLEEP * 1000;
    if (i > 0) gaps += x.start - nodes[i - 1]!.end;
  });
  return { head: nodes[0]!.start - chain.calledAt, inNodes, gaps, tail: chain.returnedAt - nodes.at(-1)!.end };
}

const chainSpec = () => ({ id: uid('warm-chain'), maxNodes: CHAIN, maxDepth: CHAIN, nodes: Array.from({ length: CHAIN }, (_, i) => sleepNode(`c${i}`, CHAIN_SLEEP, i ? `c${i - 1}` : undefined)) });
const fanSpec = (n: number) => ({ id: uid('warm-fan'), maxParallelJobs: SLOTS, maxNodes: n, maxChildrenPerNode: n, nodes: [sleepNode('root', 0), ...Array.from({ length: n - 1 }, (_, i) => sleepNode(`f${i}`, 0, 'root'))] });

const attemptsOf = (v: Variant, treeId: string): Attempt[] => v.attempts.filter((a) => a.treeId === treeId);

async function main(): Promise<void> {
  const { rounds, pool, fan, fanRounds, before } = parseArgs(process.argv.slice(2));
  const python = resolveLocalPython();
  const rec = new BenchRecord('warm-chain');
  const variants = [await startVariant('cold', 0, python), ...(before ? [await startVariant('warm-before', pool, python)] : []), await startVariant('warm', pool, python)];
  /** Round r's order: rotated by r, so no variant always runs first (right after another's chain). */
  const order = (r: number) => variants.map((_, i) => variants[(i + r) % variants.length]!);
  const fig = new Map(variants.map((v) => [v.name, { chain: [] as number[], chainWarm: [] as number[], chainSplit: [] as ChainSplit[], nodeRun: [] as number[], nodeRunner: [] as number[], nodeSpan: [] as number[], fan: [] as number[], fanWarm: [] as number[] }]));
  const problems: string[] = [];
  try {
    await Promise.all(variants.map((v) => v.rw.worker.run()).concat([(async () => {
      try {
        for (const v of variants) {
          await poolFull(v);
          await runTree(v, { id: uid('warm-up'), nodes: [sleepNode('w', 0)] }, 1);
        }
        for (let r = 0; r < rounds; r++) {
          for (const v of order(r)) {
            const f = fig.get(v.name)!;
            await poolFull(v);
            const chain = await runTree(v, chainSpec(), CHAIN);
            f.chain.push(chain.e2e);
            f.chainSplit.push(overFloor(chain));
            f.chainWarm.push(attemptsOf(v, chain.treeId).filter((a) => a.warm).length);
            for (let k = 0; k < 2; k++) {
              await poolFull(v);
              const one = await runTree(v, { id: uid('warm-one'), nodes: [sleepNode('one', 0)] }, 1);
              const [a] = attemptsOf(v, one.treeId);
              if (!a) throw new Error(`${v.name}: no attempt recorded for ${one.treeId}`);
              if (v.name !== 'cold' && !a.warm) problems.push(`(b) ${one.treeId} ran cold although the fork server was ready`);
              f.nodeRun.push(a.runMs);
              if (a.runnerMs !== null) f.nodeRunner.push(a.runnerMs);
              f.nodeSpan.push(one.nodes[0]!.end - one.nodes[0]!.start);
            }
          }
          process.stderr.write(`round ${r + 1}/${rounds}: chain ${variants.map((v) => `${v.name} ${fig.get(v.name)!.chain.at(-1)!.toFixed(2)} s`).join(', ')}\n`);
        }
        for (let r = 0; r < fanRounds; r++) {
          for (const v of order(r)) {
            await poolFull(v);
            const t = await runTree(v, fanSpec(fan), fan);
            fig.get(v.name)!.fan.push(fan / t.makespan);
            fig.get(v.name)!.fanWarm.push(attemptsOf(v, t.treeId).filter((a) => a.warm).length);
            process.stderr.write(`fan ${v.name}: ${(fan / t.makespan).toFixed(2)} nodes/s\n`);
          }
        }
      } finally {
        for (const v of variants) v.rw.worker.shutdown();
      }
    })()]));
  } finally {
    for (const v of variants) {
      await v.rw.executor.close?.();
      await v.client.close();
      await v.rw.connection.close();
      rmSync(v.workspace, { recursive: true, force: true });
    }
  }
  const cold = fig.get('cold')!;
  const warm = fig.get('warm')!;
  const prior = fig.get('warm-before');
  // Self-checks before anything is recorded.
  const coldWarm = variants[0]!.attempts.filter((a) => a.warm).length;
  if (coldWarm > 0) problems.push(`${coldWarm} attempt(s) of the cold worker ran warm`);
  for (const [name, f] of [['warm', warm], ['warm-before', prior]] as const) {
    if (!f) continue;
    if (f.chainWarm.some((n) => n === 0)) problems.push(`a ${name} chain had no warm attempt: ${f.chainWarm.join(', ')}`);
    if (f.fanWarm.some((n) => n === 0)) problems.push(`the ${name} fan had no warm attempt: ${f.fanWarm.join(', ')}`);
  }
  if (problems.length) {
    console.error(`warm-chain: not recorded:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  const s = (x: number) => `${x.toFixed(2)} s`;
  const ms = (x: number) => `${Math.round(x)} ms`;
  const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
  /** One row: cold | (warm-before) | warm | warm / cold | (warm / warm-before) | target. */
  const row = (label: string, pick: (f: typeof warm) => string, nums: ((f: typeof warm) => number[]) | null, target: string) =>
    `| ${label} | ${pick(cold)} | ${prior ? `${pick(prior)} | ` : ''}${pick(warm)} | ${nums ? ratio(nums(warm), nums(cold)) : ''} | ${prior ? `${nums ? ratio(nums(warm), nums(prior)) : ''} | ` : ''}${target} |`;
  const mw = median(warm.chain);
  rec.log(`Local executor, real runner (blocks venv), through the workflow; ${variants.length} workers in one process (10 slots each): \`cold\` (warmPool 0, every node starts its own Python)${prior ? ', `warm-before` (the fork server with `RAGOMICS_FORK_SPEEDUPS=0`: a child forked after its job line, its exit reported after waitpid, thread limits scanned and its block imported in the child)' : ''} and \`warm\` (fork server: one warmed-up Python, a spare child forked ahead per node, exits reported before the kernel’s teardown); ${rounds} rounds interleaved, medians.`);
  rec.log(`| figure | cold (warmPool 0) | ${prior ? 'warm-before | ' : ''}warm | warm / cold | ${prior ? 'warm / warm-before | ' : ''}target |\n|---|---|---|---|---|${prior ? '---|---|' : ''}`);
  rec.log(row(`(a) chain of ${CHAIN} \`sleep ${CHAIN_SLEEP}\` nodes, startTree to result() (floor ${FLOOR_S.toFixed(1)} s)`, (f) => `${s(median(f.chain))} (${(median(f.chain) / FLOOR_S).toFixed(2)} × floor)`, (f) => f.chain, `≤ 1.2 × floor: ${mw <= 1.2 * FLOOR_S ? 'met' : 'missed'}`));
  rec.log(row('(a) each round\'s chain, in order', (f) => f.chain.map((x) => x.toFixed(2)).join(', ') + ' s', null, `≤ ${(1.2 * FLOOR_S).toFixed(2)} s in ${warm.chain.filter((x) => x <= 1.2 * FLOOR_S).length} of ${warm.chain.length} rounds (warm)`));
  rec.log(row('(a) attempts that ran warm, per chain', (f) => `${f.chainWarm.join(', ')} of ${CHAIN}`, null, ''));
  const split = (f: typeof warm, part: keyof ChainSplit, per: number) => {
    const total = median(f.chainSplit.map((c) => c[part]));
    return per > 1 ? `${ms(total)} (${ms(total / per)} a ${part === 'gaps' ? 'handoff' : 'node'})` : ms(total);
  };
  rec.log(row('(a) over the floor: startTree call → first node start', (f) => split(f, 'head', 1), (f) => f.chainSplit.map((c) => c.head), ''));
  rec.log(row(`(a) over the floor: in the nodes (span − ${CHAIN_SLEEP} s, ${CHAIN} nodes)`, (f) => split(f, 'inNodes', CHAIN), (f) => f.chainSplit.map((c) => c.inNodes), ''));
  rec.log(row(`(a) over the floor: node end → next node start (${CHAIN - 1} handoffs)`, (f) => split(f, 'gaps', CHAIN - 1), (f) => f.chainSplit.map((c) => c.gaps), ''));
  rec.log(row('(a) over the floor: last node end → result() returned', (f) => split(f, 'tail', 1), (f) => f.chainSplit.map((c) => c.tail), ''));
  rec.log(row('(b) `sleep 0` node: executor run() call, start to return', (f) => ms(median(f.nodeRun)), (f) => f.nodeRun, `≤ 300 ms: ${median(warm.nodeRun) <= 300 ? 'met' : 'missed'}`));
  rec.log(row('(b) of which the runner: job line received (warm) or process start (cold) to output written', (f) => ms(median(f.nodeRunner)), (f) => f.nodeRunner, ''));
  rec.log(row("(b) `sleep 0` node: start to end from the tree's timestamps", (f) => ms(median(f.nodeSpan)), (f) => f.nodeSpan, ''));
  rec.log(row(`(c) fan of ${fan} \`sleep 0\` nodes at ${SLOTS} slots, nodes / makespan (${fanRounds} run${fanRounds > 1 ? 's' : ''} each)`, (f) => `${median(f.fan).toFixed(2)} nodes/s${f === cold ? '' : ` (${f.fanWarm.join(', ')} of ${fan} warm)`}`, (f) => f.fan, ''));
  rec.log(`\n"over the floor" splits each chain's end-to-end time by the tree's own node timestamps (ms; each part's median over the chains, so the parts need not add up to the median chain exactly). (b) is measured on one-node trees started once the fork server is ready; in (a) and (c) too every node that arrives while it is up runs in a forked child (nothing to refill: a fork costs milliseconds), so "attempts that ran warm" below 10 only means the server was restarting. The issue's "before" figures: 24.8 s for the chain, 0.8 nodes/s for the fan.`);
  rec.save();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
