/**
 * `npm run demo` as a new user meets it (issue 15, goal 4: at most 4 minutes on a brand-new machine).
 * For each commit asked for, one run:
 *   - a fresh `git clone` of this repository at that commit into a new folder (no node_modules,
 *     no dist/, no .data/, no .tools/: the Temporal CLI is installed into the clone's own .tools);
 *   - a PRIVATE Docker engine with an empty data root, started by this bench (not by the demo, so
 *     that any commit gets one, whatever its scripts/ensure-docker.sh knows): the host's network
 *     namespace (a build's `--network host` reaches PyPI, as the machine's own engine's does), a
 *     bridge of its own (a new `rfr…` interface on a free 10.231.N.0/24, never docker0), no
 *     iptables, no IP forwarding changes. Its start is timed ("Docker engine start") and counted
 *     in the first run's total; the demo is given DOCKER_HOST, so its own "Docker engine" step
 *     only checks that engine;
 *   - the demo runs in a mount namespace of its own where the machine's engine socket
 *     (/var/run/docker.sock) is covered by /dev/null: a script that ignores DOCKER_HOST fails
 *     instead of silently using the shared engine and its images. Afterwards the bench checks the
 *     private engine holds the clone's blocks image and started containers of it
 *     (bench/first-run-checks.ts), else the run fails;
 *   - empty pip and npm download caches (PIP_CACHE_DIR, npm_config_cache in the run's folder)
 *     unless `--machine-caches` (then this machine's ~/.cache/pip and ~/.npm are used);
 *   - its own Temporal dev server on free ports (the demo starts it; 127.0.0.1:7233 is not touched).
 * The whole `npm run demo` is timed from the spawn to its exit, and every
 * `[ragomics] step "NAME" took N.Ns` line it prints is collected; what no step line covers is
 * shown as "untimed" (a step named "… (in the background)" overlaps the others and is left out of
 * that sum; "waiting for the blocks image" is what it still cost). The run must exit 0 and every
 * node of the demo tree must have succeeded, else this exits 1 and records nothing. Afterwards the
 * Temporal server and the private engine are stopped, the engine's mounts unmounted, its bridge
 * deleted and the folder deleted (`--keep` keeps the folder).
 *
 *   npx tsc -p . && node dist/bench/first-run.js [--ref REF] [--baseline REF] [--machine-caches] [--keep]
 *
 * `--ref` defaults to HEAD (committed state: uncommitted changes are not in a clone); `--baseline`
 * runs that commit first, the same way, for the before/after table (scripts/bench.sh passes its
 * BASELINE, 3b9395e under `ONLY=issue15`). Needs root (dockerd, ip, unshare, debootstrap), git,
 * node, python3. Long (minutes per run): only when named (`ONLY=first-run` or `ONLY=issue15`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from '../activities/executors/repo-root';
import { BenchRecord } from './record';
import { completedNodes, parseSteps, pickBridgeSubnet, privateEngineProblem } from './first-run-checks';

const REPO = repoRoot();
/** A demo that takes longer than this is killed and the bench fails. */
const DEMO_TIMEOUT_MS = 40 * 60_000;
/** How long a started private dockerd may take to answer. */
const ENGINE_START_TIMEOUT_MS = 60_000;

interface Options {
  ref: string;
  baseline?: string;
  machineCaches: boolean;
  keep: boolean;
}

interface RunResult {
  commit: string;
  totalMs: number;
  /** The private engine's start, before the demo (part of the first run's total). */
  engineMs: number;
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

/** What a new user waits for: the engine's start (the demo would start it on a new machine) and the demo. */
const firstRunMs = (r: RunResult): number => r.engineMs + r.totalMs;

const s1 = (ms: number | undefined): string => (ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`);

/** The machine's own engine socket (usually /run/docker.sock behind /var/run), or undefined when there is none. */
function sharedSocket(): string | undefined {
  try {
    return realpathSync('/var/run/docker.sock');
  } catch {
    return undefined;
  }
}

/**
 * Runs `npm run demo` in CWD with ENV, echoing its output; resolves with the exit code and the lines.
 * When the machine has an engine socket, the demo runs in a mount namespace of its own where that
 * socket is /dev/null: only DOCKER_HOST (the private engine) answers it.
 */
function runDemo(cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; lines: string[]; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const shared = sharedSocket();
    // Exit 97 (before the demo) when the cover did not take: the run must not reach the shared engine.
    const [cmd, args] = shared
      ? ['unshare', ['--mount', '--propagation', 'private', '--', 'bash', '-c', 'mount --bind /dev/null "$0" && [[ ! -S "$0" ]] || exit 97; exec npm run demo', shared]]
      : ['npm', ['run', 'demo']];
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
      if (code === 97) lines.push('first-run: could not cover the shared engine socket in the demo\'s mount namespace');
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

/** A private engine this bench started: where it lives and how to reach it. */
interface PrivateEngine {
  /** Its folder: data/, exec/, docker.pid, docker.sock, dockerd.log. */
  root: string;
  host: string;
  bridge: string;
  pid: number | undefined;
}

const dockerAt = (host: string, args: string[]) => spawnSync('docker', ['-H', host, ...args], { encoding: 'utf8', timeout: 30_000 });

/**
 * Starts a dockerd with an empty data root under ROOT, in the host's network namespace on a bridge
 * of its own (created here), no iptables; resolves when it answers. The caller stops it with
 * {@link stopEngine} (also after a failure here: ENGINE is filled in as soon as there is something to stop).
 */
async function startEngine(root: string, engine: PrivateEngine): Promise<number> {
  mkdirSync(root, { recursive: true });
  const docker0Before = existsSync('/sys/class/net/docker0');
  const subnet = pickBridgeSubnet(sh('ip', ['-4', 'route']));
  sh('ip', ['link', 'add', engine.bridge, 'type', 'bridge']);
  sh('ip', ['addr', 'add', subnet, 'dev', engine.bridge]);
  sh('ip', ['link', 'set', engine.bridge, 'up']);
  const t0 = Date.now();
  const log = openSync(path.join(root, 'dockerd.log'), 'a');
  const child = spawn('dockerd', [
    '--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec'), '--pidfile', path.join(root, 'docker.pid'),
    '-H', engine.host, '--bridge', engine.bridge, '--iptables=false', '--ip-masq=false', '--ip-forward=false',
    // On a host with a system containerd (/run/containerd/containerd.sock) dockerd attaches to it:
    // namespaces of its own keep the shared engine's containers and images apart from this one's.
    '--containerd-namespace', `${engine.bridge}-moby`, '--containerd-plugins-namespace', `${engine.bridge}-plugins`,
  ], { stdio: ['ignore', log, log], detached: true });
  closeSync(log);
  child.unref();
  engine.pid = child.pid;
  while (dockerAt(engine.host, ['info', '--format', '{{.ServerVersion}}']).status !== 0) {
    if (engine.pid === undefined || !pidAlive(engine.pid)) throw new Error(`the private dockerd exited at start; see ${path.join(root, 'dockerd.log')}`);
    if (Date.now() - t0 > ENGINE_START_TIMEOUT_MS) throw new Error(`the private dockerd did not answer within ${ENGINE_START_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const ms = Date.now() - t0;
  // The shared engine's bridge must survive a second daemon (dockerd deletes docker0 when its bridge is disabled).
  if (docker0Before && !existsSync('/sys/class/net/docker0')) throw new Error('docker0 disappeared when the private dockerd started');
  return ms;
}

/** Stops the private dockerd (only its own pid), unmounts what it left under ROOT's parent, deletes its bridge. */
async function stopEngine(engine: PrivateEngine): Promise<void> {
  const pid = engine.pid;
  if (pid !== undefined && pidAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  if (existsSync(`/sys/class/net/${engine.bridge}`)) spawnSync('ip', ['link', 'del', engine.bridge], { stdio: 'ignore' });
}

/** Stops the run's Temporal server and private engine, unmounts, deletes the folder (unless KEEP). */
async function cleanUp(dir: string, clone: string, env: NodeJS.ProcessEnv, engine: PrivateEngine, keep: boolean): Promise<void> {
  if (existsSync(path.join(clone, 'scripts', 'stop-temporal.sh'))) spawnSync('bash', ['scripts/stop-temporal.sh'], { cwd: clone, env, stdio: 'ignore' });
  await stopEngine(engine);
  // The data root holds overlay mounts; dockerd makes its data root a mount of its own.
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  if (!keep) rmSync(dir, { recursive: true, force: true });
  else console.error(`# kept ${dir}`);
}

/** What the private engine holds after the demo: the evidence {@link privateEngineProblem} judges. */
function engineEvidence(engine: PrivateEngine, clone: string, sinceS: number): Parameters<typeof privateEngineProblem>[0] {
  const tagFile = path.join(clone, '.data', 'blocks-image');
  const tag = existsSync(tagFile) ? readFileSync(tagFile, 'utf8').trim() || undefined : undefined;
  const inspect = tag ? dockerAt(engine.host, ['image', 'inspect', '--format', '{{.Id}}', tag]) : undefined;
  const imageId = inspect?.status === 0 ? inspect.stdout.trim() : undefined;
  const events = dockerAt(engine.host, ['events', '--since', String(sinceS), '--until', String(Math.ceil(Date.now() / 1000)),
    '--filter', 'type=container', '--filter', 'event=start', '--format', '{{index .Actor.Attributes "image"}}']);
  if (events.status !== 0) throw new Error(`docker events on the private engine failed: ${events.stderr.trim()}`);
  return { tag, imageId, startedImages: events.stdout.split('\n').map((l) => l.trim()).filter(Boolean) };
}

/** One fresh-clone demo at COMMIT; throws (after cleaning up) when it did not succeed. */
async function firstRun(commit: string, o: Options): Promise<RunResult> {
  const dir = mkdtempSync('/var/tmp/rfr-');
  const clone = path.join(dir, 'ragomics');
  sh('git', ['clone', '--quiet', '--no-checkout', REPO, clone]);
  sh('git', ['-C', clone, 'checkout', '--quiet', '--detach', commit]);
  const env = cleanEnv();
  const root = path.join(dir, 'd');
  // Interface names are at most 15 characters; the folder's random suffix keeps runs apart.
  const engine: PrivateEngine = { root, host: `unix://${path.join(root, 'docker.sock')}`, bridge: `rfr${path.basename(dir).replace(/^rfr-/, '').replace(/[^A-Za-z0-9]/g, '').slice(0, 8)}`, pid: undefined };
  const [port, uiPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  Object.assign(env, {
    DOCKER_HOST: engine.host,
    TEMPORAL_PORT: String(port),
    TEMPORAL_UI_PORT: String(uiPort),
    RAGOMICS_TEMPORAL_METRICS_PORT: String(metricsPort),
  });
  if (!o.machineCaches) {
    for (const d of ['pip-cache', 'npm-cache']) mkdirSync(path.join(dir, d));
    env.PIP_CACHE_DIR = path.join(dir, 'pip-cache');
    env.npm_config_cache = path.join(dir, 'npm-cache');
  }
  try {
    const engineMs = await startEngine(root, engine);
    console.error(`# first run of ${commit} in ${clone} (private engine ${engine.host} on bridge ${engine.bridge}, up in ${s1(engineMs)}; Temporal 127.0.0.1:${port}; ${o.machineCaches ? "this machine's" : 'empty'} pip/npm caches)`);
    const sinceS = Math.floor(Date.now() / 1000) - 1;
    const demo = await runDemo(clone, env);
    if (demo.code !== 0) throw new Error(`npm run demo at ${commit} exited ${String(demo.code)} after ${(demo.ms / 1000).toFixed(0)} s`);
    const steps = parseSteps(demo.lines);
    if (steps.size === 0) throw new Error(`npm run demo at ${commit} printed no step times`);
    // The demo's own summary (its worker is gone by now, so no status query): every node completed.
    const nodes = completedNodes(demo.lines);
    if (nodes === undefined) throw new Error(`demo tree at ${commit}: no "tree … COMPLETED: n/n completed … 0 failed" line in its output`);
    const problem = privateEngineProblem(engineEvidence(engine, clone, sinceS));
    if (problem) throw new Error(`first run of ${commit} does not count: ${problem}`);
    const imageLines = demo.lines.map((l) => l.trim()).filter((l) => /^\[build-image\] (base:|wheels:|built |\s*warmup:)|^\[build-base-image\] (debootstrap done|import done)/.test(l));
    return { commit, totalMs: demo.ms, engineMs, steps, imageLines, nodes };
  } finally {
    await cleanUp(dir, clone, env, engine, o.keep);
  }
}


async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('first-run needs root (a private dockerd and its bridge, unshare, debootstrap)');
  const after = resolveCommit(o.ref);
  const before = o.baseline ? resolveCommit(o.baseline) : undefined;
  const rec = new BenchRecord('first-run');
  const runs: RunResult[] = [];
  if (before) runs.push(await firstRun(before, o));
  runs.push(await firstRun(after, o));

  rec.log(`# npm run demo from a fresh clone: private Docker engine with an empty data root (started by the bench; the demo's "Docker engine" step checks it), the machine's engine socket hidden from the demo, ${o.machineCaches ? "this machine's pip/npm download caches" : 'empty pip and npm download caches'}, own Temporal dev server and tools folder`);
  const names: string[] = [];
  for (const r of runs) for (const n of r.steps.keys()) if (!names.includes(n)) names.push(n);
  rec.log(`| step | ${runs.map((r, i) => (before && i === 0 ? `before (${r.commit})` : `after (${r.commit})`)).join(' | ')} |`);
  rec.log(`|---|${runs.map(() => '---:').join('|')}|`);
  for (const n of names) rec.log(`| ${n} | ${runs.map((r) => s1(r.steps.get(n))).join(' | ')} |`);
  // A step "(in the background)" overlaps the others: its time is not part of the sum.
  const untimed = (r: RunResult) => r.totalMs - [...r.steps].filter(([n]) => !n.includes('(in the background)')).reduce((a, [, ms]) => a + ms, 0);
  rec.log(`| untimed (no step line) | ${runs.map((r) => s1(untimed(r))).join(' | ')} |`);
  rec.log(`| total \`npm run demo\` | ${runs.map((r) => s1(r.totalMs)).join(' | ')} |`);
  rec.log(`| Docker engine start (by the bench, before the demo) | ${runs.map((r) => s1(r.engineMs)).join(' | ')} |`);
  rec.log(`| **first run: engine start + \`npm run demo\`** | ${runs.map((r) => `**${s1(firstRunMs(r))}**`).join(' | ')} |`);
  for (const r of runs) {
    rec.log(`# blocks image at ${r.commit} (${r.nodes} demo nodes succeeded)`);
    rec.log(r.imageLines.map((l) => `- \`${l.replace(/`/g, "'")}\``).join('\n'));
  }
  const last = runs[runs.length - 1]!;
  rec.log(`Goal: at most 240 s. ${last.commit}: ${s1(firstRunMs(last))}${before ? `; ${runs[0]!.commit}: ${s1(firstRunMs(runs[0]!))} (${(firstRunMs(runs[0]!) / firstRunMs(last)).toFixed(2)}x)` : ''}.`);
  rec.save();
}

main().catch((e: unknown) => {
  console.error(`first-run: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
