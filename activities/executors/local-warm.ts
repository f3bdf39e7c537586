/**
 * One pooled runner process of the local executor: `python -m ragomics_runner --warm`, started
 * before its node is known (see blocks/runtime/ragomics_runner/warm.py), and the hand-over of
 * its output to an attempt's logs.
 *
 * Output before the `RAGOMICS_WARM_READY` line is warm-up chatter and is discarded; stdout after
 * it belongs to the job and reaches the attempt's log sink byte for byte (buffered while nobody
 * is assigned). stderr written before the assignment is discarded when the process was ready by
 * then (warm-up warnings), else kept for the job, since a cold run would have logged it too.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { LogSink } from './logs';

/** The line the warm runner prints when it waits for its job (warm.py READY_LINE). */
export const WARM_READY_LINE = 'RAGOMICS_WARM_READY';
/** Bytes kept of output nobody reads yet (pre-ready partial lines, idle stderr); beyond it the oldest is dropped. */
const MAX_HELD = 64 * 1024;

/** How a warm member ended: the child's 'exit' event. */
export interface WarmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() of the exit event. */
  at: number;
}

/** A pooled runner process (see the module comment). */
export interface LocalWarmMember {
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly pid: number;
  /** Epoch ms of the spawn event. */
  readonly spawnedAt: number;
  /** Resolves on the child's 'exit'. */
  readonly exited: Promise<WarmExit>;
  /** Resolves on 'close' (stdio drained). */
  readonly closed: Promise<void>;
  /** The exit, once it happened (null while the process lives). */
  exit(): WarmExit | null;
  /** True once the ready line was read. */
  ready(): boolean;
  /**
   * Hands the job's output to `sink` (everything the job printed so far first, then the rest as
   * it comes, with back-pressure) and makes the child keep the worker's event loop alive again.
   */
  assign(sink: LogSink): void;
}

/** Spawn options of {@link spawnWarmMember}. */
export interface WarmSpawnOptions {
  python: string;
  /** The environment (PYTHONPATH included); the same for every member: nothing of a job is in it. */
  env: NodeJS.ProcessEnv;
  /** Called once if the process exits before it was assigned (the pool drops it). */
  onIdleExit(member: LocalWarmMember): void;
}

/**
 * Starts one warm runner in its own process group (abort kills the group, as for a cold run).
 * Resolves once the process exists; rejects when it cannot be spawned (missing interpreter).
 * An idle member does not keep the worker's event loop alive.
 */
export async function spawnWarmMember(opts: WarmSpawnOptions): Promise<LocalWarmMember> {
  const child = spawn(opts.python, ['-m', 'ragomics_runner', '--warm'], {
    cwd: os.tmpdir(), // the runner changes into the job's workspace once it has one
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: opts.env,
  });
  let exitInfo: WarmExit | null = null;
  let assigned = false;
  const self: { member?: LocalWarmMember } = {}; // set below, once the member exists
  const exited = new Promise<WarmExit>((resolve) =>
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal, at: performance.now() };
      resolve(exitInfo);
      if (!assigned && self.member) opts.onIdleExit(self.member);
    }),
  );
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const spawnError = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', resolve);
  });
  child.on('error', () => undefined); // later errors (a kill of a dead pid) are not fatal
  child.stdin.on('error', () => undefined); // EPIPE when the process is gone: seen through its exit
  if (spawnError || child.pid === undefined) throw spawnError ?? new Error(`cannot start ${opts.python}`);
  const spawnedAt = Date.now();

  // stdout: discard lines up to the ready line; after it, bytes go to the sink or wait for it.
  let isReady = false;
  let preReady: Buffer = Buffer.alloc(0);
  let held: Buffer[] = [];
  let heldBytes = 0;
  let sink: LogSink | null = null;
  const hold = (chunk: Buffer): void => {
    held.push(chunk);
    heldBytes += chunk.length;
    while (heldBytes > MAX_HELD && held.length > 1) heldBytes -= held.shift()!.length;
  };
  const forward = (chunk: Buffer): void => {
    if (chunk.length === 0) return;
    if (!sink) return hold(chunk);
    if (!sink.stdout.write(chunk)) {
      child.stdout.pause();
      sink.stdout.once('drain', () => child.stdout.resume());
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    if (isReady) return forward(chunk);
    preReady = preReady.length ? Buffer.concat([preReady, chunk]) : chunk;
    let nl: number;
    while ((nl = preReady.indexOf(0x0a)) >= 0) {
      const line = preReady.subarray(0, nl).toString('utf8').replace(/\r$/, '');
      preReady = preReady.subarray(nl + 1);
      if (line === WARM_READY_LINE) {
        isReady = true;
        const rest = preReady;
        preReady = Buffer.alloc(0);
        forward(rest);
        return;
      }
    }
    if (preReady.length > MAX_HELD) preReady = preReady.subarray(preReady.length - WARM_READY_LINE.length - 1);
  });
  // stderr: held while idle (see the module comment), the sink's once assigned.
  let errHeld: Buffer[] = [];
  let errBytes = 0;
  child.stderr.on('data', (chunk: Buffer) => {
    if (sink) {
      if (!sink.stderr.write(chunk)) {
        child.stderr.pause();
        sink.stderr.once('drain', () => child.stderr.resume());
      }
      return;
    }
    errHeld.push(chunk);
    errBytes += chunk.length;
    while (errBytes > MAX_HELD && errHeld.length > 1) errBytes -= errHeld.shift()!.length;
  });
  setRef(child, false);

  const member: LocalWarmMember = {
    child,
    pid: child.pid,
    spawnedAt,
    exited,
    closed,
    exit: () => exitInfo,
    ready: () => isReady,
    assign(target: LogSink): void {
      assigned = true;
      setRef(child, true);
      if (!isReady) for (const chunk of errHeld) target.stderr.write(chunk);
      errHeld = [];
      const early = held;
      held = [];
      sink = target;
      for (const chunk of early) forward(chunk);
    },
  };
  self.member = member;
  return member;
}

/** Whether the child (process handle and its pipes) keeps the event loop alive. */
function setRef(child: ChildProcessByStdio<Writable, Readable, Readable>, on: boolean): void {
  const streams = [child.stdin, child.stdout, child.stderr] as unknown as { ref?: () => void; unref?: () => void }[];
  if (on) {
    child.ref();
    for (const s of streams) s.ref?.();
  } else {
    child.unref();
    for (const s of streams) s.unref?.();
  }
}
