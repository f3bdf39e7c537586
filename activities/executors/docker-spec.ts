/**
 * The container an attempt runs in, as a pure function of the job: the sandbox settings live
 * here in one readable place (and can be asserted on without a Docker engine).
 */
import type Docker from 'dockerode';
import type { ExecJob } from './types';

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

/** Labels that identify an attempt's container; used by cleanup and by tests. */
export function containerLabels(job: ExecJob): Record<string, string> {
  const scope = process.env[SCOPE_ENV];
  return {
    [MANAGED_LABEL]: 'true',
    'ragomics.tree': job.treeId,
    'ragomics.node': job.nodeId,
    'ragomics.attempt': String(job.attempt),
    'ragomics.activity-attempt': String(job.activityAttempt),
    'ragomics.worker': job.workerId,
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
    ],
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: !wantsNetwork,
    HostConfig: {
      AutoRemove: false, // we read State (exit code, OOMKilled) before removing it ourselves
      NetworkMode: wantsNetwork ? 'bridge' : 'none',
      ReadonlyRootfs: true,
      // tmpfs pages count against the memory limit, so the size needs no cap of its own.
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,mode=1777' },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: opts.pidsLimit ?? 256,
      Memory: memoryBytes,
      MemorySwap: memoryBytes, // equal to Memory: no swap, so a hog is OOM-killed instead of thrashing
      NanoCpus: Math.round(job.cpus * 1e9),
      Mounts: mounts,
      LogConfig: { Type: 'none', Config: {} }, // we stream the output to files ourselves
    },
  };
}
