/**
 * What the `ragomics run` command costs over the SDK (issue 15, goal 2: at most 0.5 s, head plus
 * tail). A tree of one inprocess `sleep 0` node is run, rounds interleaved, three ways:
 *   - `cli`: `node bin/ragomics.js run SPEC` as a user types it (a new process each time), its
 *     compile cache (client/compile-cache.ts) in this run's folder, filled by the warm-up run;
 *   - `nocache`: the same with `RAGOMICS_COMPILE_CACHE=0`, what the cache buys;
 *   - `nobundle`: the same with `RAGOMICS_CLI_BUNDLE=0` (the compiled modules one by one instead of
 *     the one-file bundle of scripts/bundle-cli.js), what the bundle buys;
 *   - `sdk`: `startTree` then `result()` through an already connected RagomicsClient in this process;
 *   - `cli traced`: the CLI again under bench/cli-trace-hook.ts, for the breakdown (where the
 *     head and tail go: Node start-up, each module the CLI requires, the connection, the start
 *     call, the first queries; the close, the last calls, the exit).
 * Head: from the process's spawn (for the SDK: the startTree call) to the tree's workflow start
 * (the server's start time). Tail: from the last node's end (as the worker saw it) to the
 * process's exit (for the SDK: `result()` returning). Same machine, same clock. One worker
 * process (`ragomics worker --executor inprocess`) on its own task queue serves every run.
 * With `--baseline DIR` (another built checkout, e.g. `git archive` of the commit before a change
 * with `npx tsc -p .` run in it), that checkout's CLI runs too, traced and not, in the same rounds:
 * before and after side by side.
 *   npx tsc -p . && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/cli-startup.js [ROUNDS] [--baseline DIR]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../activities/executors/repo-root';
import { RagomicsClient } from '../client/sdk';
import { TEMPORAL_ADDRESS, uid } from '../test/helpers/harness';
import { median } from '../test/helpers/timeline-checks';
import type { CliTrace } from './cli-trace-hook';
import { BenchRecord } from './record';
import { startWorkerProcess } from './worker-process';

const REPO = repoRoot();
const CLI = path.join(REPO, 'bin', 'ragomics.js');
const HOOK = path.join(REPO, 'dist', 'bench', 'cli-trace-hook.js');
const SPEC = 'nodes:\n  - id: s\n    block: { name: sleep, parameters: { seconds: 0 } }\n';

interface Times {
  /** Epoch ms: the spawn (cli) or the startTree call (sdk). */
  begin: number;
  /** Epoch ms: the process's exit seen here (cli) or result() returning (sdk). */
  end: number;
  wfStart: number;
  wfClose: number;
  nodeStart: number;
  nodeEnd: number;
}

async function treeTimes(rc: RagomicsClient, treeId: string, begin: number, end: number): Promise<Times> {
  const tree = rc.getTree(treeId);
  const d = await tree.workflow.describe();
  const st = await tree.status({ nodeWaits: false });
  const n = st.nodes[0]!;
  return {
    begin, end, wfStart: d.startTime.getTime(), wfClose: d.closeTime?.getTime() ?? NaN,
    nodeStart: Date.parse(n.startedAt ?? ''), nodeEnd: Date.parse(n.endedAt ?? ''),
  };
}

/**
 * The compile cache (client/compile-cache.ts) of the CLI runs here: in the run's own folder, filled
 * by the warm-up run as a user's first command fills theirs; `off` runs the CLI without it.
 */
function cacheEnv(dir: string, off = false, noBundle = false): NodeJS.ProcessEnv {
  return { RAGOMICS_COMPILE_CACHE: off ? '0' : path.join(dir, 'compile-cache'), ...(noBundle ? { RAGOMICS_CLI_BUNDLE: '0' } : {}) };
}

async function runCli(rc: RagomicsClient, dir: string, taskQueue: string, traced: boolean, cli = CLI, extraEnv: NodeJS.ProcessEnv = cacheEnv(dir)): Promise<{ times: Times; trace?: CliTrace }> {
  const treeId = uid('cli');
  const traceFile = path.join(dir, `${treeId}.trace.json`);
  const args = [...(traced ? ['--require', HOOK] : []), cli, 'run', path.join(dir, 'one.yaml'), '--id', treeId, '--task-queue', taskQueue];
  const env = { ...process.env, TEMPORAL_ADDRESS, ...extraEnv, ...(traced ? { RAGOMICS_CLI_TRACE: traceFile } : {}) };
  const begin = Date.now();
  const child = spawn(process.execPath, args, { env, cwd: path.dirname(path.dirname(cli)), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const end = Date.now();
  if (code !== 0) throw new Error(`ragomics run exited ${code}:\n${output}`);
  const times = await treeTimes(rc, treeId, begin, end);
  return { times, trace: traced ? (JSON.parse(readFileSync(traceFile, 'utf8')) as CliTrace) : undefined };
}

async function runSdk(rc: RagomicsClient, taskQueue: string): Promise<Times> {
  const treeId = uid('sdk');
  const begin = Date.now();
  const tree = await rc.startTree({ id: treeId, nodes: [{ id: 's', block: { name: 'sleep', parameters: { seconds: 0 } } }] }, { taskQueue });
  await tree.result();
  const end = Date.now();
  return treeTimes(rc, treeId, begin, end);
}

const head = (t: Times): number => t.wfStart - t.begin;
const tail = (t: Times): number => t.end - t.nodeEnd;
const ms = (x: number): string => `${Math.round(x)} ms`;

/** The breakdown of one traced run, as [phase, ms] pairs, epoch-based so that server times fit in. */
function phases(t: Times, tr: CliTrace): { headParts: [string, number][]; tailParts: [string, number][]; modules: Map<string, number> } {
  const at = (rel: number): number => tr.origin + rel;
  const rpc = (method: string, which: 'first' | 'last' = 'first'): CliTrace['rpcs'][number] | undefined =>
    which === 'first' ? tr.rpcs.find((r) => r.method === method) : [...tr.rpcs].reverse().find((r) => r.method === method);
  // The CLI's entry: its one-file bundle, or the compiled cli.js (the baseline; RAGOMICS_CLI_BUNDLE=0).
  const cliJs = tr.modules.find((m) => m.from === 'ragomics.js' && /[/\\]cli(\.bundle)?\.js$/.test(m.request));
  const ready = rpc('connect');
  const sysInfo = rpc('GetSystemInfo');
  const start = rpc('StartWorkflowExecution');
  // The calls `run` makes once the tree started, before its first wait (the result's long poll left out: it waits for the end).
  const afterStart = tr.rpcs.filter((r) => start && r.start >= (start.end ?? Infinity) && r.method !== 'GetWorkflowExecutionHistory').slice(0, 3);
  const history = [...tr.rpcs].reverse().find((r) => r.method === 'GetWorkflowExecutionHistory' && (r.end ?? 0) > 0);
  const lastRpc = tr.rpcs.reduce((m, r) => Math.max(m, r.end ?? 0), 0);
  const modules = new Map<string, number>();
  for (const m of tr.modules) {
    const key = `${m.from === 'ragomics.js' ? '' : `${m.from}: `}${m.request.replace(/^.*[/\\]dist[/\\]/, 'dist/')}`;
    modules.set(key, (modules.get(key) ?? 0) + m.ms);
  }
  const cliLoaded = cliJs ? cliJs.start + cliJs.ms : NaN;
  const headParts: [string, number][] = [
    ['spawn to Node\'s time origin', tr.origin - t.begin],
    ['Node start-up to the first line of bin/ragomics.js', tr.main ?? NaN],
    ['require of the CLI: dist/client/cli.bundle.js, or cli.js where there is no bundle (every module it loads)', cliJs?.ms ?? NaN],
    ['from the CLI loaded to the channel\'s set-up (parse, read and validate the spec, settings)', (ready?.start ?? NaN) - cliLoaded],
    ['connection: channel ready (TCP, HTTP/2)', (ready?.end ?? NaN) - (ready?.start ?? NaN)],
    ['connection: GetSystemInfo', (sysInfo?.end ?? NaN) - (sysInfo?.start ?? NaN)],
    ['from connected to StartWorkflowExecution sent', (start?.start ?? NaN) - (sysInfo?.end ?? NaN)],
    ['StartWorkflowExecution sent to the workflow\'s start (server time)', t.wfStart - at(start?.start ?? NaN)],
    ['(after the start: StartWorkflowExecution\'s reply)', (start?.end ?? NaN) - (start?.start ?? NaN)],
    [`(after the start: its first calls, ${afterStart.map((r) => r.method).join(', ')}: from the first's call to the last's answer)`, afterStart.length ? Math.max(...afterStart.map((r) => r.end ?? r.start)) - afterStart[0]!.start : NaN],
  ];
  const tailParts: [string, number][] = [
    ['node end (worker) to workflow close (server)', t.wfClose - t.nodeEnd],
    ['workflow close to the result call\'s answer (GetWorkflowExecutionHistory)', at(history?.end ?? NaN) - t.wfClose],
    ['result to the last call\'s answer (final status)', lastRpc - (history?.end ?? NaN)],
    ['last call to the exit event (connection close, output flush)', (tr.exit ?? NaN) - lastRpc],
    ['exit event to the exit seen by the parent', t.end - at(tr.exit ?? NaN)],
  ];
  return { headParts, tailParts, modules };
}

/** `[ROUNDS] [--baseline DIR]`: DIR is another built checkout (e.g. the commit before a change) whose CLI runs beside this one. */
function parseArgs(argv: string[]): { rounds: number; baseline?: string } {
  const i = argv.indexOf('--baseline');
  const baseline = i >= 0 ? path.resolve(argv[i + 1] ?? '') : undefined;
  const rest = argv.filter((_, j) => i < 0 || (j !== i && j !== i + 1));
  const rounds = Number(rest[0] ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`ROUNDS: a whole number ≥ 1, got "${rest[0]}"`);
  if (baseline && !existsSync(path.join(baseline, 'dist', 'client', 'cli.js'))) throw new Error(`--baseline ${baseline}: no dist/client/cli.js there (build it first)`);
  return { rounds, baseline };
}

async function main(): Promise<void> {
  const { rounds, baseline } = parseArgs(process.argv.slice(2));
  const rec = new BenchRecord('cli-startup');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ragomics-cli-startup-'));
  writeFileSync(path.join(dir, 'one.yaml'), SPEC);
  const taskQueue = uid('cli-startup');
  const worker = startWorkerProcess({ address: TEMPORAL_ADDRESS, taskQueue, workerId: uid('w'), workspace: path.join(dir, 'workspace'), logDir: dir });
  const rc = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
  const baseCli = baseline ? path.join(baseline, 'bin', 'ragomics.js') : undefined;
  try {
    await worker.ready;
    // Warm-up (not counted): the worker's first workflow task, the OS's file cache.
    await runCli(rc, dir, taskQueue, false);
    await runCli(rc, dir, taskQueue, false, CLI, cacheEnv(dir, false, true));
    if (baseCli) await runCli(rc, dir, taskQueue, false, baseCli);
    await runSdk(rc, taskQueue);
    type Variant = 'cli' | 'nocache' | 'nobundle' | 'base' | 'sdk' | 'traced' | 'traced-base';
    const variants: Variant[] = baseCli ? ['cli', 'nocache', 'nobundle', 'base', 'sdk', 'traced', 'traced-base'] : ['cli', 'nocache', 'nobundle', 'sdk', 'traced'];
    const times = new Map<Variant, Times[]>(variants.map((v) => [v, []]));
    const traces = new Map<Variant, { times: Times; trace: CliTrace }[]>([['traced', []], ['traced-base', []]]);
    for (let i = 0; i < rounds; i++) {
      // Alternate the order from round to round so no variant always follows the same one.
      const order = i % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        if (v === 'sdk') {
          times.get(v)!.push(await runSdk(rc, taskQueue));
          continue;
        }
        const traced = v === 'traced' || v === 'traced-base';
        const r = await runCli(rc, dir, taskQueue, traced, v === 'base' || v === 'traced-base' ? baseCli : CLI, cacheEnv(dir, v === 'nocache', v === 'nobundle'));
        times.get(v)!.push(r.times);
        if (traced) traces.get(v)!.push({ times: r.times, trace: r.trace! });
      }
    }
    const names: Record<Variant, string> = {
      cli: '`node bin/ragomics.js run SPEC`',
      nocache: 'the same without its compile cache (`RAGOMICS_COMPILE_CACHE=0`)',
      nobundle: 'the same without its one-file bundle (`RAGOMICS_CLI_BUNDLE=0`)',
      base: `the same, baseline checkout (${baseline ? path.basename(baseline) : ''})`,
      sdk: 'SDK (connected client, startTree + result)',
      traced: 'the CLI under the trace hook',
      'traced-base': 'the baseline CLI under the trace hook',
    };
    const sdkOver = median(times.get('sdk')!.map((x) => head(x) + tail(x)));
    rec.log(`One tree of one inprocess \`sleep 0\` node, ${rounds} rounds interleaved, medians (one worker process on its own task queue):`);
    rec.log('| variant | head: start to the workflow\'s start | tail: node end to exit / result | head + tail | over the SDK | first node start from start |\n|---|---|---|---|---|---|');
    for (const v of variants) {
      const xs = times.get(v)!;
      const ht = median(xs.map((x) => head(x) + tail(x)));
      rec.log(`| ${names[v]} | ${ms(median(xs.map(head)))} | ${ms(median(xs.map(tail)))} | ${ms(ht)} | ${v === 'sdk' ? '–' : ms(ht - sdkOver)} | ${ms(median(xs.map((x) => x.nodeStart - x.begin)))} |`);
    }
    const over = median(times.get('cli')!.map((x) => head(x) + tail(x))) - sdkOver;
    rec.log(`\ntarget: \`ragomics run\` adds ≤ 500 ms (head plus tail) over the SDK: ${ms(over)}, ${over <= 500 ? 'met' : `missed by ${ms(over - 500)}`}` +
      (baseCli ? ` (baseline: ${ms(median(times.get('base')!.map((x) => head(x) + tail(x))) - sdkOver)}).` : '.'));

    const cols: Variant[] = baseCli ? ['traced', 'traced-base'] : ['traced'];
    const parts = new Map(cols.map((v) => [v, traces.get(v)!.map((x) => phases(x.times, x.trace))]));
    const header = baseCli ? ' | this checkout | baseline |\n|---|---|---|' : ' | median |\n|---|---|';
    const table = (title: string, pick: (p: ReturnType<typeof phases>) => [string, number][]): void => {
      rec.log(`\n| ${title}${header}`);
      const rows = pick(parts.get('traced')![0]!).map(([n]) => n);
      rows.forEach((n, i) => rec.log(`| ${n.replace(/\(after the start: its first calls, .*?:/, '(after the start: its first calls:')} | ${cols.map((v) => ms(median(parts.get(v)!.map((p) => pick(p)[i]![1])))).join(' | ')} |`));
    };
    table('head of the traced CLI run, phase (medians)', (p) => p.headParts);
    table('tail of the traced CLI run, phase (medians)', (p) => p.tailParts);
    rec.log(`\nthe first calls after the start: ${cols.map((v) => `${v === 'traced' ? 'this checkout' : 'baseline'}: ${traces.get(v)![0]!.trace.rpcs.filter((r) => r.method !== 'GetWorkflowExecutionHistory').map((r) => r.method).filter((m, i, a) => a.indexOf(m) === i).join(', ')}`).join('; ')}.`);
    rec.log(`\n| module required by bin/ragomics.js and the CLI's files (inclusive of what it loads; the first to load a shared one pays for it), median${header}`);
    const modNames = [...new Set(cols.flatMap((v) => parts.get(v)!.flatMap((p) => [...p.modules.keys()])))];
    for (const n of modNames) {
      const vals = cols.map((v) => median(parts.get(v)!.map((p) => p.modules.get(n) ?? 0)));
      if (vals.some((x) => x >= 1)) rec.log(`| \`${n.replace(/^.*\/dist\//, 'dist/')}\` | ${vals.map(ms).join(' | ')} |`);
    }
    rec.save();
  } finally {
    await rc.close();
    worker.kill('SIGTERM');
    await worker.waitExit(20_000).catch(() => worker.kill('SIGKILL'));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
