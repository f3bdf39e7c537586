/**
 * Docker executor: one sandboxed container per attempt (see docker-spec.ts for the sandbox),
 * output streamed to the attempt's log files, container removed by us after its state is read.
 */
import path from 'node:path';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { ExecutorUnavailableError } from '../errors';
import { settleWithin, whenAborted } from './abort';
import { resolveBlockImage, type RequirementsBuildOptions } from './docker-image';
import { containerSpec, type SandboxOptions } from './docker-spec';
import { sampleMemory, type MemorySampler } from './docker-stats';
import { openLogSink } from './logs';
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
}

/** The Docker executor, plus what worker start-up needs for orphan cleanup. */
export interface DockerExecutor extends BlockExecutor {
  readonly kind: 'docker';
  readonly docker: Docker;
  /** Ids of containers this executor is running right now. */
  activeContainers(): ReadonlySet<string>;
}

/**
 * Creates the Docker executor.
 *
 * Failure modes: an unreachable engine or a missing blocks image rejects `run` with
 * ExecutorUnavailableError before anything is created; a requirements build failure with
 * BlockCrashedError. Once a container exists, `run` resolves and the container is removed on
 * every path (exit, abort, error). On abort it is force-removed (SIGKILL + remove, one call).
 */
export function createDockerExecutor(opts: DockerExecutorOptions): DockerExecutor {
  const docker = opts.docker ?? new Docker();
  const active = new Set<string>();
  return {
    kind: 'docker',
    docker,
    activeContainers: () => active,
    // The image Id, not a tag or RepoDigest: a rebuilt image under the same tag is another runtime.
    runtimeIdentity: async (block, ctx) => {
      await ping(docker, opts.pingTimeoutMs ?? 5000);
      const image = await resolveBlockImage(docker, opts.image, block, ctx.buildLog, opts.requirementsBuild);
      return `docker:${image.ref}`;
    },
    run: async (job, ctl) => {
      const tPrepare = performance.now();
      await ping(docker, opts.pingTimeoutMs ?? 5000);
      // A requirements build may take minutes: an abort stops waiting for it (the build itself
      // goes on for the cache, and its failure is observed here so it cannot go unhandled).
      const resolving = resolveBlockImage(docker, opts.image, job.block, path.join(job.paths.dir, 'image-build.log'), opts.requirementsBuild);
      resolving.catch(() => undefined);
      const aborted = whenAborted(ctl.signal);
      const image = await Promise.race([resolving, aborted.promise.then(() => null)]).finally(() => aborted.dispose());
      if (image === null || ctl.signal.aborted) return abortedBeforeStart(image?.digest ?? null);
      let container: Docker.Container;
      const t0 = performance.now();
      const phases: ExecPhases = { prepareMs: t0 - tPrepare };
      try {
        container = await docker.createContainer(containerSpec(job, image.ref, opts));
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
    },
  };
}

/** Runs a created container to its end; fills `phases` (all but create and remove) as it goes. */
async function runContainer(docker: Docker, container: Docker.Container, job: ExecJob, ctl: ExecControl, imageDigest: string, sampleMs: number, phases: ExecPhases): Promise<ExecOutcome> {
  const sink = openLogSink(job.paths, ctl.onProgress);
  let t = performance.now();
  // The attach stream is an HTTP socket (a Duplex); typed as ReadWriteStream by @types/dockerode.
  const attach = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Duplex;
  phases.attachMs = performance.now() - t;
  container.modem.demuxStream(attach, sink.stdout, sink.stderr);
  const attachEnded = new Promise<void>((resolve) => {
    attach.on('end', resolve);
    attach.on('close', resolve);
    attach.on('error', () => resolve());
  });
  const aborted = whenAborted(ctl.signal);
  const startedAt = new Date();
  const base = { imageDigest, startedAt };
  let memory: MemorySampler | undefined;
  const peak = (): number | null => memory?.stop() ?? null;
  try {
    t = performance.now();
    await container.start();
    phases.startMs = performance.now() - t;
    t = performance.now();
    ctl.onStarted({ containerId: container.id });
    memory = sampleMemory(container, sampleMs);
    const exited = container.wait().then(() => 'exited' as const);
    const first = await Promise.race([exited, aborted.promise.then(() => 'aborted' as const)]);
    if (first === 'aborted') {
      const t0 = performance.now();
      await container.remove({ force: true, v: true });
      const killMs = performance.now() - t0;
      exited.catch(() => undefined); // the wait call fails once the container is gone
      return { ...base, status: 'aborted', exitCode: null, oomKilled: false, peakMemoryMB: peak(), endedAt: new Date(), killMs };
    }
    phases.waitMs = performance.now() - t;
    t = performance.now();
    const state = (await container.inspect()).State;
    phases.inspectMs = performance.now() - t;
    phases.processStartedAt = engineTime(state.StartedAt);
    phases.processEndedAt = engineTime(state.FinishedAt);
    const oomKilled = state.OOMKilled === true;
    if (!oomKilled && (state.ExitCode === 137 || state.ExitCode === 143)) {
      // Killed, not by us and not for memory: a stopping Docker engine kills its containers on
      // the way down. If the engine is gone a moment later, that was it: not the block's fault.
      await new Promise((r) => setTimeout(r, ENGINE_GONE_CHECK_MS));
      await ping(docker, 2000);
    }
    // An OOM kill means the limit was reached, whatever the last sample saw.
    const peakMemoryMB = oomKilled ? job.memoryMB : peak();
    // All output is in the log files only once the attach stream has ended.
    await settleWithin(attachEnded, 2000);
    return { ...base, status: 'exited', exitCode: state.ExitCode, oomKilled, peakMemoryMB, endedAt: new Date() };
  } catch (e) {
    if ((e as Error).name === 'ExecutorUnavailableError') throw e;
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

/** Wait before asking whether the engine went away after a container was killed. */
const ENGINE_GONE_CHECK_MS = 1000;

async function ping(docker: Docker, timeoutMs: number): Promise<void> {
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

function abortedBeforeStart(imageDigest: string | null): ExecOutcome {
  const now = new Date();
  return { status: 'aborted', exitCode: null, oomKilled: false, imageDigest, peakMemoryMB: null, startedAt: now, endedAt: now, killMs: 0 };
}
