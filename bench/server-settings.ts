/**
 * What the dev-server and dispatch settings buy, side by side in one run: three private dev
 * servers started by scripts/ensure-temporal.sh on their own ports and databases,
 *  - defaults: SQLite defaults (rollback journal, synchronous FULL), no eager activity dispatch,
 *    workers with eager dispatch off (every node through a poll), the server's own transfer-queue
 *    read rate (history.transferProcessorMaxPollRPS 20 per shard);
 *  - issue 7: WAL, synchronous NORMAL, eager dispatch on the server and in the workers;
 *  - now: the project's defaults (scripts/ensure-temporal.sh's DYNAMIC_CONFIG default, which
 *    adds history.transferProcessorMaxPollRPS=1000).
 * Same code, same machine, rounds alternating: a chain of no-op nodes (handoff median and p90:
 * 60 nodes, so most handoffs come after the transfer queue's burst of reads is used up), a fan
 * (nodes per second) and the reference tree with critical_path (makespan).
 *   npx tsc -p . && node scripts/bundle-workflows.js && node dist/bench/server-settings.js [ROUNDS]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RagomicsClient } from '../client/sdk';
import { loadWorkerConfig } from '../workers/config';
import { createRagomicsWorker, type RagomicsWorker } from '../workers/create-worker';
import { PrivateTemporalServer } from '../test/helpers/processes';
// The harness also installs the SDK runtime with a quiet logger.
import { sleepNode, uid } from '../test/helpers/harness';
import { median, percentile } from '../test/helpers/timeline-checks';
import { REFERENCE_TREE, SCALE, bestSchedule, treeNodes } from './schedule-quality';
import { BenchRecord } from './record';

interface Setup {
  name: string;
  server: PrivateTemporalServer;
  rw: RagomicsWorker;
  client: RagomicsClient;
  workspace: string;
}

/** Starts a private server with these settings (empty strings = the SQLite/server defaults; dynamicConfig undefined = the project's). */
async function startSetup(name: string, settings: { pragmas: string; dynamicConfig: string | undefined; eager: boolean }): Promise<Setup> {
  const saved = { p: process.env.RAGOMICS_TEMPORAL_SQLITE_PRAGMAS, d: process.env.RAGOMICS_TEMPORAL_DYNAMIC_CONFIG };
  process.env.RAGOMICS_TEMPORAL_SQLITE_PRAGMAS = settings.pragmas;
  if (settings.dynamicConfig === undefined) delete process.env.RAGOMICS_TEMPORAL_DYNAMIC_CONFIG;
  else process.env.RAGOMICS_TEMPORAL_DYNAMIC_CONFIG = settings.dynamicConfig;
  const server = new PrivateTemporalServer(mkdtempSync(path.join(tmpdir(), `ragomics-bench-${name}-`)));
  try {
    await server.start();
  } finally {
    for (const [k, v] of [['RAGOMICS_TEMPORAL_SQLITE_PRAGMAS', saved.p], ['RAGOMICS_TEMPORAL_DYNAMIC_CONFIG', saved.d]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const workspace = mkdtempSync(path.join(tmpdir(), `ragomics-ws-${name}-`));
  const taskQueue = uid('tq');
  const rw = await createRagomicsWorker(loadWorkerConfig({
    address: server.address, taskQueue, workspace, executor: 'inprocess', maxConcurrentNodes: 20, eagerNodes: settings.eager, logLevel: 'ERROR', workerId: uid(name),
  }));
  const client = await RagomicsClient.connect({ address: server.address, taskQueue });
  return { name, server, rw, client, workspace };
}

async function chainHandoffs(s: Setup, n: number): Promise<number[]> {
  const tree = await s.client.startTree({ id: uid('chain'), maxNodes: n, maxDepth: n, nodes: Array.from({ length: n }, (_, i) => sleepNode(`c${i}`, 0, i ? { parentId: `c${i - 1}` } : {})) });
  await tree.result();
  const t = await tree.timeline();
  return t.slice(1).map((e, i) => Date.parse(e.started!) - Date.parse(t[i]!.ended!));
}

async function fanRate(s: Setup, n: number): Promise<number> {
  const tree = await s.client.startTree({ id: uid('fan'), maxParallelJobs: 10, maxNodes: n, maxChildrenPerNode: n, nodes: [sleepNode('root', 0), ...Array.from({ length: n - 1 }, (_, i) => sleepNode(`f${i}`, 0, { parentId: 'root' }))] });
  const r = await tree.result();
  return n / r.metrics.makespan;
}

async function referenceMakespan(s: Setup): Promise<number> {
  const tree = await s.client.startTree({
    id: uid('ref'), maxParallelJobs: 3, priorityStrategy: 'critical_path',
    nodes: treeNodes({ hints: true }),
  });
  const r = await tree.result();
  if (r.state !== 'COMPLETED') throw new Error(`reference tree ended ${r.state}`);
  return r.metrics.makespan;
}

/** This run's result lines, written to .data/bench/server-settings.json at the end (bench/record.ts). */
const rec = new BenchRecord('server-settings');

/** The project's default dynamic configuration: scripts/ensure-temporal.sh's own (an unset variable takes it). */
const PROJECT_DEFAULTS = undefined;
/** The chain's length: past the transfer queue's burst of 20 reads (see the header). */
const CHAIN = 60;

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const settings: { name: string; label: string; pragmas: string; dynamicConfig: string | undefined; eager: boolean }[] = [
    { name: 'defaults', label: 'SQLite and server defaults, no eager dispatch', pragmas: '', dynamicConfig: '', eager: false },
    { name: 'issue7', label: 'WAL + synchronous NORMAL, eager dispatch (issue 7)', pragmas: 'journal_mode=wal synchronous=NORMAL', dynamicConfig: 'system.enableActivityEagerExecution=true', eager: true },
    { name: 'now', label: 'the project\'s defaults: + transfer queue read at up to 1000/s', pragmas: 'journal_mode=wal synchronous=NORMAL', dynamicConfig: PROJECT_DEFAULTS, eager: true },
  ];
  const setups: Setup[] = [];
  for (const x of settings) setups.push(await startSetup(x.name, x));
  const figures = new Map(setups.map((s) => [s.name, { handoffs: [] as number[], fan: [] as number[], ref: [] as number[] }]));
  try {
    await Promise.all(setups.map((s) => s.rw.worker.run()).concat([(async () => {
      try {
        for (let r = 0; r <= rounds; r++) {
          for (const s of r % 2 ? [...setups].reverse() : setups) {
            const h = await chainHandoffs(s, CHAIN);
            const f = await fanRate(s, 200);
            const m = await referenceMakespan(s);
            if (r === 0) continue; // warm-up
            const fig = figures.get(s.name)!;
            fig.handoffs.push(...h);
            fig.fan.push(f);
            fig.ref.push(m);
          }
          if (r > 0) process.stderr.write(`round ${r}/${rounds} done\n`);
        }
      } finally {
        for (const s of setups) s.rw.worker.shutdown();
      }
    })()]));
  } finally {
    for (const s of setups) {
      await s.client.close();
      await s.rw.connection.close();
      await s.server.destroy();
      rmSync(s.workspace, { recursive: true, force: true });
    }
  }
  const fig = settings.map((x) => figures.get(x.name)!);
  for (const [i, f] of fig.entries()) {
    if (f.handoffs.length !== rounds * (CHAIN - 1) || f.fan.length !== rounds || f.ref.length !== rounds) throw new Error(`${settings[i]!.name}: incomplete figures (${f.handoffs.length} handoffs, ${f.fan.length} fans, ${f.ref.length} trees)`);
  }
  rec.log(`\n## Server and dispatch settings side by side (${rounds} rounds after a warm-up, alternating)`);
  rec.log(`| figure | ${settings.map((x) => x.label).join(' | ')} | now/defaults |`);
  rec.log(`|---|${settings.map(() => '---|').join('')}---|`);
  const row = (label: string, xs: number[], unit: string, digits = 1) => rec.log(`| ${label} | ${xs.map((x) => `${x.toFixed(digits)} ${unit}`).join(' | ')} | ${(xs[xs.length - 1]! / xs[0]!).toFixed(2)} |`);
  row(`chain of ${CHAIN} no-op nodes: handoff median`, fig.map((f) => median(f.handoffs)), 'ms');
  row(`chain of ${CHAIN} no-op nodes: handoff p90`, fig.map((f) => percentile(f.handoffs, 90)), 'ms');
  row('fan of 200 no-op nodes at maxParallelJobs 10', fig.map((f) => median(f.fan)), 'nodes/s');
  row(`reference tree, critical_path, makespan (best ${(bestSchedule(REFERENCE_TREE, 3).makespan * SCALE).toFixed(2)} s)`, fig.map((f) => median(f.ref)), 's', 3);
  rec.save();
}

main().catch((e) => { console.error(e); process.exit(1); });
