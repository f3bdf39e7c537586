/**
 * Failover time and what the heartbeat settings cost (issue 13, item 4): how long after a worker
 * dies do its nodes run again on another worker, and how many server writes per running node
 * buy that.
 *
 *   npx tsc -p . && node scripts/bundle-workflows.js
 *   export RAGOMICS_WORKFLOW_BUNDLE=$PWD/dist/workflow-bundle.js
 *   node dist/bench/failover.js --address HOST:PORT --metrics-url http://HOST:PORT/metrics
 *        [--namespace NS] [--task-queue PREFIX (failover)] [--heartbeats 5,10,30] [--sticky 10,2]
 *        [--reps 3] [--node-seconds 30] [--cost-nodes 20] [--cost-window 60] [--intervals 2]
 *        [--only failover|cost] [--cost-address HOST:PORT (default: --address)] [--goal 10 (s)]
 * Address and metrics URL also from TEMPORAL_ADDRESS and RAGOMICS_METRICS_URL; nothing here is
 * specific to the dev server (the production server exposes the same metrics). On the dev
 * server: scripts/ensure-temporal.sh with RAGOMICS_TEMPORAL_METRICS_PORT (see BENCHMARKS.md).
 *
 * Failover (bench/failover-run.ts): per heartbeatTimeout × sticky timeout, `--reps` runs of one
 * sleeping node on real `ragomics worker` processes A and B (inprocess executor), A SIGKILLed
 * while the node runs on it; kill → heartbeat timeout recorded, kill → the workflow task that
 * learned of it, kill → the node's new attempt started on B (the failover time), kill → tree end.
 * Runs of the settings are interleaved (rep 1 of every setting, then rep 2, ...), so a change in
 * the machine's load falls on all of them alike.
 *
 * Cost: per heartbeatTimeout × worker heartbeat interval, one `ragomics worker` running
 * `--cost-nodes` long sleeps for `--cost-window` seconds; the server's `persistence_requests`
 * (write operations) and heartbeat RPCs counted over the window, minus the rate of the same
 * worker idle just before the tree started, per running node per minute. On a server shared with
 * other work the idle rate absorbs steady background load only: run it on a quiet server
 * (`--cost-address`, whose metrics `--metrics-url` reads, while the failover runs elsewhere).
 */
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { RagomicsClient } from '../client/sdk';
import { uid } from '../test/helpers/harness';
import { median } from '../test/helpers/timeline-checks';
import { runFailover, type FailoverRun } from './failover-run';
import { delta, readCounters, writes, type WriteCounters } from './prometheus';
import { BenchRecord } from './record';
import { startWorkerProcess } from './worker-process';

class UsageError extends Error {}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${name}: missing value`);
  return v;
}
function nums(name: string, fallback: number[]): number[] {
  const v = arg(name);
  if (v === undefined) return fallback;
  const out = v.split(',').map(Number);
  if (out.some((x) => !Number.isFinite(x) || x <= 0)) throw new UsageError(`${name}: expected positive numbers separated by commas, got "${v}"`);
  return out;
}
const num = (name: string, fallback: number): number => nums(name, [fallback])[0]!;
const S = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : '—');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One failover setting: the tree's heartbeat timeout and the workers' sticky timeout. */
interface FailoverSetting { heartbeatTimeoutS: number; stickyTimeoutS: number }

/** Failover times (ms) per `${heartbeatTimeoutS}/${stickyTimeoutS}`. */
type FailoverTimes = Map<string, number[]>;
/** Writes per node per minute per `${heartbeatTimeoutS}/${intervalS}`. */
type CostRates = Map<string, number>;

async function failoverSweep(rec: BenchRecord, o: { address: string; namespace?: string; prefix: string; heartbeats: number[]; sticky: number[]; reps: number; nodeSeconds: number; dir: string }): Promise<FailoverTimes> {
  const settings: FailoverSetting[] = o.heartbeats.flatMap((h) => o.sticky.map((s) => ({ heartbeatTimeoutS: h, stickyTimeoutS: s })));
  const runs = new Map<FailoverSetting, FailoverRun[]>(settings.map((s) => [s, []]));
  const times: FailoverTimes = new Map();
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const s of rep % 2 ? settings : [...settings].reverse()) {
      const taskQueue = uid(`${o.prefix}-h${s.heartbeatTimeoutS}-s${s.stickyTimeoutS}`);
      const dir = path.join(o.dir, taskQueue);
      mkdirSync(dir, { recursive: true });
      const r = await runFailover({ address: o.address, namespace: o.namespace, taskQueue, heartbeatTimeoutS: s.heartbeatTimeoutS, stickyTimeoutS: s.stickyTimeoutS, nodeSeconds: o.nodeSeconds, dir });
      if (r.treeState !== 'COMPLETED' || r.lostAttemptWorker !== r.workerA || r.attempts.find((x) => x.attempt === 2)?.worker !== r.workerB) {
        throw new Error(`failover run ${r.treeId} did not go A → B: tree ${r.treeState}, lost attempt on ${r.lostAttemptWorker}, attempts ${JSON.stringify(r.attempts)}`);
      }
      runs.get(s)!.push(r);
      rmSync(dir, { recursive: true, force: true });
      process.stderr.write(`rep ${rep}/${o.reps} heartbeatTimeout ${s.heartbeatTimeoutS} s, sticky ${s.stickyTimeoutS} s: failover ${S(r.failoverMs)} s (timeout recorded ${S(r.detectMs)} s, workflow task ${S(r.workflowTaskMs)} s${r.stickyTimedOut ? ' after a sticky timeout' : ''}), tree end ${S(r.treeEndMs)} s\n`);
    }
  }
  rec.log(`\n## Failover: a worker SIGKILLed while its node runs (${o.reps} runs per setting, a ${o.nodeSeconds} s node, inprocess executor, real \`ragomics worker\` processes)`);
  rec.log('Seconds after the kill. "timeout recorded": the server times the attempt out (history); "workflow task": the task that learns of it starts on the live worker; "failover": the node\'s new attempt starts on the other worker; "tree end": the tree closes (the new attempt runs the whole node again).');
  rec.log('| heartbeatTimeout | sticky timeout | failover median | failover max | timeout recorded (median) | workflow task (median) | runs whose task first timed out on the dead worker\'s sticky queue | tree end (median) |');
  rec.log('|---|---|---|---|---|---|---|---|');
  for (const s of settings) {
    const r = runs.get(s)!;
    const f = r.map((x) => x.failoverMs);
    times.set(`${s.heartbeatTimeoutS}/${s.stickyTimeoutS}`, f);
    rec.log(`| ${s.heartbeatTimeoutS} s | ${s.stickyTimeoutS} s | **${S(median(f))} s** | ${S(Math.max(...f))} s | ${S(median(r.map((x) => x.detectMs)))} s | ${S(median(r.map((x) => x.workflowTaskMs)))} s | ${r.filter((x) => x.stickyTimedOut).length} of ${r.length} | ${S(median(r.map((x) => x.treeEndMs)))} s |`);
  }
  return times;
}

/** Write rate of one setting, per running node per minute. */
interface CostFigures { writes: number; updates: number; appends: number; heartbeats: number; top: string; idle: number }

async function costOf(o: { address: string; namespace?: string; metricsUrl: string; prefix: string; heartbeatTimeoutS: number; intervalS: number; nodes: number; windowS: number; idleS: number; dir: string }): Promise<CostFigures> {
  const taskQueue = uid(`${o.prefix}-cost-h${o.heartbeatTimeoutS}-i${o.intervalS}`);
  const w = startWorkerProcess({
    address: o.address, namespace: o.namespace, taskQueue, workerId: `${taskQueue}-W`, workspace: path.join(o.dir, taskQueue, 'ws'), logDir: path.join(o.dir, taskQueue),
    heartbeatIntervalSeconds: o.intervalS, maxConcurrentNodes: o.nodes,
  });
  const client = await RagomicsClient.connect({ address: o.address, namespace: o.namespace, taskQueue });
  try {
    await w.ready;
    const idlePerMin = await rateOver(o.metricsUrl, o.idleS);
    const tree = await client.startTree({
      id: `${taskQueue}-tree`, heartbeatTimeout: o.heartbeatTimeoutS, maxParallelJobs: o.nodes, maxNodes: o.nodes, maxChildrenPerNode: o.nodes,
      nodes: Array.from({ length: o.nodes }, (_, i) => ({ id: `n${i}`, block: { name: 'sleep' as const, parameters: { seconds: o.windowS + 300 } } })),
    });
    try {
      const end = Date.now() + 120_000;
      for (;;) {
        const d = await tree.workflow.describe();
        const started = (d.raw.pendingActivities ?? []).filter((p) => p.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED).length;
        if (started === o.nodes) break;
        if (Date.now() > end) throw new Error(`only ${started} of ${o.nodes} nodes running after 120 s`);
        await sleep(250);
      }
      // Past every node's first heartbeat and first heartbeat-timeout timer: the steady state.
      await sleep(Math.max(5, o.heartbeatTimeoutS + 1) * 1000);
      const c0 = await readCounters(o.metricsUrl);
      const t0 = Date.now();
      await sleep(o.windowS * 1000);
      const c1 = await readCounters(o.metricsUrl);
      const minutes = (Date.now() - t0) / 60_000;
      const d = delta(c0, c1);
      const perNode = (total: number, idle: number) => (total / minutes - idle) / o.nodes;
      const op = (name: string) => perNode(d.byOperation.get(name) ?? 0, idlePerMin.byOperation.get(name) ?? 0);
      const top = [...d.byOperation].filter(([k]) => /^(Update|Append|Create|Complete|RangeComplete)/.test(k))
        .map(([k, v]) => [k, perNode(v, idlePerMin.byOperation.get(k) ?? 0)] as const).filter(([, v]) => v >= 0.5)
        .sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
      return {
        writes: perNode(writes(d), writes(idlePerMin)), updates: op('UpdateWorkflowExecution'), appends: op('AppendHistoryNodes'),
        heartbeats: perNode(d.heartbeatRpcs, idlePerMin.heartbeatRpcs), top, idle: writes(idlePerMin),
      };
    } finally {
      await tree.workflow.terminate('failover cost bench done').catch(() => undefined);
    }
  } finally {
    await client.close();
    w.kill('SIGTERM');
    await w.waitExit(60_000).catch(() => w.kill('SIGKILL'));
  }
}

/**
 * The server's counters per minute over `seconds` (the worker of the setting polling, no tree
 * running): what the window with running nodes is compared with. Measured right before it, so
 * the background (other task queues still loaded, shard upkeep) is the same in both.
 */
async function rateOver(metricsUrl: string, seconds: number): Promise<WriteCounters> {
  await sleep(3000);
  const c0 = await readCounters(metricsUrl);
  const t0 = Date.now();
  await sleep(seconds * 1000);
  const d = delta(c0, await readCounters(metricsUrl));
  const minutes = (Date.now() - t0) / 60_000;
  return { byOperation: new Map([...d.byOperation].map(([k, v]) => [k, v / minutes])), heartbeatRpcs: d.heartbeatRpcs / minutes };
}

async function costSweep(rec: BenchRecord, o: { address: string; namespace?: string; metricsUrl: string; prefix: string; heartbeats: number[]; intervals: number[]; nodes: number; windowS: number; dir: string }): Promise<CostRates> {
  const rows: string[] = [];
  const rates: CostRates = new Map();
  const idleS = Math.max(20, Math.round(o.windowS / 3));
  for (const intervalS of o.intervals) {
    for (const heartbeatTimeoutS of o.heartbeats) {
      const c = await costOf({ ...o, heartbeatTimeoutS, intervalS, idleS });
      process.stderr.write(`cost heartbeatTimeout ${heartbeatTimeoutS} s, interval ${intervalS} s: ${c.writes.toFixed(1)} writes/node/min (idle ${c.idle.toFixed(0)} writes/min)\n`);
      rates.set(`${heartbeatTimeoutS}/${intervalS}`, c.writes);
      const effective = Math.min(intervalS, heartbeatTimeoutS / 3);
      rows.push(`| ${heartbeatTimeoutS} s | ${intervalS} s${effective < intervalS ? ` (${effective.toFixed(2)} s: a third of the timeout)` : ''} | **${c.writes.toFixed(1)}** | ${c.updates.toFixed(1)} | ${c.appends.toFixed(1)} | ${c.heartbeats.toFixed(1)} | ${c.idle.toFixed(0)} | ${c.top} |`);
    }
  }
  rec.log(`\n## What the heartbeat settings cost: server writes per running node per minute (${o.nodes} nodes sleeping, ${o.windowS} s window; the rate of the ${idleS} s before the tree started, same worker polling, subtracted)`);
  rec.log('Counted from the server\'s own `persistence_requests` (write operations: Create/Update/Append/Complete/...) and `service_requests{operation="RecordActivityTaskHeartbeat"}`.');
  rec.log('| heartbeatTimeout | worker heartbeat interval | writes/node/min | of which UpdateWorkflowExecution | AppendHistoryNodes | heartbeat RPCs/node/min | idle writes/min (subtracted) | write operations ≥ 0.5/node/min |');
  rec.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) rec.log(r);
  return rates;
}

/**
 * Both parts side by side per heartbeatTimeout: the failover time at each sticky timeout and the
 * writes at each heartbeat interval, and which settings kept every run within the goal.
 */
function summary(rec: BenchRecord, heartbeats: number[], sticky: number[], intervals: number[], times: FailoverTimes, rates: CostRates, goalS: number): void {
  rec.log(`\n## Side by side: failover (median / max of the runs) and writes per running node per minute`);
  rec.log(`| heartbeatTimeout | ${sticky.map((s) => `failover, sticky ${s} s`).join(' | ')} | ${intervals.map((i) => `writes/node/min, heartbeat every ${i} s`).join(' | ')} |`);
  rec.log(`|---|${sticky.map(() => '---').join('|')}|${intervals.map(() => '---').join('|')}|`);
  const within: string[] = [];
  for (const h of heartbeats) {
    const f = sticky.map((s) => {
      const t = times.get(`${h}/${s}`) ?? [];
      if (t.length && Math.max(...t) <= goalS * 1000) within.push(`heartbeatTimeout ${h} s with sticky ${s} s`);
      return t.length ? `${S(median(t))} / ${S(Math.max(...t))} s` : '—';
    });
    const c = intervals.map((i) => (rates.has(`${h}/${i}`) ? rates.get(`${h}/${i}`)!.toFixed(1) : '—'));
    rec.log(`| ${h} s | ${f.join(' | ')} | ${c.join(' | ')} |`);
  }
  rec.log(`Every run within the ${goalS} s goal: ${within.length ? within.join('; ') : 'no setting'}.`);
}

async function main(): Promise<void> {
  const address = arg('--address') ?? process.env.TEMPORAL_ADDRESS;
  if (!address) throw new UsageError('no Temporal server named: pass --address HOST:PORT or set TEMPORAL_ADDRESS');
  const namespace = arg('--namespace') ?? process.env.TEMPORAL_NAMESPACE;
  const only = arg('--only');
  if (only !== undefined && only !== 'failover' && only !== 'cost') throw new UsageError(`--only: expected failover or cost, got "${only}"`);
  const metricsUrl = arg('--metrics-url') ?? process.env.RAGOMICS_METRICS_URL;
  if (only !== 'failover' && !metricsUrl) throw new UsageError('no metrics URL for the cost part: pass --metrics-url http://HOST:PORT/metrics (or RAGOMICS_METRICS_URL), or --only failover');
  const heartbeats = nums('--heartbeats', [5, 10, 30]);
  const prefix = arg('--task-queue') ?? 'failover';
  const dir = path.join(os.tmpdir(), uid('ragomics-failover-bench'));
  mkdirSync(dir, { recursive: true });
  // Checked before anything starts: a wrong URL must not cost a failover sweep first.
  if (metricsUrl && only !== 'failover') await readCounters(metricsUrl);
  // Run by scripts/bench-failover.sh, the record names that command (its servers' ports are its own).
  const rec = new BenchRecord('failover', process.env.RAGOMICS_BENCH_COMMAND || undefined);
  try {
    const costAddress = arg('--cost-address') ?? address;
    const sticky = nums('--sticky', [10, 2]);
    const intervals = nums('--intervals', [2]);
    const failover = () => (only === 'cost' ? Promise.resolve(new Map() as FailoverTimes) : failoverSweep(rec, { address, namespace, prefix, heartbeats, sticky, reps: num('--reps', 3), nodeSeconds: num('--node-seconds', 30), dir }));
    const cost = () => (only === 'failover' ? Promise.resolve(new Map() as CostRates) : costSweep(rec, { address: costAddress, namespace, metricsUrl: metricsUrl!, prefix, heartbeats, intervals, nodes: num('--cost-nodes', 20), windowS: num('--cost-window', 60), dir }));
    // On two servers the parts run side by side (the failover runs' writes would count in the
    // cost on one server); each logs its table when it ends.
    let times: FailoverTimes, rates: CostRates;
    if (costAddress !== address) [times, rates] = await Promise.all([failover(), cost()]);
    else {
      times = await failover();
      rates = await cost();
    }
    if (!only) summary(rec, heartbeats, sticky, intervals, times, rates, num('--goal', 10));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  rec.save();
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`failover bench: ${e.message}\n`);
    process.exit(3);
  }
  console.error(e);
  process.exit(1);
});
