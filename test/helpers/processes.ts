/**
 * Real processes for the reliability suite: ragomics workers, a private Temporal dev server and
 * a private Docker engine, each started, signalled and waited for by pid. Every process started
 * here is recorded, and {@link killEverythingStarted} (also run when the test process exits)
 * SIGKILLs whatever is still alive, so a failing test leaves nothing behind. Nothing here ever
 * touches the shared server (7233) or the system dockerd.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../activities/executors/repo-root';

const run = promisify(execFile);

/** The checkout, found the one way (activities/executors/repo-root.ts). */
export const REPO_ROOT = repoRoot();
const WORKER_MAIN = path.join(REPO_ROOT, 'dist', 'test', 'fixtures', 'reliability', 'worker-main.js');
const WORKFLOW_BUNDLE = process.env.RAGOMICS_WORKFLOW_BUNDLE ?? path.join(REPO_ROOT, 'dist', 'workflow-bundle.js');

// ---- bookkeeping ---------------------------------------------------------------------------

const started = new Map<number, string>();
/** Synchronous last-resort cleanups (umounts), run after the kills. */
const lastResorts: (() => void)[] = [];

function remember(pid: number | undefined, what: string): void {
  if (pid) started.set(pid, what);
}

/** True when `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * SIGKILLs every process this module started that is still alive (only those whose description
 * `which` accepts, e.g. workers only); returns what it killed.
 */
export function killEverythingStarted(which: (what: string) => boolean = () => true): string[] {
  const killed: string[] = [];
  for (const [pid, what] of started) {
    if (!which(what)) continue;
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(`${what} (pid ${pid})`);
      } catch {
        // gone meanwhile
      }
    }
    started.delete(pid);
  }
  if (started.size > 0) return killed;
  for (const f of lastResorts.splice(0)) {
    try {
      f();
    } catch {
      // best effort
    }
  }
  return killed;
}
process.once('exit', () => void killEverythingStarted());

/** Pids of live processes (not this one) whose command line (arguments joined by spaces) contains `needle`. */
export function pidsWithCommandLine(needle: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(needle) && isAlive(pid)) pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * After a failed start: SIGKILLs every process whose command line contains `needle` (what the
 * start script had spawned in the background: a server still starting, a daemon and its
 * containerd) and waits up to 10 s for each to be gone. Returns "pid (command)" per process killed.
 */
export async function killStartedByFailedStart(needle: string): Promise<string[]> {
  const killed: string[] = [];
  // Until a scan a second after the last kill finds nothing: a launcher the script forked just
  // before it failed may exec (and so show the needle) a moment later.
  for (let round = 0; round < 5; round++) {
    const pids = pidsWithCommandLine(needle);
    if (pids.length === 0 && round > 0) break;
    for (const pid of pids) {
      let cmd = '?';
      try {
        cmd = path.basename(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '?');
        process.kill(pid, 'SIGKILL');
      } catch {
        continue; // gone meanwhile
      }
      started.delete(pid);
      await waitForPidExit(pid, 10_000);
      killed.push(`${pid} (${cmd})`);
    }
    await sleep(1000);
  }
  return killed;
}

/** Waits until `pid` is gone (or a zombie); false after `timeoutMs`. */
export async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > end) return false;
    await sleep(100);
  }
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `everyMs` until it returns a truthy value; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(what: string, check: () => Promise<T> | T, timeoutMs: number, everyMs = 200): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * A free TCP port on 127.0.0.1, bound and released. It is picked at random BELOW the kernel's
 * ephemeral range (net.ipv4.ip_local_port_range): a port the kernel hands out (port 0) can be
 * taken by any outgoing connection before the server that gets it binds it, seconds or minutes
 * later for a compose stack; one below the range can be taken only by another listener. Without
 * the range (not Linux), the kernel's choice.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  for (let tries = 0; low !== undefined && low > 11_000 && tries < 50; tries++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (await canBind(port)) return port;
  }
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The first port of the kernel's ephemeral range, or undefined when it cannot be read. */
function ephemeralLow(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a server can listen on `port` on every address now (it is closed again at once): a
 * listener on any local address, which a later bind of all addresses (docker-proxy) would meet,
 * makes it false.
 */
async function canBind(port: number): Promise<boolean> {
  const srv = createServer();
  try {
    srv.listen(port);
    await once(srv, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    if (srv.listening) await new Promise((r) => srv.close(r));
  }
}

/** A temporary folder that {@link removeTree} can delete even when published outputs (0555) are in it. */
export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `${prefix}-`));
}

/** Deletes a folder, read-only published outputs included. */
export async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  await run('chmod', ['-R', 'u+rwX', dir]).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

// ---- workers -------------------------------------------------------------------------------

/** Options of {@link spawnWorker}; everything else comes from this process's environment. */
export interface WorkerProcessOptions {
  address: string;
  taskQueue: string;
  workspace: string;
  workerId: string;
  executor?: 'docker' | 'inprocess' | 'local';
  /** RAGOMICS_SHUTDOWN_GRACE in seconds. @default 30 */
  shutdownGraceSeconds?: number;
  /** RAGOMICS_MAX_CONCURRENT_NODES. @default 4 */
  maxConcurrentNodes?: number;
  /** DOCKER_HOST of the worker (a private engine). @default the system engine */
  dockerHost?: string;
  /** RAGOMICS_BLOCKS_IMAGE. @default this process's RAGOMICS_BLOCKS_IMAGE */
  blocksImage?: string;
  /** Folder for the worker's log file. @default the workspace's parent */
  logDir?: string;
  /** How long {@link WorkerProcess.ready} waits for "worker started" before it rejects. @default {@link WORKER_READY_MS} */
  readyTimeoutMs?: number;
  env?: Record<string, string>;
}

/**
 * How long a worker process may take to log "worker started" (connect, orphan cleanup, load the
 * workflow bundle: seconds when healthy; generous for a loaded 2-core machine).
 */
export const WORKER_READY_MS = 60_000;

/** A worker running as its own process. */
export interface WorkerProcess {
  readonly workerId: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** JSON log lines (stderr) and stdout of the worker. */
  readonly logFile: string;
  /**
   * Resolves once the worker logged "worker started" (it polls right after); rejects if it exits
   * first, or after `readyTimeoutMs` (the message names the worker, its pid, the limit and the
   * log's tail; the process is left for the case's cleanup to kill).
   */
  readonly ready: Promise<void>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** True after a graceful shutdown (runWorker resolved). */
  gracefulExit(): boolean;
  kill(signal: NodeJS.Signals): void;
  /** Waits for the exit; throws after `timeoutMs`. */
  waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** The log so far. */
  log(): string;
}

/** Starts `node dist/test/fixtures/reliability/worker-main.js` with the worker's environment. */
export function spawnWorker(opts: WorkerProcessOptions): WorkerProcess {
  if (!existsSync(WORKER_MAIN)) throw new Error(`${WORKER_MAIN} is missing: run npx tsc -p . first`);
  const logDir = opts.logDir ?? path.dirname(opts.workspace);
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${opts.workerId}.log`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: opts.address,
    RAGOMICS_TASK_QUEUE: opts.taskQueue,
    RAGOMICS_WORKSPACE: opts.workspace,
    RAGOMICS_EXECUTOR: opts.executor ?? 'docker',
    RAGOMICS_WORKER_ID: opts.workerId,
    RAGOMICS_WORKFLOW_BUNDLE: WORKFLOW_BUNDLE,
    RAGOMICS_SHUTDOWN_GRACE: String(opts.shutdownGraceSeconds ?? 30),
    RAGOMICS_MAX_CONCURRENT_NODES: String(opts.maxConcurrentNodes ?? 4),
    RAGOMICS_LOG_LEVEL: process.env.RAGOMICS_RELIABILITY_WORKER_LOG_LEVEL ?? 'INFO',
    RAGOMICS_TEST_PARENT_PID: String(process.pid),
    ...opts.env,
  };
  if (opts.blocksImage) env.RAGOMICS_BLOCKS_IMAGE = opts.blocksImage;
  if (opts.dockerHost) env.DOCKER_HOST = opts.dockerHost;
  else delete env.DOCKER_HOST;
  const child = spawn(process.execPath, [WORKER_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
  if (!child.pid) throw new Error(`could not start worker ${opts.workerId}`);
  const pid = child.pid;
  remember(pid, `worker ${opts.workerId}`);
  const out: WriteStream = createWriteStream(logFile, { flags: 'a' });
  let text = '';
  let graceful = false;
  let signalReady: () => void = () => undefined;
  let failReady: (e: Error) => void = () => undefined;
  const readyTimeoutMs = opts.readyTimeoutMs ?? WORKER_READY_MS;
  let readyTimer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    signalReady = resolve;
    failReady = reject;
    readyTimer = setTimeout(() => reject(new Error(
      `worker ${opts.workerId} (pid ${pid}) did not log "worker started" within ${readyTimeoutMs} ms; log ${logFile}:\n${text.slice(-3000)}`,
    )), readyTimeoutMs);
    // The limit must not keep a finished test process alive.
    readyTimer.unref();
  });
  ready.catch(() => undefined).finally(() => clearTimeout(readyTimer));
  const onData = (chunk: Buffer): void => {
    const s = chunk.toString('utf8');
    out.write(s);
    // Keep a bounded tail in memory for assertions and error messages.
    text = (text + s).slice(-200_000);
    if (s.includes('"msg":"worker started"')) signalReady();
    if (s.includes('RAGOMICS_WORKER_EXIT {"code":0}')) graceful = true;
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  // 'close' comes after both pipes are drained (not a fixed delay after 'exit').
  child.once('close', () => out.end());
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => {
      const at = Date.now();
      started.delete(pid);
      failReady(new Error(`worker ${opts.workerId} exited (code ${code}, signal ${signal}) before it was ready; log ${logFile}:\n${text.slice(-3000)}`));
      resolve({ code, signal, at });
    });
  });
  return {
    workerId: opts.workerId,
    pid,
    child,
    logFile,
    ready,
    exited,
    gracefulExit: () => graceful,
    kill: (signal) => {
      if (isAlive(pid)) process.kill(pid, signal);
    },
    waitExit: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`worker ${opts.workerId} (pid ${pid}) did not exit within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    log: () => text,
  };
}

// ---- a private Temporal dev server ------------------------------------------------------------

/** A Temporal dev server of our own (own port, own SQLite DB), started through scripts/ensure-temporal.sh. */
export class PrivateTemporalServer {
  readonly dataDir: string;
  /** How long ensure-temporal.sh waits for the server to answer (RAGOMICS_TEMPORAL_START_TIMEOUT), s. */
  readonly startTimeoutS: number;
  port = 0;
  uiPort = 0;
  pid = 0;

  /** @param startTimeoutS how long a start waits for the server to answer. @default 60 */
  constructor(dataDir: string, opts: { startTimeoutS?: number } = {}) {
    this.dataDir = dataDir;
    this.startTimeoutS = opts.startTimeoutS ?? 60;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get dbFile(): string {
    return path.join(this.dataDir, 'temporal', 'ragomics.db');
  }

  get logFile(): string {
    return path.join(this.dataDir, 'temporal', 'server.log');
  }

  /**
   * Starts it (first call picks free ports; later calls reuse them and the DB). Returns ms taken.
   * On a failed start (the script failed or ran out of time), the server it may have spawned in
   * the background (found by its `--db-filename`, this server's own DB) is SIGKILLed before this
   * throws, so nothing outlives the failure.
   */
  async start(): Promise<number> {
    if (!this.port) {
      this.port = await freePort();
      do this.uiPort = await freePort(); while (this.uiPort === this.port);
    }
    const t0 = Date.now();
    const env = {
      ...process.env, TEMPORAL_PORT: String(this.port), TEMPORAL_UI_PORT: String(this.uiPort), RAGOMICS_DATA_DIR: this.dataDir, TEMPORAL_NAMESPACE: 'default',
      RAGOMICS_TEMPORAL_START_TIMEOUT: String(this.startTimeoutS),
    };
    try {
      await run('bash', [path.join(REPO_ROOT, 'scripts', 'ensure-temporal.sh')], { env, timeout: (this.startTimeoutS + 60) * 1000, maxBuffer: 1 << 24 });
      this.pid = Number(readFileSync(path.join(this.dataDir, 'temporal', 'server.pid'), 'utf8').trim());
      remember(this.pid, `temporal server ${this.address}`);
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      const killed = await killStartedByFailedStart(`--db-filename ${this.dbFile}`);
      this.pid = 0;
      throw new Error(`ensure-temporal.sh failed for the private server on ${this.address}: ${err.stderr || err.message}${killed.length ? `\nkilled what it had started: ${killed.join(', ')}` : ''}`);
    }
    return Date.now() - t0;
  }

  /** Sends `signal` to the server and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 30_000): Promise<void> {
    if (!this.pid || !isAlive(this.pid)) return;
    process.kill(this.pid, signal);
    if (!(await waitForPidExit(this.pid, timeoutMs))) throw new Error(`temporal server pid ${this.pid} did not exit after ${signal}`);
    started.delete(this.pid);
  }

  /** Stops it (scripts/stop-temporal.sh: SIGTERM, then SIGKILL) and deletes its data dir. */
  async destroy(): Promise<void> {
    if (this.pid && isAlive(this.pid)) {
      await run('bash', [path.join(REPO_ROOT, 'scripts', 'stop-temporal.sh')], { env: { ...process.env, RAGOMICS_DATA_DIR: this.dataDir, RAGOMICS_TEMPORAL_STOP_TIMEOUT: '10' }, timeout: 60_000 }).catch(() => undefined);
      if (isAlive(this.pid)) await this.kill('SIGKILL');
    }
    started.delete(this.pid);
    await removeTree(this.dataDir);
  }
}

// ---- a private Docker engine -----------------------------------------------------------------

/**
 * A dockerd of our own (scripts/ensure-docker.sh's RAGOMICS_DOCKERD_ROOT hook): own data root,
 * socket and pid file, no bridge and no iptables. Only containers with `--network none` run on
 * it, which is what the executor creates for blocks.
 */
export class PrivateDockerd {
  readonly root: string;
  /** Holds ensure-docker.sh's log and lock (never the system daemon's). */
  readonly dataDir: string;
  /** How long ensure-docker.sh waits for the daemon to answer (RAGOMICS_DOCKER_START_TIMEOUT), s. */
  readonly startTimeoutS: number;
  /** What the last successful {@link start}'s script printed on stderr (its steps). */
  lastStartLog = '';
  /** Extra dockerd arguments (RAGOMICS_DOCKERD_ARGS), space-separated; empty for the caller's own. */
  readonly extraArgs: string;
  pid = 0;

  /**
   * @param startTimeoutS how long a start waits for the daemon to answer. @default 60
   * @param extraArgs extra dockerd arguments, space-separated (a test's bad flag). @default ''
   */
  constructor(root: string, opts: { startTimeoutS?: number; extraArgs?: string } = {}) {
    this.root = root;
    this.dataDir = path.join(root, 'state');
    this.startTimeoutS = opts.startTimeoutS ?? 60;
    this.extraArgs = opts.extraArgs ?? '';
  }

  get socket(): string {
    return path.join(this.root, 'docker.sock');
  }

  /** DOCKER_HOST value for clients of this engine. */
  get host(): string {
    return `unix://${this.socket}`;
  }

  get logFile(): string {
    return path.join(this.dataDir, 'docker', 'dockerd.log');
  }

  /**
   * Starts the daemon and waits until it answers; returns ms taken. On a failed start (the script
   * failed or ran out of time), every process it may have left (the daemon, its containerd:
   * found by this engine's root in their command lines) is SIGKILLed and what they mounted
   * below the root is unmounted before this throws, so nothing outlives the failure.
   */
  async start(): Promise<number> {
    const t0 = Date.now();
    const env: NodeJS.ProcessEnv = { ...process.env, RAGOMICS_DOCKERD_ROOT: this.root, RAGOMICS_DATA_DIR: this.dataDir, RAGOMICS_DOCKER_START_TIMEOUT: String(this.startTimeoutS) };
    // Only a test's own flags replace the caller's (a --storage-driver the host needs stays otherwise).
    if (this.extraArgs) env.RAGOMICS_DOCKERD_ARGS = this.extraArgs;
    delete env.DOCKER_HOST;
    const root = this.root;
    try {
      // A start may take two waits for the daemon (the script starts an exiting one once more) and two for its launcher.
      const { stderr } = await run('bash', [path.join(REPO_ROOT, 'scripts', 'ensure-docker.sh')], { env, timeout: (2 * this.startTimeoutS + 80) * 1000 });
      this.lastStartLog = stderr;
      this.pid = Number(readFileSync(path.join(this.root, 'docker.pid'), 'utf8').trim());
      remember(this.pid, `private dockerd ${this.root}`);
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      const killed = await killStartedByFailedStart(root);
      unmountBelowSync(root);
      this.pid = 0;
      throw new Error(`ensure-docker.sh (private root ${this.root}) failed: ${err.stderr || err.message}${killed.length ? `\nkilled what it had started: ${killed.join(', ')}` : ''}`);
    }
    lastResorts.push(() => unmountBelowSync(root));
    return Date.now() - t0;
  }

  /** True when the daemon this object started is alive (`pid` is 0 after {@link stop} or a failed start). */
  isRunning(): boolean {
    return this.pid !== 0 && isAlive(this.pid);
  }

  /** Stops the daemon with `signal` and waits until it is gone (then `pid` is 0); returns ms taken. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<number> {
    const t0 = Date.now();
    if (!this.isRunning()) {
      this.pid = 0;
      return 0;
    }
    process.kill(this.pid, signal);
    if (!(await waitForPidExit(this.pid, timeoutMs))) {
      process.kill(this.pid, 'SIGKILL');
      if (!(await waitForPidExit(this.pid, 10_000))) throw new Error(`private dockerd pid ${this.pid} survived SIGKILL for 10 s`);
    }
    started.delete(this.pid);
    this.pid = 0;
    return Date.now() - t0;
  }

  /** `docker` CLI against this engine. */
  async docker(args: string[], timeoutMs = 60_000): Promise<string> {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: this.host };
    const { stdout } = await run('docker', args, { env, timeout: timeoutMs, maxBuffer: 1 << 26 });
    return stdout;
  }

  /**
   * Copies an image of the system engine into this one (`docker save | docker load`); returns ms
   * taken. Both processes are killed and this throws after `timeoutMs` (a hung engine fails the
   * test instead of hanging it).
   */
  async loadImage(tag: string, timeoutMs = 300_000): Promise<number> {
    const t0 = Date.now();
    const save = spawn('docker', ['save', tag], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOCKER_HOST: '' } });
    const loadEnv: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: this.host };
    const load = spawn('docker', ['load', '-q'], { stdio: ['pipe', 'pipe', 'pipe'], env: loadEnv });
    remember(save.pid, 'docker save');
    remember(load.pid, 'docker load');
    save.stdout!.pipe(load.stdin!);
    let err = '';
    save.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    load.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        for (const p of [save, load]) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
        reject(new Error(`docker save ${tag} | docker load did not finish within ${timeoutMs} ms: ${err}`));
      }, timeoutMs);
    });
    const [[saveCode], [loadCode]] = await Promise.race([Promise.all([once(save, 'exit'), once(load, 'exit')]), timeout]).finally(() => clearTimeout(timer));
    if (saveCode !== 0 || loadCode !== 0) throw new Error(`docker save ${tag} | docker load failed (${saveCode}/${loadCode}): ${err}`);
    return Date.now() - t0;
  }

  /** Stops the daemon (if running), unmounts what it left mounted and deletes its root. */
  async destroy(): Promise<void> {
    if (this.isRunning()) {
      // Containers first, so the daemon does not wait for them on shutdown.
      await this.docker(['ps', '-aq']).then((ids) => (ids.trim() ? this.docker(['rm', '-f', ...ids.trim().split(/\s+/)]) : '')).catch(() => undefined);
      await this.stop('SIGTERM', 30_000);
    }
    // Its containerd (started by this dockerd under the exec root) exits with it; make sure.
    const cpidFile = path.join(this.root, 'exec', 'containerd', 'containerd.pid');
    if (existsSync(cpidFile)) {
      const cpid = Number(readFileSync(cpidFile, 'utf8').trim());
      if (cpid && isAlive(cpid) && readFileSync(`/proc/${cpid}/cmdline`, 'utf8').includes(this.root)) process.kill(cpid, 'SIGKILL');
    }
    unmountBelowSync(this.root);
    await removeTree(this.root);
  }
}

/** Lazily unmounts every mount point at or below `dir`, deepest first (dockerd leaves overlay and bind mounts). */
function unmountBelowSync(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    // umount -l never blocks on a busy mount.
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // already gone
    }
  }
}

/** Last `bytes` of a file ('' when it does not exist). */
export function tailOf(file: string, bytes = 4000): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(bytes, size));
      readSync(fd, buf, 0, buf.length, Math.max(0, size - buf.length));
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}
