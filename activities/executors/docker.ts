/**
 * Docker executor: one sandboxed container per attempt (see docker-spec.ts for the sandbox),
 * output streamed to the attempt's log files, container removed by us after its state is read.
 */
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { ExecutorUnavailableError } from '../errors';
import { settleWithin, whenAborted } from './abort';
import { resolveBlockImage, type RequirementsBuildOptions } from './docker-image';
import { containerName } from './docker-identity';
import { ResolvedImages } from './docker-resolved';
import { containerSpec, type SandboxOptions } from './docker-spec';
import { sampleMemory, type MemorySampler } from './docker-stats';
import { assignJob, collectOutput, createWarmDockerPool, discardMember, type WarmDockerPool, type WarmMember } from './docker-warm';
import { openLogSink } from './logs';
import type { Block } from '../../common/schemas';
import type { BlockExecutor, ExecControl, ExecJob, ExecOutcome, ExecPhases } from './types';

/** Options of {@link createDockerExecutor}. */
export interface DockerExecutorOptions extends SandboxOptions {
  /** Tag or Id of the blocks image (the worker reads it from `.data/blocks-image`). */
  image: string;
  /** Docker client. @default new Docker() (DOCKER_HOST or /var/run/docker.sock) */
  docker?: Docker;
  /** How images for inline blocks with `requirements` are built. */
  requirementsBuild?: RequirementsBuildOptions;
  /** How often a running container's memory is sampled for NodeResult.peakMemoryMB. @default 2000 */
  memorySampleMs?: number;
  /** How long a ping may take before the engine counts as unreachable. @default 5000 */
  pingTimeoutMs?: number;
  /**
   * Pre-started runner containers kept ready (docker-warm.ts); 0 = every node creates its own
   * container. For the memory an idle member holds and its refill time, see
   * workers/config.ts `defaultWarmPool` (quoted figures). Catalog blocks only (unless `warmInlineCode`);
   * nodes the pool cannot serve (inline code, memory below 512 MB, inputs on another file system
   * or not linkable) and nodes arriving while it is empty run cold. @default 0 (the worker passes
   * its own default, 2: workers/config.ts `defaultWarmPool`)
   */
  warmPool?: number;
  /**
   * Host folder of the members' workspaces; must be on the workspace's file system (inputs are
   * hard-linked into it; on another one every node runs cold). The worker passes
   * `<workspace>/warm`. @default `<os tmpdir>/ragomics-warm`
   */
  warmDir?: string;
  /** Serve inline-code blocks from the pool too (see WarmDockerPoolOptions.inlineCode). @default false */
  warmInlineCode?: boolean;
  /**
   * When the pool starts a replacement member: `spare-cpu` only from CPU the running nodes leave
   * over (WarmDockerPoolOptions.runningNodes: a saturated host runs its next nodes cold instead of
   * spending the same CPU on warm-ups plus a hand-over), `always` as soon as a member is taken.
   * @default 'spare-cpu'
   */
  warmRefill?: 'spare-cpu' | 'always';
  /** Worker id for the pool containers' `ragomics.worker` label. @default `pool-<pid>` */
  workerId?: string;
  /** Called with the pool's ready idle members and its size whenever a member becomes ready (the worker logs when the pool is first full). Must not throw. */
  onWarmReady?(readyIdle: number, size: number): void;
}

/** The Docker executor, plus what worker start-up needs for orphan cleanup. */
export interface DockerExecutor extends BlockExecutor {
  readonly kind: 'docker';
  readonly docker: Docker;
  /** Ids of containers this executor is running right now, idle pool members included. */
  activeContainers(): ReadonlySet<string>;
  /** The warm pool, when `warmPool` > 0 (tests and benchmarks read its stats). */
  readonly pool: WarmDockerPool | null;
  /** Drains the warm pool (idle members removed); running attempts are not touched. */
  close(): Promise<void>;
}

/**
 * Creates the Docker executor.
 *
 * Failure modes: an unreachable engine or a missing blocks image rejects `run` with
 * ExecutorUnavailableError before anything is created (found by the ping and image inspect, or,
 * for a node whose cache lookup resolved its image on this worker, by the container create); a requirements build failure with
 * BlockCrashedError. Once a container exists, it is removed on every path (exit, abort, error),
 * and `run` resolves, except when the engine fails while it runs (a failed attach, a removal by
 * someone else, a wait that ended while the container still runs): ExecutorUnavailableError, the
 * attempt is lost. On abort it is force-removed (SIGKILL + remove, one call).
 * With `warmPool` > 0 it fills a pool of warm containers in the background; a member that
 * cannot take its node (link or limit update failed) is removed and the node runs cold.
 */
export function createDockerExecutor(opts: DockerExecutorOptions): DockerExecutor {
  const docker = opts.docker ?? new Docker();
  const active = new Set<string>();
  /** Removals of exited warm containers still under way (runWarm). */
  const removals = new Set<Promise<void>>();
  /** What cache lookups resolved, for their node's run (docker-resolved.ts). */
  const resolved = new ResolvedImages();
  /** Attempts inside run() now (the warm pool's refill rule reads it). */
  let running = 0;
  const pool = (opts.warmPool ?? 0) > 0
    ? createWarmDockerPool({
      docker, image: opts.image, size: opts.warmPool!, dir: opts.warmDir ?? path.join(os.tmpdir(), 'ragomics-warm'), workerId: opts.workerId ?? `pool-${process.pid}`, pidsLimit: opts.pidsLimit, inlineCode: opts.warmInlineCode,
      onContainer: (id, present) => (present ? active.add(id) : active.delete(id)),
      onReadyIdle: (ready) => opts.onWarmReady?.(ready, opts.warmPool!),
      ...(opts.warmRefill === 'always' ? {} : { runningNodes: () => running }),
    })
    : null;
  return {
    kind: 'docker',
    docker,
    pool,
    activeContainers: () => active,
    close: async () => {
      await pool?.drain();
      while (removals.size > 0) await Promise.all([...removals]);
    },
    // The image Id, not a tag or RepoDigest: a rebuilt image under the same tag is another runtime.
    runtimeIdentity: async (block, ctx) => {
      await ping(docker, opts.pingTimeoutMs ?? 5000);
      const image = await resolveBlockImage(docker, opts.image, block, ctx.buildLog, opts.requirementsBuild);
      if (ctx.node) resolved.put({ ...ctx.node, requirements: requirementsOf(block) }, image);
      return `docker:${image.ref}`;
    },
    run: async (job, ctl) => {
      running++;
      try {
        return await runNode(job, ctl);
      } finally {
        running--;
      }
    },
  };

  async function runNode(job: ExecJob, ctl: ExecControl): Promise<ExecOutcome> {
    const tPrepare = performance.now();
    // The bounded ping first, always: an engine that hangs (rather than refusing) fails the
    // node fast as ExecutorUnavailable instead of stalling the create below (dockerode has no
    // timeout of its own). A cacheable node's lookup resolved the image moments ago (the Id its
    // cache key names): no second inspect.
    await ping(docker, opts.pingTimeoutMs ?? 5000);
    let image = resolved.take({ treeId: job.treeId, ...(job.runKey === undefined ? {} : { runKey: job.runKey }), nodeId: job.nodeId, attempt: job.attempt, requirements: requirementsOf(job.block) });
    if (image === null) {
      // A requirements build may take minutes: an abort stops waiting for it (the build itself
      // goes on for the cache, and its failure is observed here so it cannot go unhandled).
      const resolving = resolveBlockImage(docker, opts.image, job.block, path.join(job.paths.dir, 'image-build.log'), opts.requirementsBuild);
      resolving.catch(() => undefined);
      const aborted = whenAborted(ctl.signal);
      image = await Promise.race([resolving, aborted.promise.then(() => null)]).finally(() => aborted.dispose());
    }
    if (image === null || ctl.signal.aborted) return abortedBeforeStart(image?.digest ?? null);
    const member = pool && (await pool.canServe(job, image.ref)) ? pool.take() : null;
    if (member) {
      const warm = await runWarm(docker, member, job, ctl, image.digest, opts.memorySampleMs ?? 2000, performance.now() - tPrepare, active, removals);
      if (warm) return warm;
      // The member could not take the node: removed by runWarm; the node runs cold below.
    }
    let container: Docker.Container;
    const t0 = performance.now();
    const phases: ExecPhases = { prepareMs: t0 - tPrepare };
    try {
      container = await createNamed(docker, containerSpec(job, image.ref, opts), containerName(job));
    } catch (e) {
      throw new ExecutorUnavailableError(`cannot create the container: ${(e as Error).message}`, { logDir: job.paths.dir });
    }
    phases.createMs = performance.now() - t0;
    active.add(container.id);
    let outcome: ExecOutcome;
    try {
      outcome = await runContainer(docker, container, job, ctl, image.digest, opts.memorySampleMs ?? 2000, phases);
    } finally {
      active.delete(container.id);
      const t1 = performance.now();
      await container.remove({ force: true, v: true }).catch(() => undefined);
      phases.removeMs = performance.now() - t1;
    }
    // After an abort the container was already removed (killMs); this second remove is a no-op.
    return outcome.status === 'exited' ? { ...outcome, phases } : outcome;
  }
}

/**
 * Runs `job` in a warm member: hands it over, then runs it to its end like a cold container;
 * the member's output becomes the attempt's output/. Returns null (member removed, nothing
 * written to the attempt) when the member could not take the job; the caller runs it cold.
 */
async function runWarm(docker: Docker, member: WarmMember, job: ExecJob, ctl: ExecControl, imageDigest: string, sampleMs: number, prepareMs: number, active: Set<string>, removals: Set<Promise<void>>): Promise<ExecOutcome | null> {
  const container = member.container;
  const phases: ExecPhases = { prepareMs, warm: true };
  const sink = openLogSink(job.paths, ctl.onProgress);
  member.routeTo(sink);
  const t = performance.now();
  if (!(await assignJob(member, job))) {
    await discardMember(member);
    active.delete(container.id);
    await sink.close();
    return null;
  }
  phases.assignMs = performance.now() - t;
  let outcome: ExecOutcome;
  try {
    outcome = await runContainer(docker, container, job, ctl, imageDigest, sampleMs, phases, {
      sink, attach: member.stream, attachEnded: member.streamEnded, exited: member.exited,
    });
  } finally {
    // The output moves whatever happened: stdout.log and error.json are evidence on failures too.
    // The container has exited (or was force-removed on abort): its mounts are gone.
    await collectOutput(member, job).catch(() => undefined);
    // Removing the exited container (20-80 ms) and the member's folder is off the node's path:
    // the process is gone and its state read; the container stays in `active` (spared by sweeps) until it is removed,
    // and close() waits for pending removals.
    const removal = discardMember(member).finally(() => {
      active.delete(container.id);
      removals.delete(removal);
    });
    removals.add(removal);
  }
  return outcome.status === 'exited' ? { ...outcome, phases } : outcome;
}

/** A warm member already attached, started and handed its job (see runWarm). */
interface Launched {
  sink: ReturnType<typeof openLogSink>;
  attach: Duplex;
  attachEnded: Promise<void>;
  exited: Promise<void>;
}

/**
 * Runs a created container to its end; fills `phases` (all but create and remove) as it goes.
 * `launched`: a warm member that already runs (no attach, no start).
 */
async function runContainer(docker: Docker, container: Docker.Container, job: ExecJob, ctl: ExecControl, imageDigest: string, sampleMs: number, phases: ExecPhases, launched?: Launched): Promise<ExecOutcome> {
  const sink = launched?.sink ?? openLogSink(job.paths, ctl.onProgress);
  let t = performance.now();
  let attach: Duplex;
  let attachEnded: Promise<void>;
  if (launched) {
    ({ attach, attachEnded } = launched);
  } else {
    try {
      // The attach stream is an HTTP socket (a Duplex); typed as ReadWriteStream by @types/dockerode.
      // With stdin (hijacked, never written nor ended): the container's stdin lives as long as
      // this connection, so the runner stops the node if this worker dies (containerSpec).
      attach = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as Duplex;
    } catch (e) {
      await sink.close();
      throw new ExecutorUnavailableError(`Docker failed to attach to the container: ${(e as Error).message}`, { logDir: job.paths.dir });
    }
    phases.attachMs = performance.now() - t;
    container.modem.demuxStream(attach, sink.stdout, sink.stderr);
    const stream = attach;
    attachEnded = new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
  }
  const aborted = whenAborted(ctl.signal);
  const startedAt = new Date();
  const base = { imageDigest, startedAt };
  let memory: MemorySampler | undefined;
  const peak = (): number | null => memory?.stop() ?? null;
  try {
    if (!launched) {
      t = performance.now();
      await container.start();
      phases.startMs = performance.now() - t;
    }
    t = performance.now();
    ctl.onStarted({ containerId: container.id });
    memory = sampleMemory(container, sampleMs);
    const exited = launched ? launched.exited.then(() => 'exited' as const) : container.wait().then(() => 'exited' as const);
    const first = await Promise.race([exited, aborted.promise.then(() => 'aborted' as const)]);
    if (first === 'aborted') {
      const t0 = performance.now();
      exited.catch(() => undefined); // the wait call fails once the container is gone
      // The attempt was cancelled or timed out, and says so whatever the removal does: a removal
      // that fails here (already gone, the engine busy) is retried by the caller's own removal.
      await container.remove({ force: true, v: true }).catch(() => undefined);
      const killMs = performance.now() - t0;
      return { ...base, status: 'aborted', exitCode: null, oomKilled: false, peakMemoryMB: peak(), endedAt: new Date(), killMs };
    }
    phases.waitMs = performance.now() - t;
    t = performance.now();
    const state = (await container.inspect()).State;
    phases.inspectMs = performance.now() - t;
    phases.processStartedAt = engineTime(state.StartedAt);
    phases.processEndedAt = engineTime(state.FinishedAt);
    // The wait ended but the block still runs: the engine's connection dropped (a restart with
    // live-restore, an idle timeout on a TCP DOCKER_HOST). Its output is still being written, so
    // it must not be published: the attempt is lost and runs again.
    if (state.Running === true) {
      throw new ExecutorUnavailableError('the connection to the Docker engine dropped while the container still ran: the attempt is lost', { logDir: job.paths.dir });
    }
    const oomKilled = state.OOMKilled === true;
    if (!oomKilled && (state.ExitCode === 137 || state.ExitCode === 143)) {
      // Killed, not by us and not for memory: a stopping Docker engine kills its containers on
      // the way down. If the engine is gone a moment later, that was it: not the block's fault.
      await new Promise((r) => setTimeout(r, ENGINE_GONE_CHECK_MS));
      await ping(docker, 2000);
      // Or someone removed the running container (`docker rm -f` by an operator, a sweep that
      // misjudged it): the attempt was lost, not failed, and the node runs again (LOST).
      if (await beingRemoved(container)) {
        throw new ExecutorUnavailableError(`the container was removed while the attempt ran (killed by \`docker rm -f\`, not by the block, nor for memory): the attempt is lost`, { logDir: job.paths.dir });
      }
    }
    // An OOM kill means the limit was reached, whatever the last sample saw.
    const peakMemoryMB = oomKilled ? job.memoryMB : peak();
    // All output is in the log files only once the attach stream has ended.
    await settleWithin(attachEnded, 2000);
    return { ...base, status: 'exited', exitCode: state.ExitCode, oomKilled, peakMemoryMB, endedAt: new Date() };
  } catch (e) {
    if (e instanceof ExecutorUnavailableError) throw e;
    throw new ExecutorUnavailableError(`Docker failed while running the container: ${(e as Error).message}`, { logDir: job.paths.dir });
  } finally {
    memory?.stop();
    aborted.dispose();
    attach.destroy();
    await sink.close();
  }
}

/** An engine timestamp (RFC 3339 with nanoseconds) as epoch ms with sub-ms digits; undefined when unset or unparsable. */
function engineTime(iso: string | undefined): number | undefined {
  const m = iso === undefined ? null : /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (!m) return undefined;
  const whole = Date.parse(`${m[1]}${m[3]}`);
  // Docker's zero time (0001-01-01) means "never".
  if (Number.isNaN(whole) || whole <= 0) return undefined;
  return whole + Number(`0.${m[2] ?? '0'}`) * 1000;
}

/**
 * Creates a cold container under its attempt's name (docker-identity.ts), so operators find cold
 * and pooled containers with one `docker ps --filter name=...`. The name is a convenience here
 * (a cold container's identity is its labels): when it is taken (a leftover of the same attempt
 * not yet swept, HTTP 409) or there is none, the container is created unnamed instead.
 */
async function createNamed(docker: Docker, spec: Docker.ContainerCreateOptions, name: string | null): Promise<Docker.Container> {
  if (name === null) return docker.createContainer(spec);
  try {
    return await docker.createContainer({ ...spec, name });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 409) throw e;
    return docker.createContainer(spec);
  }
}

/**
 * True when `container` is gone or being removed (`docker rm -f` kills, then removes: its state
 * is `removing`, or `Dead` when the removal failed half-way). Other engine errors are thrown.
 */
async function beingRemoved(container: Docker.Container): Promise<boolean> {
  try {
    const state = (await container.inspect()).State;
    return state.Status === 'removing' || state.Dead === true;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return true;
    throw e;
  }
}

/** Wait before asking whether the engine went away after a container was killed. */
const ENGINE_GONE_CHECK_MS = 1000;

/**
 * Asks the Docker engine to answer a ping within `timeoutMs`.
 * @throws ExecutorUnavailableError naming the reason (no socket, refused, no answer in time).
 */
export async function ping(docker: Docker, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    throw new ExecutorUnavailableError(
      `the Docker engine is not reachable (${(e as Error).message}); start dockerd or set DOCKER_HOST, then retry`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** A block's requirement set: another set runs in another (derived) image. */
function requirementsOf(block: Block): string[] {
  return 'name' in block ? [] : block.requirements;
}

function abortedBeforeStart(imageDigest: string | null): ExecOutcome {
  const now = new Date();
  return { status: 'aborted', exitCode: null, oomKilled: false, imageDigest, peakMemoryMB: null, startedAt: now, endedAt: now, killMs: 0 };
}
