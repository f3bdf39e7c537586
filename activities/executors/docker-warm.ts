/**
 * The Docker executor's warm pool: containers of the blocks image created, started and past
 * their Python imports (`ragomics_runner --warm`) before any node needs them, each taking exactly
 * one node and discarded after it. A node then pays the hand-over (links, limits, one stdin
 * line) instead of create + start + interpreter + imports (1.7–3.5 s, BENCHMARKS.md section 3).
 *
 * Isolation is the cold container's (docker-spec.ts `poolContainerSpec`): the member's
 * /workspace is a host folder mounted read-only into which the node's inputs are hard-linked
 * (same inode, no byte copied, unwritable through that mount), /workspace/output its own
 * writable folder, moved to the attempt's output/ after the exit; the node's memory, CPU and PID
 * limits are applied with `container.update` and the container is renamed to its attempt's name
 * (docker-identity.ts) before the job line is written. Whatever the pool
 * cannot serve runs cold: see {@link WarmDockerPool.canServe}.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { settleWithin } from './abort';
import { inspectImage } from './docker-image';
import { containerName } from './docker-identity';
import { CONTAINER_WORKSPACE, poolContainerSpec, type SandboxOptions } from './docker-spec';
import { createIdleCpuGauge } from './host-cpu';
import type { LogSink } from './logs';
import type { ExecJob } from './types';
import { createWarmPool } from './warm-pool';
import { RunnerNames } from '../../common/runner-contract';

/** The line a warm runner prints once its imports are done (blocks/runtime/ragomics_runner/warm.py). */
export const WARM_READY_LINE = RunnerNames.warmReadyLine;

/**
 * Smallest node memory limit (MB) served warm. An idle warm runner holds about 210 MB (measured
 * with `docker stats` on the blocks image); cgroup v1 refuses to lower a limit below the usage
 * and v2 would OOM-kill at once, so a node asking for less than this runs cold, where its limit
 * applies from the first byte.
 */
export const WARM_MIN_MEMORY_MB = 512;

/** How much of a member's pre-ready stderr is kept, to show when it dies before it is ready. */
const WARMUP_STDERR_KEEP = 16 * 1024;

/** One pooled container. */
export interface WarmMember {
  readonly id: string;
  readonly container: Docker.Container;
  /** `<poolDir>/<member>/`: holds `ws/` (read-only /workspace) and `out/` (/workspace/output). */
  readonly dir: string;
  readonly workspaceDir: string;
  readonly outputDir: string;
  /** The hijacked attach connection: stdin to write the job line, demuxed stdout/stderr. */
  readonly stream: Duplex;
  /** Resolves once the container has exited (or is gone); never rejects. */
  readonly exited: Promise<void>;
  /** Resolves when the attach stream ends (all output delivered). */
  readonly streamEnded: Promise<void>;
  /** True once the container exited or was removed. */
  isGone(): boolean;
  /** True once the runner printed its ready line (imports done). */
  isReady(): boolean;
  /** Sends the runner's output from now on to `sink` (chatter before the ready line is dropped). */
  routeTo(sink: LogSink): void;
}

/** Options of {@link createWarmDockerPool}. */
export interface WarmDockerPoolOptions extends SandboxOptions {
  docker: Docker;
  /** Tag or Id of the blocks image; members run it. */
  image: string;
  /** Members kept ready. */
  size: number;
  /** Host folder for the members' workspaces; must be on the workspace's file system (hard links). */
  dir: string;
  /** Worker id for the `ragomics.worker` label. */
  workerId: string;
  /**
   * Serve inline-code blocks too (without requirements or network), not only catalog blocks.
   * Off by default: a warm member sees its inputs as hard links inside its read-only /workspace
   * mount, not as bind mounts of their own, and test/reliability-6-hostile.test.ts asserts the
   * cold layout for hostile inline code. The sandbox is the same either way (tests prove it with
   * this option on). @default false
   */
  inlineCode?: boolean;
  /**
   * The nodes the executor runs right now. Given, the pool refills only from spare CPU: a member
   * starts while the running nodes plus the members already starting leave one of `cpus` free, or
   * while the host showed at least one idle CPU per member starting over the last half second
   * (host-cpu.ts; nodes that wait rather than compute). A member's warm-up is the same interpreter
   * start and imports a cold node pays (~1.8 s of CPU for scanpy), so on a saturated host it only
   * takes CPU from running nodes and adds the hand-over on top (BENCHMARKS.md section 3b); the nodes
   * that find the pool empty then run cold, as without a pool. Not given: the pool refills at once.
   * The CPUs counted are the host's (`os.cpus()`: containers use all of them, whatever this
   * process's affinity); with an engine on another host (DOCKER_HOST) the idle CPUs read are this
   * host's, so the rule then refills about as `always` does.
   */
  runningNodes?: () => number;
  /** Called when a member's container exists / is gone, so the worker's own sweeper spares it. */
  onContainer?(id: string, present: boolean): void;
  /**
   * How long drain() waits for the creations it gave up to settle and their containers to be
   * removed (ms). A creation in flight when the pool drains is not awaited as such (drain rejects
   * it at once), but the engine may still create and start its container a moment later; drain
   * waits for that container's removal so that, on an engine that answers, nothing of the pool
   * outlives drain(). Bounded because an engine that hangs must not hold the worker's shutdown:
   * past the bound the removal goes on in the background, and the next worker start-up's sweep
   * removes what it misses (the members carry the pool labels). The default is well above a
   * member's whole warm-up, create call to ready line (2.0–4.3 s in BENCHMARKS.md section 3,
   * imports included, on 2 loaded cores). @default 15000
   */
  lateDiscardWaitMs?: number;
  /**
   * Called with the number of idle members whose runner is ready each time a member becomes
   * ready or joins the idle set (the worker logs when the pool is first full; tests wait for it).
   * Never called while draining. Must not throw.
   */
  onReadyIdle?(readyIdle: number): void;
}

/** The pool as the executor uses it. */
export interface WarmDockerPool {
  /** The Id of the image members run, once known (null until the first member was created). */
  imageRef(): string | null;
  /**
   * Whether `job` may run in a member of image `imageRef`: a catalog block (inline code only
   * with `inlineCode`, and then without network), same image (no inline requirements), a memory limit of at least {@link WARM_MIN_MEMORY_MB}, every input on the pool
   * folder's file system (hard links). Never throws (false instead).
   */
  canServe(job: ExecJob, imageRef: string): Promise<boolean>;
  /** A started member or null (then run cold); never waits, never throws. */
  take(): WarmMember | null;
  /** Idle members whose runner is ready (imports done); benchmarks wait for it. */
  readyIdle(): number;
  /** Refill times (ms), create call → ready line, of the members that got ready so far (the last 1000). */
  warmUpTimes(): readonly number[];
  /**
   * Stops refilling and removes the idle members, then the members of creations it gave up
   * (created by the engine after drain began), waiting for those at most `lateDiscardWaitMs`.
   */
  drain(): Promise<void>;
  stats(): unknown;
}

/**
 * Creates the pool and starts filling it (in the background). Creation failures (engine down,
 * image missing) are the generic pool's business: counted, backed off, never thrown at callers.
 */
export function createWarmDockerPool(opts: WarmDockerPoolOptions): WarmDockerPool {
  const { docker } = opts;
  let ref: string | null = null;
  let poolDev: number | null = null;
  /**
   * A member, or a rejection as soon as the pool drains: drain() waits for creations in flight,
   * and a Docker engine that hangs (its calls have no deadline of their own) must not hold the
   * worker's shutdown. A member that is created after all is removed; drain() waits for that
   * removal, within `lateDiscardWaitMs`.
   */
  const create = (signal: AbortSignal): Promise<WarmMember> => {
    const work = createMember();
    const discardLate = (): void => {
      const p: Promise<void> = work.then((m) => destroy(m), () => undefined).finally(() => lateDiscards.delete(p));
      lateDiscards.add(p);
    };
    if (signal.aborted) {
      discardLate();
      return Promise.reject(new Error('the warm pool is draining'));
    }
    return new Promise<WarmMember>((resolve, reject) => {
      const onAbort = (): void => {
        reject(new Error('the warm pool is draining'));
        discardLate();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (m) => { signal.removeEventListener('abort', onAbort); resolve(m); },
        (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
      );
    });
  };
  const createMember = async (): Promise<WarmMember> => {
    const image = await inspectImage(docker, opts.image);
    if (!image) throw new Error(`blocks image ${opts.image} is not present`);
    ref = image.ref;
    await mkdir(opts.dir, { recursive: true });
    poolDev ??= (await stat(opts.dir)).dev;
    const t0 = performance.now();
    const member = await startMember(docker, image.ref, opts, () => {
      warmUps.push(performance.now() - t0);
      if (warmUps.length > 1000) warmUps.shift();
      notifyReady();
    });
    idle.add(member);
    // Also here: the ready line may come before the member joins the idle set.
    notifyReady();
    return member;
  };
  const readyIdle = (): number => [...idle].filter((m) => m.isReady() && !m.isGone()).length;
  const notifyReady = (): void => {
    if (!pool.stats().draining) opts.onReadyIdle?.(readyIdle());
  };
  const warmUps: number[] = [];
  const idle = new Set<WarmMember>();
  /** Removals of members whose creation drain() gave up (see `lateDiscardWaitMs`). */
  const lateDiscards = new Set<Promise<void>>();
  const lateDiscardWaitMs = opts.lateDiscardWaitMs ?? 15_000;
  const destroy = async (m: WarmMember): Promise<void> => {
    idle.delete(m);
    await discardMember(m);
    opts.onContainer?.(m.container.id, false);
  };
  const cpus = os.cpus().length;
  const gauge = opts.runningNodes ? createIdleCpuGauge() : null;
  const running = opts.runningNodes;
  const mayStart = running && gauge
    ? (starting: number): boolean => running() + starting < cpus || gauge.idleCpus() >= 1 + starting
    : undefined;
  const pool = createWarmPool<WarmMember>({ size: opts.size, create, destroy, alive: (m) => !m.isGone(), ...(mayStart ? { mayStart } : {}) });
  return {
    imageRef: () => ref,
    canServe: async (job, imageRef) => {
      if (ref === null || imageRef !== ref || poolDev === null) return false;
      if (!('name' in job.block) && (opts.inlineCode !== true || job.block.network === true)) return false;
      if (job.memoryMB < WARM_MIN_MEMORY_MB) return false;
      const files = [job.paths.jobFile, ...(job.inputPath ? [job.inputPath] : []), ...(job.inputs ?? []).map((i) => i.path)];
      const uid = process.getuid?.() ?? 0;
      try {
        const stats = await Promise.all(files.map((f) => stat(f)));
        // Same file system (a hard link cannot cross one), and a file the kernel lets us link:
        // with fs.protected_hardlinks only its owner (or root) may link a file it cannot write.
        return stats.every((st) => st.dev === poolDev && (uid === 0 || st.uid === uid));
      } catch {
        return false;
      }
    },
    take: () => {
      const m = pool.take();
      if (m) idle.delete(m);
      return m;
    },
    warmUpTimes: () => warmUps,
    readyIdle,
    drain: async () => {
      gauge?.stop();
      await pool.drain();
      if (lateDiscards.size > 0) await settleWithin(Promise.all([...lateDiscards]), lateDiscardWaitMs);
    },
    stats: () => pool.stats(),
  };
}

/** Creates, attaches and starts one member. On any failure nothing is left behind. */
async function startMember(docker: Docker, imageRef: string, opts: WarmDockerPoolOptions, onReady: () => void): Promise<WarmMember> {
  const id = `m${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  const dir = path.join(opts.dir, id);
  const workspaceDir = path.join(dir, 'ws');
  const outputDir = path.join(dir, 'out');
  // The mount points of /workspace/output and the input folders exist in the read-only folder
  // up front: the engine would otherwise create them in our host folder itself.
  await Promise.all(['output', 'input', 'inputs'].map((d) => mkdir(path.join(workspaceDir, d), { recursive: true })));
  await mkdir(outputDir);
  await chmod(outputDir, 0o777); // the container user is uid 10001
  let container: Docker.Container | undefined;
  try {
    container = await docker.createContainer(poolContainerSpec(imageRef, { workspaceDir, outputDir, workerId: opts.workerId }, opts));
    opts.onContainer?.(container.id, true);
    const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as Duplex;
    await container.start();
    // Only after the start: waiting on a created container ("not-running") returns at once.
    return wireMember(id, container, dir, workspaceDir, outputDir, stream, onReady);
  } catch (e) {
    if (container) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      opts.onContainer?.(container.id, false);
    }
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}

/** Output routing and exit tracking of an attached member. */
function wireMember(id: string, container: Docker.Container, dir: string, workspaceDir: string, outputDir: string, stream: Duplex, onReady: () => void): WarmMember {
  let sink: LogSink | null = null;
  let ready = false;
  let pending = '';
  let warmupStderr = '';
  const stdout = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (ready) {
        sink?.stdout.write(chunk);
        return done();
      }
      // Warm-up chatter until the ready line; what follows it in the same chunk is the node's.
      pending += chunk.toString('utf8');
      const at = pending.indexOf(`${WARM_READY_LINE}\n`);
      if (at >= 0) {
        ready = true;
        onReady();
        const rest = pending.slice(at + WARM_READY_LINE.length + 1);
        pending = '';
        if (rest) sink?.stdout.write(rest);
      } else if (pending.length > 64 * 1024) {
        pending = pending.slice(-WARM_READY_LINE.length);
      }
      done();
    },
  });
  const stderr = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (ready && sink) sink.stderr.write(chunk);
      else warmupStderr = (warmupStderr + chunk.toString('utf8')).slice(-WARMUP_STDERR_KEEP);
      done();
    },
  });
  container.modem.demuxStream(stream, stdout, stderr);
  stream.on('error', () => undefined);
  const streamEnded = new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  let gone = false;
  const exited = container.wait().then(() => undefined, () => undefined).finally(() => {
    gone = true;
  });
  return {
    id, container, dir, workspaceDir, outputDir, stream, exited, streamEnded,
    isGone: () => gone,
    isReady: () => ready,
    routeTo: (s) => {
      sink = s;
      // A member that died during its imports: its stderr is the only trace of why.
      void exited.then(() => {
        if (!ready && warmupStderr) s.stderr.write(warmupStderr);
      });
    },
  };
}

/**
 * Hands `job` to `member`: hard-links job.json and the inputs into its read-only workspace,
 * applies the node's limits, renames the container to the attempt's name (docker-identity.ts
 * `containerName`: a pooled container's only mark of its node, since labels are fixed at
 * create) and writes the job line. Link, update and rename run at once, all before the job
 * line, so the container is identifiable from the moment it runs the node. Returns false when
 * the member cannot take it (a link, the update or the rename failed, e.g. the name is taken,
 * or it died): the caller destroys it and runs the node cold.
 */
export async function assignJob(member: WarmMember, job: ExecJob): Promise<boolean> {
  const name = containerName(job);
  if (name === null) return false;
  try {
    // link(2) does not follow symbolic links: link the file an input path resolves to.
    const linkTo = async (from: string, to: string): Promise<void> => link(await realpath(from), to);
    const links: Promise<void>[] = [link(job.paths.jobFile, path.join(member.workspaceDir, RunnerNames.jobFile))];
    if (job.inputPath !== null) links.push(linkTo(job.inputPath, path.join(member.workspaceDir, 'input', RunnerNames.anndataFile)));
    for (const input of job.inputs ?? []) links.push(linkTo(input.path, path.join(member.workspaceDir, 'inputs', `${input.key}.h5ad`)));
    const memoryBytes = job.memoryMB * 1024 * 1024;
    await Promise.all([
      ...links,
      // MemorySwap = Memory: no swap, as in the cold path. The PID limit stays the sandbox's.
      member.container.update({ Memory: memoryBytes, MemorySwap: memoryBytes, NanoCpus: Math.round(job.cpus * 1e9) }),
      member.container.rename({ name }),
    ]);
  } catch {
    return false;
  }
  if (member.isGone()) return false;
  const threads = Math.max(1, Math.ceil(job.cpus));
  const line = `${JSON.stringify({ job: `${CONTAINER_WORKSPACE}/job.json`, workspace: CONTAINER_WORKSPACE, threads })}\n`;
  return new Promise<boolean>((resolve) => {
    member.stream.write(line, (err) => resolve(!err));
  });
}

/**
 * After the member exited: its output folder becomes the attempt's `output/` (a rename on one
 * file system; the attempt's empty folder is replaced). The member's folder (input links, job
 * link) is deleted by {@link discardMember}.
 */
export async function collectOutput(member: WarmMember, job: ExecJob): Promise<void> {
  await rmdir(job.paths.outputDir).catch(() => undefined);
  await rename(member.outputDir, job.paths.outputDir);
}

/** Removes a used member's container and host folder (its hard links to the inputs). Never rejects. */
export async function discardMember(member: WarmMember): Promise<void> {
  await member.container.remove({ force: true, v: true }).catch(() => undefined);
  member.stream.destroy();
  await rm(member.dir, { recursive: true, force: true }).catch(() => undefined);
}
