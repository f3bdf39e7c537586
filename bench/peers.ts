/**
 * Peers, side by side (issue 15, goal 5): the same three workloads through ragomics and through
 * the engines a user would otherwise pick, in one run, rounds interleaved:
 *  - ten sequential 0.5 s tasks at 1 slot (end to end against the 5.0 s floor);
 *  - the reference tree of BENCHMARKS.md section 2 (bench/schedule-quality.ts, durations ×0.1) at
 *    3 slots (makespan against its best 3-slot schedule, computed);
 *  - a fan of 200 no-op tasks (one root, 199 children) at 10 slots (tasks/s).
 * Engines (bench/peers/engines.ts says how each is driven):
 *  - ragomics, in-process executor (the `sleep` block in the worker's process, as section 1) and
 *    local executor (one Python process per node, forked by the worker's fork server), each a worker on its own task queue of the
 *    shared dev server, timed from `startTree` to `result()`, intervals from the tree's timeline;
 *  - Prefect 3 with `prefect server start` (private port, SQLite): default thread runner, and
 *    ProcessPoolTaskRunner (Prefect's process isolation: a pool of spawned interpreters per flow
 *    run); PEERS_PREFECT_MODES adds `subprocess` (one fresh process per task);
 *  - Snakemake, local executor, one `shell:` process per job, `--cores <slots>`, the CLI per run;
 *  - Luigi, local scheduler, `workers=<slots>`, a forked process per task.
 * Figures: end to end (the call or command to its result: the engine's start-up and scheduling
 * included) and the makespan from the tasks' own timestamps (first start to last end); the
 * difference is what the engine spends outside the tasks. Peers' tasks stamp their interval
 * inside the task (after their interpreter started); ragomics' timeline stamps the node's attempt
 * (so the local executor's interpreter start-up is inside a node's interval). Every run is
 * checked (bench/peers/shapes.ts: every task ran once, no child before its parent's end, never
 * more tasks at once than slots) before its figures count; one failed check ends the bench
 * non-zero without a record. Medians over ROUNDS rounds after WARMUP rounds.
 *   npx tsc -p . && node scripts/bundle-workflows.js && bash scripts/ensure-peers.sh &&
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/peers.js [ROUNDS=3] [WARMUP=1]
 * Env: PEERS_ENGINES (comma list of engine keys below, default all), PEERS_PREFECT_MODES
 * (default thread,processpool), PEERS_VENV_BIN (default <tools>/peers-venv/bin).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { uid, withWorker, type WorkerContext } from '../test/helpers/harness';
import { median } from '../test/helpers/timeline-checks';
import { PeerDriver, peersBin, runSnakemake, startPrefectServer, type PrefectServer } from './peers/engines';
import { bestTreeSeconds, handoffsMs, makespanMs, readTaskFiles, verifyRun, workloads, type Interval, type Workload, type WorkloadKey, processCount } from './peers/shapes';
import { BenchRecord } from './record';

/** One engine variant: a row of the tables. `run` leaves the intervals the check reads. */
interface Engine {
  key: string;
  label: string;
  /** Runs `w` once; `out` is a fresh folder for the tasks' files. */
  run(w: Workload, out: string): Promise<{ endToEndMs: number; intervals: Map<string, Interval> }>;
}

/** Runs a workload as an analysis tree of `sleep` nodes on `ctx`'s worker. */
async function runTree(ctx: WorkerContext, w: Workload): Promise<{ endToEndMs: number; intervals: Map<string, Interval> }> {
  const t0 = performance.now();
  const tree = await ctx.client.startTree({
    id: uid(`peers-${w.key}`), maxParallelJobs: w.slots, maxNodes: w.nodes.length, maxChildrenPerNode: w.nodes.length, maxDepth: w.nodes.length,
    nodes: w.nodes.map((n) => ({ id: n.id, block: { name: 'sleep' as const, parameters: { seconds: n.seconds } }, ...(n.parent ? { parentId: n.parent } : {}) })),
  });
  const result = await tree.result();
  const endToEndMs = performance.now() - t0;
  if (result.state !== 'COMPLETED') throw new Error(`ragomics tree ${tree.treeId} (${w.key}) ended ${result.state}`);
  const intervals = new Map<string, Interval>();
  for (const e of await tree.timeline()) {
    if (!e.started || !e.ended) throw new Error(`ragomics tree ${tree.treeId} (${w.key}): node ${e.node} has no start or end in the timeline`);
    if (intervals.has(e.node)) throw new Error(`ragomics tree ${tree.treeId} (${w.key}): node ${e.node} ran more than once`);
    intervals.set(e.node, { start: Date.parse(e.started), end: Date.parse(e.ended) });
  }
  return { endToEndMs, intervals };
}

const version = (bin: string, cmd: string, args: string[]): string => execFileSync(path.join(bin, cmd), args, { encoding: 'utf8' }).trim().split('\n')[0]!;

/** Figures of one engine on one workload, over the counted rounds. */
interface Figures { endToEnd: number[]; makespan: number[]; handoffs: number[]; processes: number[] }

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? process.env.ROUNDS ?? 3);
  const warmup = Number(process.argv[3] ?? 1);
  if (!(Number.isInteger(rounds) && rounds >= 1 && Number.isInteger(warmup) && warmup >= 0)) throw new Error(`usage: peers.js [ROUNDS ≥ 1] [WARMUP ≥ 0], got ${process.argv.slice(2).join(' ')}`);
  const wanted = process.env.PEERS_ENGINES?.split(',').map((s) => s.trim()).filter(Boolean);
  const prefectModes = (process.env.PEERS_PREFECT_MODES ?? 'thread,processpool').split(',').map((s) => s.trim()).filter(Boolean);
  for (const m of prefectModes) if (!['thread', 'processpool', 'subprocess'].includes(m)) throw new Error(`PEERS_PREFECT_MODES: unknown mode ${JSON.stringify(m)} (thread, processpool, subprocess)`);
  const bin = peersBin();
  const work = mkdtempSync(path.join(tmpdir(), 'ragomics-peers-'));
  const rec = new BenchRecord('peers');
  const loads = workloads();
  const best = bestTreeSeconds();
  const chainFloor = loads[0]!.nodes.reduce((s, n) => s + n.seconds, 0);

  let prefect: PrefectServer | undefined;
  const drivers: PeerDriver[] = [];
  let ok = false;
  try {
    await withWorker({ executor: 'inprocess', maxConcurrentNodes: 20 }, async (inproc) => {
      // The local worker's default warm mode: its fork server forks one child process per node.
      await withWorker({ executor: 'local', maxConcurrentNodes: 20 }, async (local) => {
        const engines: Engine[] = [
          { key: 'ragomics-inprocess', label: 'ragomics, in-process executor', run: (w) => runTree(inproc, w) },
          { key: 'ragomics-local', label: 'ragomics, local executor (a child forked per node by its fork server)', run: (w) => runTree(local, w) },
        ];
        const want = (key: string) => !wanted || wanted.includes(key);
        if (prefectModes.some((m) => want(`prefect-${m}`))) {
          prefect = await startPrefectServer(bin, path.join(work, 'prefect-home'), path.join(work, 'prefect-server.log'));
          const d = await PeerDriver.start('prefect', bin, { ...process.env, PREFECT_HOME: prefect.home, PREFECT_API_URL: prefect.apiUrl, PREFECT_SERVER_ANALYTICS_ENABLED: 'false' }, path.join(work, 'prefect-driver.log'));
          drivers.push(d);
          const labels: Record<string, string> = {
            thread: 'Prefect, thread runner (default)',
            processpool: 'Prefect, ProcessPoolTaskRunner (pooled processes)',
            subprocess: 'Prefect, thread runner + a subprocess per task',
          };
          for (const m of prefectModes) engines.push({ key: `prefect-${m}`, label: labels[m]!, run: async (w, out) => ({ endToEndMs: await d.run(w, out, m), intervals: readTaskFiles(out) }) });
        }
        const smWork = path.join(work, 'snakemake');
        mkdirSync(smWork);
        let smRun = 0;
        engines.push({
          key: 'snakemake', label: 'Snakemake, local executor (a process per job)', run: async (w) => {
            const name = `r${smRun++}`;
            const endToEndMs = await runSnakemake(bin, w, smWork, name, path.join(work, 'snakemake.log'));
            return { endToEndMs, intervals: readTaskFiles(path.join(smWork, name)) };
          },
        });
        if (want('luigi')) {
          const d = await PeerDriver.start('luigi', bin, process.env, path.join(work, 'luigi-driver.log'));
          drivers.push(d);
          engines.push({ key: 'luigi', label: 'Luigi, local scheduler (a forked process per task)', run: async (w, out) => ({ endToEndMs: await d.run(w, out, 'fork'), intervals: readTaskFiles(out) }) });
        }
        const active = engines.filter((e) => want(e.key));
        if (!active.length) throw new Error(`PEERS_ENGINES: none of ${wanted?.join(', ')} is an engine (${engines.map((e) => e.key).join(', ')})`);

        const figures = new Map(active.map((e) => [e.key, new Map(loads.map((w) => [w.key, { endToEnd: [], makespan: [], handoffs: [], processes: [] } as Figures]))]));
        let runNo = 0;
        for (let round = 0; round < warmup + rounds; round++) {
          for (const e of active) {
            for (const w of loads) {
              const out = path.join(work, 'out', `${runNo++}`);
              mkdirSync(out, { recursive: true });
              const r = await e.run(w, out);
              const iv = verifyRun(e.label, w, r.intervals);
              rmSync(out, { recursive: true, force: true });
              if (round < warmup) continue; // warm-up: imports, JIT, first flow run, Snakemake's metadata folder
              const f = figures.get(e.key)!.get(w.key)!;
              f.endToEnd.push(r.endToEndMs);
              f.makespan.push(makespanMs(iv));
              if (w.key === 'chain') f.handoffs.push(...handoffsMs(iv));
              const procs = processCount(iv);
              if (procs !== null) f.processes.push(procs);
            }
          }
          process.stderr.write(`${round < warmup ? 'warm-up' : 'round'} ${round < warmup ? round + 1 : round - warmup + 1}/${round < warmup ? warmup : rounds} done\n`);
        }

        // ---- tables ----
        const med = (e: string, w: WorkloadKey, k: keyof Figures) => median(figures.get(e)!.get(w)![k]);
        const s = (ms: number, d = 2) => `${(ms / 1000).toFixed(d)} s`;
        const ratio = (a: number, b: number) => (a / b).toFixed(2);
        const refs = active.filter((e) => e.key.startsWith('ragomics-'));
        const vsRefs = (e: Engine, w: WorkloadKey) => refs.map((r) => (r.key === e.key ? '–' : ratio(med(r.key, w, 'endToEnd'), med(e.key, w, 'endToEnd')))).join(' | ');
        const refCols = refs.map((r) => `${r.label.replace(/^ragomics, /, 'ragomics ').replace(/ \(.*\)$/, '')} ÷ this, end to end`).join(' | ');
        const refSep = refs.map(() => '---').join('|');
        const [fan, tree, chain] = [loads[2]!, loads[1]!, loads[0]!];

        rec.log(`\n## Peers: ${rounds} rounds (after ${warmup} warm-up), medians; engines interleaved round by round, on this machine's shared Temporal dev server for ragomics`);
        rec.log(`engines: ${version(bin, 'prefect', ['--version'])} (Prefect), ${version(bin, 'snakemake', ['--version'])} (Snakemake), ${version(bin, 'python', ['-c', 'import luigi, importlib.metadata as m; print(m.version("luigi"))'])} (Luigi), from PyPI in ${path.basename(path.dirname(bin))} (scripts/ensure-peers.sh)` +
          (prefect ? `; Prefect's server (\`prefect server start\`, SQLite, private port) took ${s(prefect.startupMs, 1)} to answer, once before the rounds (not in the figures)` : ''));
        rec.log(`\n### Ten sequential ${chain.nodes[0]!.seconds} s tasks at 1 slot (floor ${chainFloor.toFixed(1)} s)`);
        rec.log(`| engine | end to end | vs floor | makespan (tasks' own stamps) | handoff: median (max) | outside the tasks (end to end − makespan) | ${refCols} |`);
        rec.log(`|---|---|---|---|---|---|${refSep}|`);
        for (const e of active) {
          const h = figures.get(e.key)!.get('chain')!.handoffs;
          rec.log(`| ${e.label} | ${s(med(e.key, 'chain', 'endToEnd'))} | ${ratio(med(e.key, 'chain', 'endToEnd'), chainFloor * 1000)} | ${s(med(e.key, 'chain', 'makespan'))} | ${median(h).toFixed(0)} ms (${Math.max(...h).toFixed(0)} ms) | ${s(med(e.key, 'chain', 'endToEnd') - med(e.key, 'chain', 'makespan'))} | ${vsRefs(e, 'chain')} |`);
        }
        rec.log(`\n### The reference tree at ${tree.slots} slots (best ${tree.slots}-slot schedule ${best.toFixed(2)} s)`);
        rec.log(`| engine | end to end | makespan | makespan vs best | outside the tasks | ${refCols} |`);
        rec.log(`|---|---|---|---|---|${refSep}|`);
        for (const e of active) {
          rec.log(`| ${e.label} | ${s(med(e.key, 'tree', 'endToEnd'))} | ${s(med(e.key, 'tree', 'makespan'))} | ${ratio(med(e.key, 'tree', 'makespan'), best * 1000)} | ${s(med(e.key, 'tree', 'endToEnd') - med(e.key, 'tree', 'makespan'))} | ${vsRefs(e, 'tree')} |`);
        }
        rec.log(`\n### A fan of ${fan.nodes.length} no-op tasks at ${fan.slots} slots`);
        rec.log(`| engine | end to end | tasks/s end to end | tasks/s in the makespan | outside the tasks | processes the tasks ran in (pids) | ${refCols} |`);
        rec.log(`|---|---|---|---|---|---|${refSep}|`);
        const procCell = (e: Engine) => {
          const p = figures.get(e.key)!.get('fan')!.processes;
          return p.length ? String(median(p)) : e.key === 'ragomics-local' ? `${fan.nodes.length} by design (not stamped)` : e.key === 'ragomics-inprocess' ? '1 by design, the worker\'s (not stamped)' : 'not stamped';
        };
        for (const e of active) {
          const e2e = med(e.key, 'fan', 'endToEnd');
          rec.log(`| ${e.label} | ${s(e2e)} | ${((fan.nodes.length * 1000) / e2e).toFixed(1)} | ${((fan.nodes.length * 1000) / med(e.key, 'fan', 'makespan')).toFixed(1)} | ${s(e2e - med(e.key, 'fan', 'makespan'))} | ${procCell(e)} | ${vsRefs(e, 'fan')} |`);
        }
        // Where ragomics loses: every peer faster end to end than a ragomics variant, per workload.
        const losses: string[] = [];
        for (const r of refs) {
          for (const w of loads) {
            const beaten = active.filter((e) => !e.key.startsWith('ragomics-') && med(e.key, w.key, 'endToEnd') < med(r.key, w.key, 'endToEnd'));
            if (beaten.length) losses.push(`${r.label.replace(/ \(.*\)$/, '')}, ${w.key}: slower than ${beaten.map((e) => `${e.label.replace(/ \(.*\)$/, '')} (${ratio(med(r.key, w.key, 'endToEnd'), med(e.key, w.key, 'endToEnd'))}×)`).join(', ')}`);
          }
        }
        rec.log(`\nwhere ragomics loses (end to end): ${losses.length ? losses.join('; ') : 'nowhere in this run'}.`);
        rec.log('Ratios above 1 in the "÷ this" columns: ragomics took longer than that engine. Every run was checked before it counted: every task ran once, no task started before its parent ended, never more tasks at once than slots.');
      });
    });
    ok = true;
  } finally {
    for (const d of drivers) await d.close();
    await prefect?.close();
    if (ok) rmSync(work, { recursive: true, force: true });
    else process.stderr.write(`peers: logs kept in ${work}\n`);
  }
  rec.save();
}

main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
