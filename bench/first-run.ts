/**
 * `npm run demo` as a new user meets it (issue 15, goal 4: at most 4 minutes on a brand-new machine).
 * For each commit asked for, one run:
 *   - a fresh `git clone` of this repository at that commit into a new folder (no node_modules,
 *     no dist/, no .data/, no .tools/: the Temporal CLI is installed into the clone's own .tools);
 *   - a PRIVATE Docker engine with an empty data root (scripts/ensure-docker.sh's
 *     RAGOMICS_DOCKERD_ROOT hook, started by the demo's own "Docker engine" step): no image, no
 *     base, no layer cache; the shared engine is never used;
 *   - empty pip and npm download caches (PIP_CACHE_DIR, npm_config_cache in the run's folder)
 *     unless `--machine-caches` (then this machine's ~/.cache/pip and ~/.npm are used);
 *   - its own Temporal dev server on free ports (the demo starts it; 127.0.0.1:7233 is not touched).
 * The whole `npm run demo` is timed from the spawn to its exit, and every
 * `[ragomics] step "NAME" took N.Ns` line it prints is collected; what no step line covers is
 * shown as "untimed" (a step named "… (in the background)" overlaps the others and is left out of
 * that sum; "waiting for the blocks image" is what it still cost). The run must exit 0 and every node of the demo tree must have succeeded,
 * else this exits 1 and records nothing. Afterwards the Temporal server and the private engine
 * are stopped, the engine's data root unmounted and the folder deleted (`--keep` keeps it).
 *
 *   npx tsc -p . && node dist/bench/first-run.js [--ref REF] [--baseline REF] [--machine-caches] [--keep]
 *
 * `--ref` defaults to HEAD (committed state: uncommitted changes are not in a clone); `--baseline`
 * runs that commit first, the same way, for the before/after table. Needs root (dockerd,
 * debootstrap), git, node, python3. Long (minutes per run): `ONLY=first-run npm run bench` only.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from '../activities/executors/repo-root';
import { BenchRecord } from './record';

const REPO = repoRoot();
/** A demo that takes longer than this is killed and the bench fails. */
const DEMO_TIMEOUT_MS = 40 * 60_000;
const STEP_RE = /^\[ragomics\] step "([^"]+)" (?:took|FAILED \(exit \d+\) after) (\d+)\.(\d)s$/;

interface Options {
  ref: string;
  baseline?: string;
  machineCaches: boolean;
  keep: boolean;
}

interface RunResult {
  commit: string;
  totalMs: number;
  /** Step name → ms, in the order the demo printed them. */
  steps: Map<string, number>;
  /** The blocks image build's own lines (base, wheels, build, warm-up), for the breakdown. */
  imageLines: string[];
  nodes: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { ref: 'HEAD', machineCaches: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (!v) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--ref') o.ref = value();
    else if (a === '--baseline') o.baseline = value();
    else if (a === '--machine-caches') o.machineCaches = true;
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown argument ${JSON.stringify(a)} (--ref REF, --baseline REF, --machine-caches, --keep)`);
  }
  return o;
}

/** `git rev-parse --short REF` in this repository; throws when REF is not a commit. */
function resolveCommit(ref: string): string {
  const r = spawnSync('git', ['-C', REPO, 'rev-parse', '--short', `${ref}^{commit}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`--ref/--baseline ${ref}: not a commit of ${REPO}`);
  return r.stdout.trim();
}

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${String(r.status)}): ${r.stderr.trim().slice(-500)}`);
  return r.stdout;
}

/** The environment of a new user's shell: nothing of this session's ragomics/Temporal/Docker settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RAGOMICS_|TEMPORAL_|DOCKER_|NODE_OPTIONS$|npm_)/i.test(k)) continue;
    env[k] = v;
  }
  return env;
}

/** Runs `npm run demo` in CWD with ENV, echoing its output; resolves with the exit code and the lines. */
function runDemo(cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; lines: string[]; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn('npm', ['run', 'demo'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const lines: string[] = [];
    let partial = { out: '', err: '' };
    const feed = (which: 'out' | 'err') => (b: Buffer) => {
      const text = partial[which] + b.toString();
      const parts = text.split('\n');
      partial = { ...partial, [which]: parts.pop() ?? '' };
      for (const l of parts) {
        lines.push(l);
        process.stderr.write(`  | ${l}\n`);
      }
    };
    child.stdout.on('data', feed('out'));
    child.stderr.on('data', feed('err'));
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }, DEMO_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      for (const rest of [partial.out, partial.err]) if (rest) lines.push(rest);
      resolve({ code, lines, ms: Date.now() - t0 });
    });
  });
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
};

/** Stops the run's Temporal server and private dockerd (only the pids their pid files name), unmounts, deletes. */
async function cleanUp(dir: string, clone: string, env: NodeJS.ProcessEnv, keep: boolean): Promise<void> {
  if (existsSync(path.join(clone, 'scripts', 'stop-temporal.sh'))) spawnSync('bash', ['scripts/stop-temporal.sh'], { cwd: clone, env, stdio: 'ignore' });
  const pidFile = path.join(dir, 'd', 'docker.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
  if (pid > 0 && pidAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  // The data root is a mount of its own (dockerd makes it private); overlay mounts may remain below.
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  if (!keep) rmSync(dir, { recursive: true, force: true });
  else console.error(`# kept ${dir}`);
}

/** One fresh-clone demo at COMMIT; throws (after cleaning up) when it did not succeed. */
async function firstRun(commit: string, o: Options): Promise<RunResult> {
  const dir = mkdtempSync('/var/tmp/rfr-');
  const clone = path.join(dir, 'ragomics');
  sh('git', ['clone', '--quiet', '--no-checkout', REPO, clone]);
  sh('git', ['-C', clone, 'checkout', '--quiet', '--detach', commit]);
  const env = cleanEnv();
  const [port, uiPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  Object.assign(env, {
    RAGOMICS_DOCKERD_ROOT: path.join(dir, 'd'),
    DOCKER_HOST: `unix://${path.join(dir, 'd', 'docker.sock')}`,
    TEMPORAL_PORT: String(port),
    TEMPORAL_UI_PORT: String(uiPort),
    RAGOMICS_TEMPORAL_METRICS_PORT: String(metricsPort),
    // The private engine runs in a network namespace of its own with no DNS: its pull of the
    // public base waits out ~17 s of lookups, where the machine's own engine is told "no such
    // host" in 0.2 s. Both fail; the shorter bound keeps that stand-in artifact out of the figure.
    PULL_TIMEOUT: '2',
  });
  if (!o.machineCaches) {
    for (const d of ['pip-cache', 'npm-cache']) mkdirSync(path.join(dir, d));
    env.PIP_CACHE_DIR = path.join(dir, 'pip-cache');
    env.npm_config_cache = path.join(dir, 'npm-cache');
  }
  console.error(`# first run of ${commit} in ${clone} (private engine ${env.DOCKER_HOST}, Temporal 127.0.0.1:${port}, ${o.machineCaches ? "this machine's" : 'empty'} pip/npm caches)`);
  try {
    const demo = await runDemo(clone, env);
    if (demo.code !== 0) throw new Error(`npm run demo at ${commit} exited ${String(demo.code)} after ${(demo.ms / 1000).toFixed(0)} s`);
    const steps = new Map<string, number>();
    for (const l of demo.lines) {
      const m = STEP_RE.exec(l.trim());
      if (m) steps.set(m[1]!, Number(m[2]) * 1000 + Number(m[3]) * 100);
    }
    if (steps.size === 0) throw new Error(`npm run demo at ${commit} printed no step times`);
    // The demo's own summary (its worker is gone by now, so no status query): every node completed.
    const summary = demo.lines.map((l) => /^tree \S+ COMPLETED: (\d+)\/(\d+) completed .* (\d+) failed/.exec(l.trim())).find((m) => m !== null);
    if (!summary || summary[1] !== summary[2] || summary[3] !== '0') throw new Error(`demo tree at ${commit}: no "tree … COMPLETED: n/n completed … 0 failed" line in its output`);
    const nodes = Number(summary[2]);
    const imageLines = demo.lines.map((l) => l.trim()).filter((l) => /^\[build-image\] (base:|wheels:|built |\s*warmup:)|^\[build-base-image\] (debootstrap done|import done)/.test(l));
    return { commit, totalMs: demo.ms, steps, imageLines, nodes };
  } finally {
    await cleanUp(dir, clone, env, o.keep);
  }
}

const s1 = (ms: number | undefined): string => (ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`);

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('first-run needs root (a private dockerd, debootstrap)');
  const after = resolveCommit(o.ref);
  const before = o.baseline ? resolveCommit(o.baseline) : undefined;
  const rec = new BenchRecord('first-run');
  const runs: RunResult[] = [];
  if (before) runs.push(await firstRun(before, o));
  runs.push(await firstRun(after, o));

  rec.log(`# npm run demo from a fresh clone: private Docker engine with an empty data root, ${o.machineCaches ? "this machine's pip/npm download caches" : 'empty pip and npm download caches'}, own Temporal dev server and tools folder`);
  const names: string[] = [];
  for (const r of runs) for (const n of r.steps.keys()) if (!names.includes(n)) names.push(n);
  rec.log(`| step | ${runs.map((r, i) => (before && i === 0 ? `before (${r.commit})` : `after (${r.commit})`)).join(' | ')} |`);
  rec.log(`|---|${runs.map(() => '---:').join('|')}|`);
  for (const n of names) rec.log(`| ${n} | ${runs.map((r) => s1(r.steps.get(n))).join(' | ')} |`);
  // A step "(in the background)" overlaps the others: its time is not part of the sum.
  const untimed = (r: RunResult) => r.totalMs - [...r.steps].filter(([n]) => !n.includes('(in the background)')).reduce((a, [, ms]) => a + ms, 0);
  rec.log(`| untimed (no step line) | ${runs.map((r) => s1(untimed(r))).join(' | ')} |`);
  rec.log(`| **total \`npm run demo\`** | ${runs.map((r) => `**${s1(r.totalMs)}**`).join(' | ')} |`);
  for (const r of runs) {
    rec.log(`# blocks image at ${r.commit} (${r.nodes} demo nodes succeeded)`);
    rec.log(r.imageLines.map((l) => `- \`${l.replace(/`/g, "'")}\``).join('\n'));
  }
  const last = runs[runs.length - 1]!;
  rec.log(`Goal: at most 240 s. ${last.commit}: ${s1(last.totalMs)}${before ? `; ${runs[0]!.commit}: ${s1(runs[0]!.totalMs)} (${(runs[0]!.totalMs / last.totalMs).toFixed(2)}x)` : ''}.`);
  rec.save();
}

main().catch((e: unknown) => {
  console.error(`first-run: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
