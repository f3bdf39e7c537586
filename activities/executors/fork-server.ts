/**
 * The local executor's fork server: ONE long-lived `python -m ragomics_runner --fork-server`
 * (blocks/runtime/ragomics_runner/forkserver.py) that imported anndata, matplotlib and scanpy
 * once and forks one child per node, and the Unix socket through which each child's stdout and
 * stderr reach its attempt's log sink.
 *
 * Control: JSON lines on the server's stdin (jobs) and stdout (`ready`, `started`, `exited`,
 * `rejected`; `exited` may come from the child's own exit report, sent once it closed its output
 * and before the kernel tore its address space down, or from the server's waitpid: once either way); the server's stderr goes to `server.log` in the executor's private folder (mode
 * 0700, removed by close()), where the socket lives too. A child connects twice and writes one
 * header line `{"token","stream"}` on each connection; everything after it is the stream's bytes,
 * piped into the sink with back-pressure (progress lines parsed by the sink as for a cold run).
 *
 * Failure modes, all turned into "run cold" for the caller, never into a failed node: the server
 * not ready yet, dead, or refusing the line → {@link ForkServer.start} returns null. A server that
 * dies is restarted in the background (back-off 0.5 s doubling to 30 s, reset once it is ready);
 * children of a dead server die with it (PR_SET_PDEATHSIG) and their attempts end as SIGKILLed.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ChildPidSchema, ForkControlLineSchema, formatZodError } from '../../common/schemas';
import { settleWithin } from './abort';
import type { LogSink } from './logs';

/** How a forked child ended, as the server's waitpid saw it. */
export interface ForkExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() when the exit report arrived. */
  at: number;
}

/** One node running in a forked child. */
export interface ForkedRun {
  /** The child's pid, also its process group (the child called setsid). */
  readonly pid: number;
  /** Resolves with the exit the server reported (or SIGKILL when the server died first). */
  readonly exited: Promise<ForkExit>;
  /** Resolves once the exit was reported and both output connections ended. */
  readonly closed: Promise<void>;
}

/** Counters of a {@link ForkServer}. */
export interface ForkServerStats {
  /** True while a server is up and has printed its ready line. */
  ready: boolean;
  /** The current server's pid (null while none runs). */
  pid: number | null;
  /** Server processes started so far (1 + restarts). */
  starts: number;
  /** Attempts handed to a forked child. */
  forked: number;
  /** Attempts that asked while the server was not ready, or whose fork it did not confirm (they ran cold or ended aborted). */
  fallbacks: number;
  /** Attempts the server holds now: sent and waiting for their fork, or forked and not yet ended. */
  inFlight: number;
}

/** The fork server of one executor (see the module comment). */
export interface ForkServer {
  /**
   * Forks a child for the job; its output goes to `sink`. Null (the caller runs cold, or ends an
   * aborted attempt) when the server is not ready, dies before forking, rejects the line, does
   * not confirm the fork within {@link START_TIMEOUT_MS}, or `signal` aborts first; a child
   * confirmed after that is killed. Never throws.
   */
  start(job: { jobFile: string; dir: string; threads: number }, sink: LogSink, signal?: AbortSignal): Promise<ForkedRun | null>;
  stats(): ForkServerStats;
  /** Ends the server (stdin EOF, SIGKILL to its group after 2 s), stops restarts, removes the folder. */
  close(): Promise<void>;
}

/** Options of {@link createForkServer}. */
export interface ForkServerOptions {
  python: string;
  /** The server's environment (PYTHONPATH included); nothing of a job is in it. */
  env: NodeJS.ProcessEnv;
  /** Failures of the server (start, early exit); default: a warning on the console. */
  onError?: (message: string) => void;
}

/**
 * A fork the server has not confirmed after this long is given up: the attempt runs cold rather
 * than hang on a stuck server (a fork takes milliseconds; this is far above it on a loaded host).
 */
export const START_TIMEOUT_MS = 15_000;
/** A server not ready after this long is killed and restarted. */
const READY_TIMEOUT_MS = 120_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A header line longer than this is not ours: the connection is dropped. */
const MAX_HEADER = 4096;

interface Pending {
  token: number;
  sink: LogSink;
  started: (pid: number | null) => void;
  pid: number | null;
  exit: ForkExit | null;
  resolveExit: (e: ForkExit) => void;
  ended: number;
  resolveClosed: () => void;
}

type ServerProcess = ChildProcessByStdio<Writable, Readable, null>;

/**
 * Starts the fork server of one executor: a private folder, the socket server, the Python server
 * (started at once, restarted with back-off when it dies). Its handles do not keep the event loop
 * alive while no attempt runs.
 */
export function createForkServer(opts: ForkServerOptions): ForkServer {
  const warn = opts.onError ?? ((m: string) => console.warn(`[ragomics] local fork server: ${m}`));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ragomics-fork-')); // mode 0700
  const socketPath = path.join(dir, 'out.sock');
  const logPath = path.join(dir, 'server.log');
  const pending = new Map<number, Pending>();
  let nextToken = 1;
  let proc: ServerProcess | null = null;
  let ready = false;
  let closing = false;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  const counters = { starts: 0, forked: 0, fallbacks: 0 };

  const finishIfDone = (p: Pending): void => {
    if (p.exit && p.ended >= 2) {
      pending.delete(p.token);
      p.resolveClosed();
      refresh();
    }
  };
  /** Handles keep the loop alive only while an attempt is in flight. */
  const refresh = (): void => {
    const on = pending.size > 0;
    for (const h of [sockets, proc, proc?.stdin, proc?.stdout] as ({ ref?: () => void; unref?: () => void } | null | undefined)[]) {
      if (on) h?.ref?.();
      else h?.unref?.();
    }
  };

  // Each child connects twice: header line, then its stream's bytes.
  const sockets = net.createServer((conn) => {
    conn.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) {
        if (head.length > MAX_HEADER) conn.destroy();
        return;
      }
      conn.off('data', onData);
      let header: { token?: unknown; stream?: unknown };
      try {
        header = JSON.parse(head.subarray(0, nl).toString('utf8')) as typeof header;
      } catch {
        conn.destroy();
        return;
      }
      const p = typeof header.token === 'number' ? pending.get(header.token) : undefined;
      if (!p || (header.stream !== 'stdout' && header.stream !== 'stderr')) {
        conn.destroy();
        return;
      }
      const target = header.stream === 'stdout' ? p.sink.stdout : p.sink.stderr;
      conn.once('close', () => {
        p.ended++;
        finishIfDone(p);
      });
      const rest = head.subarray(nl + 1);
      if (rest.length) target.write(rest);
      conn.pipe(target, { end: false }); // the sink is closed by the attempt, once both ended
    };
    conn.on('data', onData);
  });
  sockets.on('error', (e) => warn(`log socket: ${e.message}`));
  sockets.listen(socketPath);
  sockets.unref();

  const onLine = (line: string): void => {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return warn(`not a control line: ${line.slice(0, 200)}`);
    }
    // Checked before use: a pid from this line may be killed as a group (killGroup).
    const parsed = ForkControlLineSchema.safeParse(raw);
    if (!parsed.success) return warn(`control line dropped (${formatZodError(parsed.error).replace(/\n/g, '; ')}): ${line.slice(0, 200)}`);
    const msg = parsed.data;
    if ('ready' in msg) {
      ready = true;
      failures = 0;
    } else if ('started' in msg) {
      const p = pending.get(msg.started.token);
      if (p) {
        p.pid = msg.started.pid;
        p.started(msg.started.pid);
      } else {
        // Confirmed after its attempt gave up on it (timeout, abort): it must not run unseen.
        killGroup(msg.started.pid);
      }
    } else if ('exited' in msg) {
      const p = pending.get(msg.exited.token);
      if (p && !p.exit) {
        p.exit = { code: msg.exited.code, signal: signalName(msg.exited.signal), at: performance.now() };
        p.resolveExit(p.exit);
        finishIfDone(p);
      }
    } else {
      warn(`job line rejected: ${msg.rejected.error}`);
      const p = msg.rejected.token === null ? undefined : pending.get(msg.rejected.token);
      if (p) {
        pending.delete(p.token);
        p.started(null);
      }
    }
  };

  const launch = (): void => {
    restartTimer = undefined;
    if (closing) return;
    const logFd = openSync(logPath, 'a');
    let child: ServerProcess;
    try {
      child = spawn(opts.python, ['-m', 'ragomics_runner', '--fork-server'], {
        cwd: dir,
        detached: true, // own process group: close() can kill it and nothing else
        stdio: ['pipe', 'pipe', logFd],
        env: opts.env,
      }) as ServerProcess;
    } finally {
      closeSync(logFd);
    }
    counters.starts++;
    proc = child;
    // A spawn refused before its pipes exist (EMFILE, ENFILE) has no stdio: its 'error' ends it
    // below (no pid), and nothing here may throw from the restart timer.
    child.stdin?.on('error', () => undefined); // EPIPE: seen through the exit
    let buf = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (s: string) => {
      buf += s;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onLine(line);
      }
    });
    const readyTimer = setTimeout(() => {
      if (!ready && proc === child) {
        warn(`not ready within ${READY_TIMEOUT_MS / 1000} s; restarting (log: ${logPath})`);
        killGroup(child.pid);
      }
    }, READY_TIMEOUT_MS).unref();
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(readyTimer);
      const wasReady = ready;
      if (proc === child) {
        proc = null;
        ready = false;
      }
      // Children die with the server (PDEATHSIG); their attempts end as killed, unstarted ones run cold.
      for (const p of [...pending.values()]) {
        if (p.pid === null) {
          pending.delete(p.token);
          p.started(null);
        } else if (!p.exit) {
          killGroup(p.pid);
          p.exit = { code: null, signal: 'SIGKILL', at: performance.now() };
          p.resolveExit(p.exit);
          finishIfDone(p);
        }
      }
      if (closing) return;
      if (!wasReady) failures++;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** failures);
      warn(`exited (code ${code}, signal ${signal})${wasReady ? '' : ' before it was ready'}; restarting in ${delay} ms (log: ${logPath})`);
      restartTimer = setTimeout(launch, delay);
      restartTimer.unref();
    };
    child.once('exit', onExit);
    // A spawn that fails (no such interpreter) emits 'error' and never 'exit': it ends the same
    // way, so the server is started again with back-off (the interpreter may appear later),
    // instead of waiting out the ready timeout and then never starting again.
    child.on('error', (e) => {
      warn(`cannot start ${opts.python}: ${e.message}`);
      if (child.pid === undefined) {
        child.removeListener('exit', onExit);
        onExit(null, null);
      }
    });
    refresh();
  };
  launch();

  return {
    async start(job, sink, signal) {
      const server = proc;
      if (!ready || !server || closing) {
        counters.fallbacks++;
        return null;
      }
      const token = nextToken++;
      let resolveExit!: (e: ForkExit) => void;
      let resolveClosed!: () => void;
      let started!: (pid: number | null) => void;
      const exited = new Promise<ForkExit>((r) => (resolveExit = r));
      const closed = new Promise<void>((r) => (resolveClosed = r));
      const pid = new Promise<number | null>((r) => (started = r));
      pending.set(token, { token, sink, started, pid: null, exit: null, resolveExit, ended: 0, resolveClosed });
      refresh();
      server.stdin.write(JSON.stringify({ token, job: job.jobFile, workspace: job.dir, threads: job.threads, socket: socketPath }) + '\n');
      // Resolving with null gives up on the fork: the pending entry goes, and a late `started` finds
      // none (its child is killed).
      const giveUp = (): void => started(null);
      const timer = setTimeout(giveUp, START_TIMEOUT_MS);
      signal?.addEventListener('abort', giveUp, { once: true });
      if (signal?.aborted) giveUp();
      const forked = await pid;
      clearTimeout(timer);
      signal?.removeEventListener('abort', giveUp);
      if (forked === null) {
        pending.delete(token);
        refresh();
        counters.fallbacks++;
        return null;
      }
      counters.forked++;
      return { pid: forked, exited, closed };
    },
    stats: () => ({ ready, pid: proc?.pid ?? null, ...counters, inFlight: pending.size }),
    async close() {
      closing = true;
      clearTimeout(restartTimer);
      const server = proc;
      if (server && server.exitCode === null && server.signalCode === null) {
        server.ref();
        const gone = new Promise<void>((r) => server.once('exit', () => r()));
        server.stdin.end();
        const within = (ms: number) => new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
        if (!(await Promise.race([gone.then(() => true), within(2000)]))) {
          killGroup(server.pid);
          await settleWithin(gone, 2000);
        }
      }
      await new Promise<void>((r) => sockets.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The signal's name for a number waitpid reported (null for none or an unknown number). */
function signalName(n: number | null): NodeJS.Signals | null {
  if (n === null) return null;
  const entry = Object.entries(os.constants.signals).find(([, v]) => v === n);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}

/**
 * SIGKILL to the process group of `pid`; ESRCH (gone) ignored. Nothing is sent for a missing pid
 * or one that is not a child's ({@link ChildPidSchema}: 0 and 1 would reach the worker's own
 * group or every process).
 */
export function killGroup(pid: number | undefined | null): void {
  if (!ChildPidSchema.safeParse(pid).success) return;
  try {
    process.kill(-(pid as number), 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}
