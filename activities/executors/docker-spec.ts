/**
 * The container an attempt runs in, as a pure function of the job: the sandbox settings live
 * here in one readable place (and can be asserted on without a Docker engine).
 */
import type Docker from 'dockerode';
import type { ExecJob } from './types';
import { RunnerNames } from '../../common/runner-contract';

/** Where the runner sees its workspace inside the container (blocks/ contract). */
export const CONTAINER_WORKSPACE = '/workspace';
/** Non-root user of the blocks image. */
export const CONTAINER_USER = '10001';
/** Label every ragomics container carries; orphan cleanup selects on it. */
export const MANAGED_LABEL = 'ragomics.managed';

/** Tunables of the sandbox. */
export interface SandboxOptions {
  /** Most processes/threads in the container (fork bombs, runaway thread pools). @default 256 */
  pidsLimit?: number;
}

/** Label naming who started the container, from {@link SCOPE_ENV}. */
export const SCOPE_LABEL = 'ragomics.scope';
/**
 * Environment variable whose value, when set, labels every container this process starts with
 * {@link SCOPE_LABEL}. scripts/test.sh sets it (inherited by the workers its tests start), so
 * its after-suite leftover check counts the suite's own containers and not a demo's or a
 * benchmark's running on the same engine.
 */
export const SCOPE_ENV = 'RAGOMICS_CONTAINER_SCOPE';

/**
 * Label of a pre-started pool container (value `true`). Labels cannot be changed after create,
 * so such a container carries no tree or node label: at hand-over it is renamed to its
 * attempt's name, from which docker-identity.ts `containerIdentity` reads the node it runs.
 */
export const POOL_LABEL = 'ragomics.pool';

/** Label of a cold attempt's container naming its tree execution's run key (ExecJob.runKey); absent when the job has none. */
export const RUN_KEY_LABEL = 'ragomics.run-key';

/** Label of a cold attempt's container naming its local activity run's tag (ExecJob.localRun); absent for a regular activity's. */
export const LOCAL_RUN_LABEL = 'ragomics.local-run';

/** Memory limit of an idle pool container (MB): a warm interpreter holds about 210 MB (BENCHMARKS.md section 3). */
export const POOL_IDLE_MEMORY_MB = 1024;

/** What a pool container is made of: the host folders it sees and who owns it. */
export interface PoolContainerSettings {
  /** Host folder bind-mounted read-only at /workspace (input links and job.json go there at assignment). */
  workspaceDir: string;
  /** Host folder bind-mounted writable at /workspace/output. */
  outputDir: string;
  /** Worker id for the `ragomics.worker` label. */
  workerId: string;
}

/**
 * Create options of a warm pool container: the sandbox of {@link containerSpec} (non-root,
 * read-only root, /tmp tmpfs, no capabilities, no privilege escalation, PID limit, no network,
 * no socket), started as `--warm` with stdin open (one job line). Its memory and CPU limits are
 * idle ones ({@link POOL_IDLE_MEMORY_MB}, one CPU) until the executor applies the node's with
 * `container.update` at assignment.
 */
export function poolContainerSpec(image: string, settings: PoolContainerSettings, opts: SandboxOptions = {}): Docker.ContainerCreateOptions {
  const memoryBytes = POOL_IDLE_MEMORY_MB * 1024 * 1024;
  const scope = process.env[SCOPE_ENV];
  return {
    Image: image,
    Cmd: ['--warm'],
    User: CONTAINER_USER,
    WorkingDir: CONTAINER_WORKSPACE,
    Labels: {
      [MANAGED_LABEL]: 'true',
      [POOL_LABEL]: 'true',
      'ragomics.worker': settings.workerId,
      ...(scope ? { [SCOPE_LABEL]: scope } : {}),
    },
    // Thread counts are set per node by the job line (threadpoolctl, numba); these are the
    // idle defaults for pools started during the imports.
    Env: ['OMP_NUM_THREADS=1', 'OPENBLAS_NUM_THREADS=1', 'MKL_NUM_THREADS=1', 'PYTHONUNBUFFERED=1'],
    AttachStdin: true,
    OpenStdin: true,
    // Stdin closes when our attach connection does: a pooled runner whose worker died reads EOF
    // and exits by itself, so no other worker has to guess whether an idle member is orphaned.
    StdinOnce: true,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: true,
    HostConfig: sandboxHostConfig({
      network: false,
      memoryBytes,
      nanoCpus: 1e9,
      mounts: [
        { Type: 'bind', Source: settings.workspaceDir, Target: CONTAINER_WORKSPACE, ReadOnly: true },
        { Type: 'bind', Source: settings.outputDir, Target: `${CONTAINER_WORKSPACE}/output`, ReadOnly: false },
      ],
    }, opts),
  };
}

/** What differs between the containers of {@link sandboxHostConfig}. */
interface SandboxLimits {
  /** Bridge network (inline blocks that asked for it) instead of none. */
  network: boolean;
  /** Hard memory limit, swap included (no swap). */
  memoryBytes: number;
  nanoCpus: number;
  mounts: Docker.MountSettings[];
}

/**
 * The sandbox every ragomics container runs in, cold or pooled, in one place: read-only root
 * with a /tmp tmpfs, all capabilities dropped, no privilege escalation, PID limit, hard memory
 * limit without swap, CPU limit, only the given mounts (never the Docker socket), no log driver.
 */
function sandboxHostConfig(limits: SandboxLimits, opts: SandboxOptions): Docker.HostConfig {
  return {
    AutoRemove: false, // we read State (exit code, OOMKilled) before removing it ourselves
    NetworkMode: limits.network ? 'bridge' : 'none',
    ReadonlyRootfs: true,
    // tmpfs pages count against the memory limit, so the size needs no cap of its own.
    Tmpfs: { '/tmp': 'rw,nosuid,nodev,mode=1777' },
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    PidsLimit: opts.pidsLimit ?? 256,
    Memory: limits.memoryBytes,
    MemorySwap: limits.memoryBytes, // equal to Memory: no swap, so a hog is OOM-killed instead of thrashing
    NanoCpus: limits.nanoCpus,
    Mounts: limits.mounts,
    LogConfig: { Type: 'none', Config: {} }, // we stream the output to files ourselves
  };
}

/** Labels that identify a cold attempt's container; read back by docker-identity.ts `containerIdentity` (cleanup, sweeps, tests). */
export function containerLabels(job: ExecJob): Record<string, string> {
  const scope = process.env[SCOPE_ENV];
  return {
    [MANAGED_LABEL]: 'true',
    'ragomics.tree': job.treeId,
    'ragomics.node': job.nodeId,
    'ragomics.attempt': String(job.attempt),
    'ragomics.activity-attempt': String(job.activityAttempt),
    'ragomics.worker': job.workerId,
    ...(job.runKey === undefined ? {} : { [RUN_KEY_LABEL]: job.runKey }),
    ...(job.localRun === undefined ? {} : { [LOCAL_RUN_LABEL]: job.localRun }),
    ...(scope ? { [SCOPE_LABEL]: scope } : {}),
  };
}

/**
 * Create options for an attempt's container: non-root, read-only root with a /tmp tmpfs, all
 * capabilities dropped, no privilege escalation, no network unless an inline block asked for
 * it, hard memory limit without swap, CPU and PID limits. The input (or each input of a
 * multi-input node, at `inputs/<key>.h5ad`) is bind-mounted read-only in place (never copied);
 * only output/ is writable. The Docker socket is never mounted.
 */
export function containerSpec(job: ExecJob, image: string, opts: SandboxOptions = {}): Docker.ContainerCreateOptions {
  const memoryBytes = job.memoryMB * 1024 * 1024;
  const threads = String(Math.max(1, Math.ceil(job.cpus)));
  const wantsNetwork = !('name' in job.block) && job.block.network === true;
  const mounts: Docker.MountSettings[] = [
    { Type: 'bind', Source: job.paths.jobFile, Target: `${CONTAINER_WORKSPACE}/job.json`, ReadOnly: true },
    { Type: 'bind', Source: job.paths.outputDir, Target: `${CONTAINER_WORKSPACE}/output`, ReadOnly: false },
  ];
  if (job.inputPath !== null) {
    mounts.push({ Type: 'bind', Source: job.inputPath, Target: `${CONTAINER_WORKSPACE}/input/_node_anndata.h5ad`, ReadOnly: true });
  }
  // A multi-input node: one read-only bind mount per input, the same file the upstream node
  // published (zero bytes copied), at the path the runner reads for its key.
  for (const input of job.inputs ?? []) {
    mounts.push({ Type: 'bind', Source: input.path, Target: `${CONTAINER_WORKSPACE}/inputs/${input.key}.h5ad`, ReadOnly: true });
  }
  return {
    Image: image,
    Cmd: ['--job', `${CONTAINER_WORKSPACE}/job.json`],
    User: CONTAINER_USER,
    WorkingDir: CONTAINER_WORKSPACE,
    Labels: containerLabels(job),
    // Cache locations (HOME, MPLCONFIGDIR, NUMBA_CACHE_DIR) are the image's business: the blocks
    // image points them into /tmp and seeds them there, so they are not overridden here.
    Env: [
      // BLAS pools default to the host's core count and would oversubscribe the CPU limit.
      `OMP_NUM_THREADS=${threads}`,
      `OPENBLAS_NUM_THREADS=${threads}`,
      `MKL_NUM_THREADS=${threads}`,
      'PYTHONUNBUFFERED=1',
      // Stdin is our attach connection and closes with it: the runner stops a node whose worker
      // died instead of computing for nobody until the orphan sweep (ragomics_runner/orphan.py).
      `${RunnerNames.watchStdinEnv}=1`,
    ],
    AttachStdin: true,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: !wantsNetwork,
    HostConfig: sandboxHostConfig({ network: wantsNetwork, memoryBytes, nanoCpus: Math.round(job.cpus * 1e9), mounts }, opts),
  };
}
