/**
 * The peer engines of bench/peers.ts, driven the way a user drives them, from the venv that
 * scripts/ensure-peers.sh makes (pins in bench/peers/requirements.txt):
 *  - Snakemake: the `snakemake` command per run (local executor, `--cores <slots>`, one job = one
 *    `shell:` process running task.py; bench/peers/Snakefile), timed from the spawn to its exit;
 *  - Prefect 3: `prefect server start` on a private port with SQLite in a private PREFECT_HOME,
 *    started once before the rounds (its start-up is reported apart), and one long-lived Python
 *    process (bench/peers/driver.py) calling the flow; each run is timed from the request to its
 *    reply, like ragomics from `startTree` to `result()`;
 *  - Luigi: the same driver calling `luigi.build` with the local scheduler.
 * Every task writes its own interval to `<out>/<id>.t` (bench/peers/task.py).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, writeFileSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../../activities/executors/repo-root';
import type { Workload } from './shapes';

/** Folder of this module's Python and Snakemake files (in the source tree: dist/ holds only the compiled TypeScript). */
export const PEERS_SRC = path.join(repoRoot(), 'bench', 'peers');

/**
 * The peers venv's bin folder: PEERS_VENV_BIN, else `<RAGOMICS_TOOLS_DIR or .tools>/peers-venv/bin`.
 * @throws Error (one line) when it has no `python`: run scripts/ensure-peers.sh.
 */
export function peersBin(env: NodeJS.ProcessEnv = process.env): string {
  const bin = env.PEERS_VENV_BIN ?? path.join(env.RAGOMICS_TOOLS_DIR ?? path.join(repoRoot(), '.tools'), 'peers-venv', 'bin');
  if (!existsSync(path.join(bin, 'python'))) throw new Error(`no peers venv at ${bin} (run scripts/ensure-peers.sh, or set PEERS_VENV_BIN)`);
  return bin;
}

/** A free TCP port on 127.0.0.1 (taken by the OS, then released for the server to bind). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Ends a process group this module started (detached), politely first. */
async function endGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
  const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ } }, 10_000);
  await exited;
  clearTimeout(timer);
}

/** A Prefect server of this benchmark's own: private port, SQLite in `home`, no UI, no analytics. */
export interface PrefectServer { apiUrl: string; home: string; startupMs: number; close(): Promise<void> }

/**
 * Starts `prefect server start` and waits until `/api/health` answers (up to `timeoutMs`).
 * The UI is off (PREFECT_UI_ENABLED=false): it serves static files only and the runs do not use it.
 * @throws Error naming the log file when the server exits or does not answer in time.
 */
export async function startPrefectServer(bin: string, home: string, logFile: string, timeoutMs = 180_000): Promise<PrefectServer> {
  const port = await freePort();
  const env = { ...process.env, PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: 'false', PREFECT_UI_ENABLED: 'false' };
  const t0 = Date.now();
  const log = createWriteStream(logFile);
  const child = spawn(path.join(bin, 'prefect'), ['server', 'start', '--host', '127.0.0.1', '--port', String(port)], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const apiUrl = `http://127.0.0.1:${port}/api`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prefect server exited with ${child.exitCode} before answering (see ${logFile})`);
    if (Date.now() - t0 > timeoutMs) {
      await endGroup(child);
      throw new Error(`prefect server did not answer ${apiUrl}/health within ${timeoutMs / 1000} s (see ${logFile})`);
    }
    const ok = await fetch(`${apiUrl}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { apiUrl, home, startupMs: Date.now() - t0, close: () => endGroup(child) };
}

/**
 * One long-lived bench/peers/driver.py process (`prefect` or `luigi`): requests go to its stdin
 * as JSON lines, replies come back as `PEERS-REPLY` lines; its other output goes to `logFile`.
 */
export class PeerDriver {
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private waiter: { resolve: (line: string) => void; reject: (e: Error) => void; prefix: string } | null = null;
  private exited: Error | null = null;

  private constructor(readonly engine: 'prefect' | 'luigi', bin: string, env: NodeJS.ProcessEnv, readonly logFile: string) {
    this.log = createWriteStream(logFile);
    this.child = spawn(path.join(bin, 'python'), [path.join(PEERS_SRC, 'driver.py'), engine], { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.pipe(this.log);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const w = this.waiter;
      if (w && line.startsWith(w.prefix)) {
        this.waiter = null;
        w.resolve(line.slice(w.prefix.length));
      } else this.log.write(`${line}\n`);
    });
    this.child.once('exit', (code, signal) => {
      this.exited = new Error(`driver.py ${engine} exited (${code ?? signal}); see ${logFile}`);
      this.waiter?.reject(this.exited);
      this.waiter = null;
    });
  }

  /** Starts the driver and waits until it has imported its engine. */
  static async start(engine: 'prefect' | 'luigi', bin: string, env: NodeJS.ProcessEnv, logFile: string): Promise<PeerDriver> {
    const d = new PeerDriver(engine, bin, env, logFile);
    await d.next('PEERS-READY');
    return d;
  }

  private next(prefix: string): Promise<string> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject, prefix }; });
  }

  /**
   * Runs `w` with the tasks writing to `out`; resolves with the time from the request to the reply.
   * @throws Error with the engine's error line when the run failed (traceback in the log).
   */
  async run(w: Workload, out: string, mode: string): Promise<number> {
    const line = `${JSON.stringify({ nodes: w.nodes, slots: w.slots, out, mode })}\n`;
    const reply = this.next('PEERS-REPLY ');
    const t0 = performance.now();
    this.child.stdin!.write(line);
    const r = JSON.parse(await reply) as { ok: boolean; error?: string };
    const ms = performance.now() - t0;
    if (!r.ok) throw new Error(`${this.engine} (${mode}), ${w.key}: ${r.error} (see ${this.logFile})`);
    return ms;
  }

  /** Ends the driver (EOF on stdin, then its process group). */
  async close(): Promise<void> {
    this.child.stdin!.end();
    await endGroup(this.child);
  }
}

/**
 * Runs `w` through `snakemake` in `workdir` (kept across runs, as a user's project folder is), the
 * tasks writing to `workdir/<outName>`; resolves with the time from the spawn to the exit.
 * @throws Error naming the log file when snakemake exits non-zero.
 */
export async function runSnakemake(bin: string, w: Workload, workdir: string, outName: string, logFile: string): Promise<number> {
  const shape = path.join(workdir, `${outName}.json`);
  writeFileSync(shape, JSON.stringify({ nodes: w.nodes }));
  const args = ['-s', path.join(PEERS_SRC, 'Snakefile'), '-d', workdir, '--cores', String(w.slots),
    '--config', `shape=${shape}`, `out=${outName}`, `py=${path.join(bin, 'python')}`, `task=${path.join(PEERS_SRC, 'task.py')}`];
  const log = createWriteStream(logFile, { flags: 'a' });
  const t0 = performance.now();
  const child = spawn(path.join(bin, 'snakemake'), args, { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const code = await new Promise<number | string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve(c ?? String(s)));
  });
  const ms = performance.now() - t0;
  log.end();
  if (code !== 0) throw new Error(`snakemake, ${w.key}: exited ${code} (see ${logFile})`);
  return ms;
}
