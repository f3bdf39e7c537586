/**
 * The Docker executor's warm pool (activities/executors/docker-warm.ts) against the real Docker
 * engine and the real blocks image (`python -m ragomics_runner --warm`): nodes run in pre-started
 * containers with every isolation guarantee of a cold container, fall back to cold when the pool
 * cannot serve them, and pool containers are cleaned up on shutdown and after a worker's death.
 * A node ran warm when its published result.json carries `timings.jobReceivedAt` (the runner
 * sets it only when it got its job on stdin).
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { Connection } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { cleanupOrphanContainers, createActivities, createDockerExecutor, sha256File, type Activities, type DockerExecutor } from '../activities';
import { containerIdentity, containerName, containerNameFilter } from '../activities/executors/docker-identity';
import { POOL_LABEL } from '../activities/executors/docker-spec';
import { WARM_MIN_MEMORY_MB } from '../activities/executors/docker-warm';
import { RunnerExitCodes } from '../common/runner-contract';
import type { NodeResult } from '../common/schemas';
import { loadWorkerConfig, PROJECT_ROOT, resolveBlocksImage } from '../workers/config';
import { removeOrphanContainers } from '../workers/orphans';
import { CONTAINER_BOUND_MS, failureOf, nodeInput, recordContainerEvents, removeRoot, runNode, startRunNode, tempRoot, treeIdFactory, waitFor, type Ran } from './fixtures/executor/helpers';
import { cpuSince, hostCpuTimes } from '../activities/executors/host-cpu';
import { TEMPORAL_ADDRESS, uid, withWorker } from './helpers/harness';
import { containersWith } from './fixtures/reliability/common';

const docker = new Docker();
const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');
const IMAGE = resolveBlocksImage(loadWorkerConfig({}));
const treeId = treeIdFactory('exec-warm');
/** Generous: on the shared 2-core box a warm-up takes 2-10 s. */
const READY_MS = 120_000;
/** A real block's timeout: a cold scanpy node takes 3-60 s on the shared, loaded 2-core box. */
const REAL_BLOCK_TIMEOUT_S = 600;
/** The pool label `ragomics.worker` of the file's executor. */
const EXECUTOR_WORKER = uid('warm-test');
let root: string;
let input: string;
let executor: DockerExecutor;
let activities: Activities;

/** Inline block (real runner): what the sandbox lets it do, reported as metrics. */
const PROBE = [
  'import os, socket',
  'def run(adata, **p):',
  '    path = "/workspace/input/_node_anndata.h5ad"',
  '    try:',
  '        with open(path, "ab") as f:',
  '            f.write(b"tampered")',
  '        wrote = "written"',
  '    except OSError as e:',
  '        wrote = str(e)',
  '    try:',
  '        socket.create_connection(("1.1.1.1", 53), timeout=3).close()',
  '        net = "connected"',
  '    except OSError as e:',
  '        net = str(e)',
  '    limit = None',
  '    for f in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"):',
  '        if os.path.exists(f):',
  '            limit = open(f).read().strip()',
  '            break',
  '    return adata, {"metrics": {"write": wrote, "net": net, "memLimit": limit, "inode": os.stat(path).st_ino, "uid": os.getuid()}}',
].join('\n');

/** Inline block touching 2 GiB, 16 MiB at a time: OOM-killed under a smaller limit. */
const HOG = [
  'def run(adata, **p):',
  '    hold = []',
  '    for _ in range(128):',
  '        hold.append(b"\\x01" * (16 << 20))',
  '    return adata, {"metrics": {"held": len(hold)}}',
].join('\n');

/** Pool containers (any state) of worker `workerId`. */
async function poolContainers(workerId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${POOL_LABEL}=true`, `ragomics.worker=${workerId}`] }) });
}

/** Whether a published node ran warm: its result.json has the runner's jobReceivedAt mark. */
async function ranWarm(result: NodeResult): Promise<boolean> {
  const manifest = JSON.parse(await readFile(path.join(result.outputDir, 'result.json'), 'utf8')) as { timings?: { jobReceivedAt?: number } };
  return typeof manifest.timings?.jobReceivedAt === 'number';
}

/** Waits until the pool holds an idle member, so the next attempt is served warm. */
async function poolHasIdle(ex: DockerExecutor): Promise<void> {
  await waitFor(() => ((ex.pool?.stats() as { idle: number } | undefined)?.idle ?? 0) > 0, READY_MS, 'an idle warm member');
}

function taken(ex: DockerExecutor): number {
  return (ex.pool!.stats() as { taken: number }).taken;
}

async function containerGone(id: string): Promise<boolean> {
  return docker.getContainer(id).inspect().then(() => false, (e: { statusCode?: number }) => e.statusCode === 404);
}

before(async () => {
  root = await tempRoot('ragomics-exec-warm');
  // A parent's published output: read-only, on the workspace's file system (hard-linkable).
  input = path.join(root, 'parent.h5ad');
  await copyFile(DATASET, input);
  await chmod(input, 0o444);
  // Inline code served warm too: the probes below are inline blocks (catalog blocks run in the same container).
  executor = createDockerExecutor({ docker, image: IMAGE, warmPool: 1, warmDir: path.join(root, 'warm'), workerId: EXECUTOR_WORKER, memorySampleMs: 500, warmInlineCode: true });
  activities = createActivities({ executor, workspaceRoot: root, workerId: 'warm-test', heartbeatIntervalMs: 200, firstHeartbeatAfterMs: 0, defaultMemoryMB: 1024 });
});

after(async () => {
  await executor.close();
  await removeRoot(root);
});

void describe('docker warm pool: runs', () => {
  void test('a built-in block runs in a warm member: published output, the member is removed after it', { timeout: 300_000 }, async () => {
    await poolHasIdle(executor);
    const before = taken(executor);
    const ran = startRunNode(activities, nodeInput(treeId('ok'), { inputPath: input, block: { name: 'normalize', parameters: { target_sum: 1e4, log1p: true } }, timeoutSeconds: REAL_BLOCK_TIMEOUT_S }));
    let containerId: string | undefined;
    ran.env.on('heartbeat', (d: { containerId?: string | null }) => (containerId ??= d.containerId ?? undefined));
    const result = await ran.promise;
    assert.equal(taken(executor), before + 1, 'the attempt took a member');
    assert.ok(await ranWarm(result), 'result.json carries jobReceivedAt');
    assert.match(result.outputSha256!, /^[0-9a-f]{64}$/);
    assert.equal(result.outputSha256, await sha256File(path.join(result.outputDir, '_node_anndata.h5ad')));
    assert.equal((await stat(result.outputDir)).mode & 0o222, 0, 'published read-only');
    assert.ok(containerId, 'the attempt reported its container');
    // Removal runs after the node's result: wait for it.
    await waitFor(() => !executor.activeContainers().has(containerId!), CONTAINER_BOUND_MS, 'the used member to be removed');
    assert.ok(await containerGone(containerId!));
  });

  void test('sandbox of a warm member: input read-only and unchanged (same inode), no network, the node’s memory limit, uid 10001', { timeout: 300_000 }, async () => {
    await poolHasIdle(executor);
    const before = taken(executor);
    // World-writable on purpose: only the read-only mount may stop the container from writing it.
    const writable = path.join(root, 'writable-parent.h5ad');
    await copyFile(DATASET, writable);
    await chmod(writable, 0o666);
    const sha = await sha256File(writable);
    const inode = (await stat(writable)).ino;
    const result = await runNode(activities, nodeInput(treeId('sandbox'), { inputPath: writable, block: { code: PROBE, parameters: {} }, resources: { memoryMB: 700, cpus: 1 }, timeoutSeconds: REAL_BLOCK_TIMEOUT_S }));
    assert.equal(taken(executor), before + 1, 'served warm');
    const m = result.metrics as Record<string, unknown>;
    assert.match(String(m.write), /Read-only file system/);
    assert.equal(m.inode, inode, 'the runner read the parent’s file itself (a hard link), not a copy');
    assert.match(String(m.net), /Network is unreachable|Errno 101|Cannot assign/);
    assert.equal(m.memLimit, String(700 * 1024 * 1024), 'the node’s limit, applied at assignment');
    assert.equal(m.uid, 10001);
    assert.equal(await sha256File(writable), sha, 'the parent’s file is unchanged');
    // The member's folder (and its link to the input) is removed with the container, after the result.
    const end = Date.now() + CONTAINER_BOUND_MS;
    while ((await stat(writable)).nlink !== 1) {
      if (Date.now() > end) assert.fail('the link in the member’s folder outlived it');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  void test('a memory hog in a warm member is OOM-killed under the node’s limit: OutOfMemoryError', { timeout: 300_000 }, async () => {
    await poolHasIdle(executor);
    const before = taken(executor);
    const f = await failureOf(runNode(activities, nodeInput(treeId('oom'), { block: { code: HOG, parameters: {} }, resources: { memoryMB: WARM_MIN_MEMORY_MB } })));
    assert.equal(taken(executor), before + 1, 'served warm');
    assert.equal(f.type, 'OutOfMemoryError');
    assert.match(f.message, new RegExp(`killed by the kernel for memory \\(limit ${WARM_MIN_MEMORY_MB} MB\\)`));
  });

  void test('a timeout removes the warm container: BlockTimeoutError', { timeout: 300_000 }, async () => {
    await poolHasIdle(executor);
    // The timeout leaves room for the hand-over and the first heartbeat (which names the
    // container) on a loaded engine; the wait below fails first, and says so, if they take longer.
    const ran = startRunNode(activities, nodeInput(treeId('timeout'), { block: { name: 'sleep', parameters: { seconds: 120 } }, timeoutSeconds: 20 }));
    let containerId: string | undefined;
    ran.env.on('heartbeat', (d: { containerId?: string | null }) => (containerId ??= d.containerId ?? undefined));
    const failed = failureOf(ran.promise);
    await waitFor(() => containerId !== undefined, 20_000, 'the attempt to report its container before its timeout');
    const f = await failed;
    assert.equal(f.type, 'BlockTimeoutError');
    assert.ok(await containerGone(containerId!), 'the container is gone when the attempt ends');
  });

  void test('cancelling a warm attempt removes its container', { timeout: 300_000 }, async () => {
    await poolHasIdle(executor);
    const ran = startRunNode(activities, nodeInput(treeId('cancel'), { block: { name: 'sleep', parameters: { seconds: 120 } } }));
    let containerId: string | undefined;
    ran.env.on('heartbeat', (d: { containerId?: string | null }) => (containerId ??= d.containerId ?? undefined));
    await waitFor(() => containerId !== undefined, 60_000, 'the attempt to report its container');
    ran.env.cancel();
    const err = await ran.promise.then(() => null, (e: unknown) => e);
    assert.ok(err instanceof CancelledFailure, `expected CancelledFailure, got ${String(err)}`);
    assert.ok(await containerGone(containerId!), 'the container is gone when the attempt ends');
  });
});

void describe('docker warm pool: cold fallback', () => {
  void test('nodes the pool cannot serve run cold: network, memory below the warm minimum', { timeout: 300_000 }, async () => {
    await poolHasIdle(executor);
    const before = taken(executor);
    const small = await runNode(activities, nodeInput(treeId('small'), { inputPath: input, block: { name: 'normalize', parameters: {} }, resources: { memoryMB: WARM_MIN_MEMORY_MB - 1 }, timeoutSeconds: REAL_BLOCK_TIMEOUT_S }));
    assert.equal(await ranWarm(small), false);
    const net = await runNode(activities, nodeInput(treeId('net'), { block: { code: 'def run(adata, **p):\n    return adata', parameters: {}, network: true } }));
    assert.equal(await ranWarm(net), false);
    assert.equal(taken(executor), before, 'no member taken');
  });

  void test('by default the pool serves catalog blocks only: inline code runs cold', { timeout: 300_000 }, async () => {
    const ex = createDockerExecutor({ docker, image: IMAGE, warmPool: 1, warmDir: path.join(root, 'warm-catalog'), workerId: uid('warm-catalog') });
    try {
      const acts = createActivities({ executor: ex, workspaceRoot: root, workerId: 'warm-test', defaultMemoryMB: 1024 });
      await poolHasIdle(ex);
      const inline = await runNode(acts, nodeInput(treeId('inline'), { block: { code: 'def run(adata, **p):\n    return adata', parameters: {} } }));
      assert.equal(await ranWarm(inline), false);
      assert.equal(taken(ex), 0);
      const builtin = await runNode(acts, nodeInput(treeId('builtin'), { block: { name: 'sleep', parameters: { seconds: 0 } } }));
      assert.ok(await ranWarm(builtin));
      assert.equal(taken(ex), 1);
    } finally {
      await ex.close();
    }
  });

  void test('a pool whose refill fails serves nothing and every node runs cold', { timeout: 300_000 }, async () => {
    // The members' folder cannot be created (its parent is a file): every creation fails.
    const blocker = path.join(root, 'not-a-folder');
    await writeFile(blocker, '');
    const broken = createDockerExecutor({ docker, image: IMAGE, warmPool: 1, warmDir: path.join(blocker, 'warm'), workerId: uid('warm-broken') });
    try {
      const acts = createActivities({ executor: broken, workspaceRoot: root, workerId: 'warm-test', defaultMemoryMB: 1024 });
      await waitFor(() => (broken.pool!.stats() as { failures: number }).failures > 0, 30_000, 'a failed refill');
      const result = await runNode(acts, nodeInput(treeId('coldfallback'), { inputPath: input, block: { name: 'normalize', parameters: {} }, timeoutSeconds: REAL_BLOCK_TIMEOUT_S }));
      assert.equal(await ranWarm(result), false, 'ran cold');
      assert.equal(taken(broken), 0);
    } finally {
      await broken.close();
    }
  });
});

void describe('docker warm pool: refills from spare CPU', () => {
  /** Busy share of the host's CPUs over the next second (every process, containers included). */
  const busyShareOverASecond = async (): Promise<number> => {
    const t0 = hostCpuTimes();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return cpuSince(t0).busyShare;
  };

  void test('while running nodes take every CPU a taken member is not replaced (the next node would run cold); once they end it is', { timeout: 600_000 }, async () => {
    const cpus = os.cpus().length;
    const ex = createDockerExecutor({ docker, image: IMAGE, warmPool: 1, warmDir: path.join(root, 'warm-spare'), workerId: uid('warm-spare') });
    const acts = createActivities({ executor: ex, workspaceRoot: root, workerId: 'warm-test', defaultMemoryMB: 1024 });
    const spinners: Ran[] = [];
    const stats = () => ex.pool!.stats() as { created: number; deferred: number; starting: number; idle: number };
    try {
      await poolHasIdle(ex);
      // One spinner per CPU, each held to one CPU by its limit; inline code, so they run cold and
      // leave the member alone. They spin until cancelled.
      for (let i = 0; i < cpus; i++) {
        spinners.push(startRunNode(acts, nodeInput(treeId(`spin${i}`), { block: { code: 'def run(adata, **p):\n    while True:\n        pass', parameters: {} }, resources: { cpus: 1 }, timeoutSeconds: 600 })));
      }
      // The state we need: the host saturated by them (not a guess at how long their start takes).
      const deadline = performance.now() + READY_MS;
      let share = 0;
      while ((share = await busyShareOverASecond()) < 0.9 && performance.now() < deadline);
      assert.ok(share >= 0.9, `the spinners saturate the host's ${cpus} CPUs (busy ${(share * 100).toFixed(0)}%)`);
      const createdBefore = stats().created;
      const served = await runNode(acts, nodeInput(treeId('spare-taken'), { block: { name: 'sleep', parameters: { seconds: 1 } } }));
      assert.ok(await ranWarm(served), 'the idle member served the node');
      assert.equal(stats().created, createdBefore, 'no replacement was started while the host had no spare CPU');
      assert.equal(stats().starting, 0);
      assert.ok(stats().deferred > 0, 'the refill was deferred, not forgotten');
      assert.equal(stats().idle, 0, 'the pool is empty: the next node would run cold');
      for (const s of spinners.splice(0)) {
        s.env.cancel();
        await s.promise.catch(() => undefined);
      }
      await poolHasIdle(ex);
      assert.equal(stats().created, createdBefore + 1, 'refilled once the CPUs were free');
    } finally {
      // Spinners still running after a failed assertion (the ones cancelled above were taken out).
      for (const s of spinners) s.env.cancel();
      await Promise.all(spinners.map((s) => s.promise.catch(() => undefined)));
      await ex.close();
    }
  });
});

void describe('docker warm pool: clean-up', () => {
  void test('close() removes idle members and their folders', { timeout: 300_000 }, async () => {
    const workerId = uid('warm-close');
    const dir = path.join(root, 'warm-close');
    const ex = createDockerExecutor({ docker, image: IMAGE, warmPool: 2, warmDir: dir, workerId });
    await poolHasIdle(ex);
    assert.ok((await poolContainers(workerId)).length > 0);
    await ex.close();
    assert.deepEqual(await poolContainers(workerId), []);
    assert.deepEqual(await readdir(dir), []);
  });

  // A creation in flight when the pool drains is given up at once, but the engine still creates
  // and starts its container a moment later; close() must wait for that container's removal.
  // Closed right after the executor is made, its creations are in flight (none is ready yet). The
  // engine's own events say what had happened by the time close() returned: every container of
  // this worker created and already destroyed, and at least one created (else the late path was
  // not exercised: a close() that returns before the engine created anything leaves nothing to
  // see yet, and it is what the code before the fix did).
  void test('close() while members are still being created returns only once their containers are removed', { timeout: 300_000 }, async () => {
    const workerId = uid('warm-close-early');
    const dir = path.join(root, 'warm-close-early');
    const events = await recordContainerEvents(docker, { label: [`ragomics.worker=${workerId}`] });
    const ex = createDockerExecutor({ docker, image: IMAGE, warmPool: 2, warmDir: dir, workerId });
    const stats = ex.pool!.stats() as { starting: number; idle: number };
    // Two on a host of 2 or more cores; the spare-CPU rule may defer the second on one core.
    assert.ok(stats.starting >= 1, `a creation is in flight when close() is called (${JSON.stringify(stats)})`);
    assert.equal(stats.idle, 0);
    await ex.close();
    // Rounded up to the next millisecond: an event of the last sub-millisecond before close()
    // returned must count (Date.now() truncates); no creation fits in that one millisecond.
    const closedAtNs = (Date.now() + 1) * 1e6;
    const seen = (await events.stop()).filter((e) => e.timeNano <= closedAtNs);
    const created = seen.filter((e) => e.Action === 'create').map((e) => e.id);
    const destroyed = new Set(seen.filter((e) => e.Action === 'destroy').map((e) => e.id));
    assert.ok(created.length >= 1, 'the engine created a member before close() returned');
    assert.deepEqual(created.filter((id) => !destroyed.has(id)), [], 'every member created was removed before close() returned');
    assert.deepEqual(await poolContainers(workerId), []);
    assert.deepEqual(existsSync(dir) ? await readdir(dir) : [], []);
  });

  void test('a live worker’s idle members survive another worker’s sweep; a SIGKILLed worker’s members exit and the next start-up sweep removes them', { timeout: 300_000 }, async () => {
    const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
    const live = uid('warm-live');
    const liveEx = createDockerExecutor({ docker, image: IMAGE, warmPool: 1, warmDir: path.join(root, 'warm-live'), workerId: live });
    const dead = uid('warm-dead');
    // A worker process of its own, with a pool, that we SIGKILL.
    const script = `const { createDockerExecutor } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'dist', 'activities'))});
      const ex = createDockerExecutor({ image: ${JSON.stringify(IMAGE)}, warmPool: 2, warmDir: ${JSON.stringify(path.join(root, 'warm-dead'))}, workerId: ${JSON.stringify(dead)} });
      setInterval(() => { if (ex.pool.stats().idle === 2) console.log('READY'); }, 200);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await poolHasIdle(liveEx);
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
        child.on('exit', (code) => reject(new Error(`the pool process exited (${code})`)));
      });
      // Both members run (importing or ready): a runner reads its stdin after its imports.
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // Stdin was the dead worker's attach connection: each member reads EOF and exits.
      const end = Date.now() + READY_MS;
      while ((await poolContainers(dead)).some((c) => c.State === 'running')) {
        if (Date.now() > end) assert.fail('the dead worker’s members did not exit');
        await new Promise((r) => setTimeout(r, 200));
      }
      const deadIds = (await poolContainers(dead)).map((c) => c.Id).sort();
      assert.equal(deadIds.length, 2);
      // What a worker's start-up runs (workers/create-worker.ts), judging only this test's two
      // workers' containers: other files' containers on this engine are not this test's to remove.
      const mine = (c: Docker.ContainerInfo): boolean => [dead, live].includes(c.Labels['ragomics.worker'] ?? '');
      const removed = await removeOrphanContainers(docker, connection, 'default', (c) => !mine(c));
      assert.deepEqual(removed.filter((id) => deadIds.includes(id)).sort(), deadIds);
      assert.deepEqual(await poolContainers(dead), []);
      const liveIds = (await poolContainers(live)).map((c) => c.Id);
      assert.ok(liveIds.length > 0 && liveIds.every((id) => !removed.includes(id)), 'the live worker’s members were spared');
    } finally {
      child.kill('SIGKILL');
      await liveEx.close();
      await connection.close();
    }
  });
});

/**
 * A worker process of its own (its executor, with a pool of one or none) runs a 300 s node and is
 * SIGKILLed once the node's container runs; returns when that container stopped. Stdin was the
 * dead worker's attach connection: the runner reads EOF mid-node and stops the node (orphan.py)
 * instead of sleeping out its 300 s. Bound: 60 s, far above the fraction of a second this takes
 * and far below the node's own length. Asserts exit 75 (Orphaned) and prints the time taken.
 * The job has no run key (as from an input without one).
 */
async function orphanedNode(t: TestContext, pooled: boolean): Promise<{ tree: string; dead: string; warmDir: string; containerId: string; cleanup: () => Promise<void> }> {
  const kind = pooled ? 'pooled' : 'cold';
  const dead = uid(`orphan-${kind}-dead`);
  const tree = treeId(`orphan-${kind}`);
  const warmDir = path.join(root, `orphan-${kind}-warm`);
  const attemptDir = path.join(root, `orphan-${kind}-attempt`);
  await mkdir(path.join(attemptDir, 'output'), { recursive: true });
  await chmod(path.join(attemptDir, 'output'), 0o777);
  const block = { name: 'sleep', parameters: { seconds: 300 } };
  await writeFile(path.join(attemptDir, 'job.json'), JSON.stringify({ treeId: tree, nodeId: 'n', attempt: 1, block, inputRequired: false }));
  const job = {
    treeId: tree, nodeId: 'n', attempt: 1, activityAttempt: 1, block, inputPath: null, memoryMB: 1024, cpus: 1, workerId: dead,
    paths: { dir: attemptDir, jobFile: path.join(attemptDir, 'job.json'), outputDir: path.join(attemptDir, 'output'), stdoutLog: path.join(attemptDir, 'stdout.log'), stderrLog: path.join(attemptDir, 'stderr.log') },
  };
  const run = `ex.run(${JSON.stringify(job)}, { signal: new AbortController().signal, onProgress() {}, onStarted(i) { console.log('STARTED ' + i.containerId + ' ' + (ex.pool ? ex.pool.stats().taken : 0)); } });`;
  const script = `const { createDockerExecutor } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'dist', 'activities'))});
    const ex = createDockerExecutor({ image: ${JSON.stringify(IMAGE)}, warmPool: ${pooled ? 1 : 0}, warmDir: ${JSON.stringify(warmDir)}, workerId: ${JSON.stringify(dead)} });
    ${pooled ? `const timer = setInterval(() => { if (ex.pool.readyIdle() < 1) return; clearInterval(timer); ${run} }, 200);` : run}`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let containerId: string | undefined;
  const cleanup = async (): Promise<void> => {
    child.kill('SIGKILL');
    // The dead worker's refill (idle, exits on EOF) and anything left of the attempt.
    await cleanupOrphanContainers(docker, undefined, { workerId: dead });
    if (containerId) await docker.getContainer(containerId).remove({ force: true }).catch(() => undefined);
  };
  try {
    const [id, takenCount] = await new Promise<[string, string]>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /STARTED (\w+) (\d+)/.exec(out);
        if (m) resolve([m[1]!, m[2]!]);
      });
      child.on('exit', (code) => reject(new Error(`the worker process exited (${code})`)));
    });
    containerId = id;
    assert.equal(takenCount, pooled ? '1' : '0', pooled ? 'the attempt ran in a pooled member' : 'the attempt ran cold');
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Measured 2026-12-05 (2 cores, full suite, ci-cold and ci-final2): pooled 119-133 ms, cold 119-222 ms; 60 s is > 250x that, far below the 300 s sleep.
    const stopBy = Date.now() + 60_000;
    let state = (await docker.getContainer(id).inspect()).State;
    while (state.Running) {
      if (Date.now() > stopBy) assert.fail(`the orphaned ${kind} node's container still ran 60 s after its worker's SIGKILL`);
      await new Promise((r) => setTimeout(r, 100));
      state = (await docker.getContainer(id).inspect()).State;
    }
    t.diagnostic(`the orphaned ${kind} node stopped ${Date.now() - killedAt} ms after its worker's SIGKILL (exit ${state.ExitCode})`);
    assert.equal(state.ExitCode, RunnerExitCodes.orphaned, 'the runner stopped the node as orphaned, not killed nor finished');
    return { tree, dead, warmDir, containerId: id, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** The containers of a tree's node, once one of them runs (by the one identity function: containersWith). */
async function runningContainers(treeId: string, nodeId: string): Promise<Awaited<ReturnType<typeof containersWith>>> {
  const end = Date.now() + 120_000;
  let found: Awaited<ReturnType<typeof containersWith>> = [];
  while (!(found = await containersWith(docker, { treeId, nodeId })).some((c) => c.State === 'running')) {
    if (Date.now() > end) assert.fail(`${treeId}/${nodeId}: the node's container did not show up running`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return found;
}

/** Waits until no container of the tree is left (a cancelled tree's clean-up). */
async function noContainersLeft(treeId: string): Promise<void> {
  const gone = Date.now() + 60_000;
  while ((await containersWith(docker, { treeId })).length > 0) {
    if (Date.now() > gone) assert.fail(`${treeId}: the cancelled node's container is still there`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A pool member's host folder: the parent of the `ws/` folder mounted at /workspace. */
function memberFolder(c: Docker.ContainerInfo): string {
  const ws = c.Mounts.find((m) => m.Destination === '/workspace')?.Source;
  assert.ok(ws, 'a pool member mounts its folder at /workspace');
  return path.dirname(ws);
}

void describe('docker warm pool: identity of a pooled node\'s container', () => {
  void test('a pooled node\'s container is found by tree and node while it runs (its name, set at hand-over); clean-up by tree removes it and its folder', { timeout: 300_000 }, async () => {
    await poolHasIdle(executor);
    const before = taken(executor);
    const tree = treeId('ident');
    const runKey = 'aaaa1111';
    const ran = startRunNode(activities, nodeInput(tree, { nodeId: 'long', runKey, block: { name: 'sleep', parameters: { seconds: 300 } }, timeoutSeconds: 600 }));
    let containerId: string | undefined;
    ran.env.on('heartbeat', (d: { containerId?: string | null }) => (containerId ??= d.containerId ?? undefined));
    try {
      await waitFor(() => containerId !== undefined, 60_000, 'the attempt to report its container');
      assert.equal(taken(executor), before + 1, 'served warm');
      // By the one identity function, as the fault tests, the clean-up and the sweep see it.
      const found = await containersWith(docker, { treeId: tree, nodeId: 'long' });
      assert.deepEqual(found.map((c) => [c.Id, c.State]), [[containerId, 'running']]);
      assert.deepEqual(found[0]!.identity, { treeId: tree, nodeId: 'long', attempt: 1, activityAttempt: 1, runKey, localRun: null, workerId: EXECUTOR_WORKER, pooled: true });
      assert.deepEqual(found[0]!.Names, [`/${containerName({ treeId: tree, nodeId: 'long', attempt: 1, activityAttempt: 1, runKey })!}`]);
      // The operator's way (docs/cli.md): `docker ps --filter name=<containerNameFilter>`, by tree, node, execution.
      for (const filter of [containerNameFilter(tree), containerNameFilter(tree, 'long'), containerNameFilter(tree, undefined, runKey)]) {
        const byName = await docker.listContainers({ filters: JSON.stringify({ name: [filter] }) });
        assert.deepEqual(byName.map((c) => c.Id), [containerId], filter);
      }
      assert.deepEqual(await docker.listContainers({ filters: JSON.stringify({ name: [containerNameFilter(tree, undefined, 'bbbb2222')] }) }), [], 'another execution\'s filter');
      const folder = memberFolder(found[0]!);
      assert.ok((await readdir(path.join(root, 'warm'))).includes(path.basename(folder)));
      const idle = (await poolContainers(EXECUTOR_WORKER)).filter((c) => containerIdentity(c) === null).map((c) => c.Id);
      // What `cleanupOrphanContainers` by tree does (tests and tools): the pooled container goes, with its folder.
      const removed = await cleanupOrphanContainers(docker, undefined, { treeId: tree });
      assert.deepEqual(removed, [containerId]);
      assert.ok(await containerGone(containerId!));
      assert.ok(!(await readdir(path.join(root, 'warm'))).includes(path.basename(folder)), 'the member\'s folder was removed');
      const stillThere = new Set((await poolContainers(EXECUTOR_WORKER)).map((c) => c.Id));
      assert.ok(idle.every((id) => stillThere.has(id)), 'idle members (no tree) were not touched');
    } finally {
      ran.env.cancel();
      await ran.promise.catch(() => undefined);
    }
  });

  void test('a rename that fails (the name is taken) runs the node cold; it does not fail', { timeout: 300_000 }, async () => {
    await poolHasIdle(executor);
    const before = taken(executor);
    const tree = treeId('conflict');
    const runKey = 'cccc3333';
    const name = containerName({ treeId: tree, nodeId: 'n1', attempt: 1, activityAttempt: 1, runKey })!;
    // Not a ragomics container (no managed label): no sweep of another test removes it meanwhile.
    const squatter = await docker.createContainer({ name, Image: IMAGE, Entrypoint: ['true'], HostConfig: { NetworkMode: 'none' } });
    try {
      const result = await runNode(activities, nodeInput(tree, { runKey, inputPath: input, block: { name: 'normalize', parameters: {} }, timeoutSeconds: REAL_BLOCK_TIMEOUT_S }));
      assert.equal(taken(executor), before + 1, 'a member was taken');
      assert.equal(await ranWarm(result), false, 'and the node ran cold');
      assert.match(result.outputSha256!, /^[0-9a-f]{64}$/);
      assert.equal((await squatter.inspect()).Name, `/${name}`, 'the squatter is untouched');
      // The member that could not take the node was removed before the node ran cold: the
      // worker's pool containers are idle ones (its refill) only.
      const pooled = await poolContainers(EXECUTOR_WORKER);
      assert.ok(pooled.length <= 1 && pooled.every((c) => containerIdentity(c) === null), JSON.stringify(pooled.map((c) => c.Names)));
      assert.deepEqual(await containersWith(docker, { treeId: tree }), []);
    } finally {
      await squatter.remove({ force: true });
    }
  });

  void test('two executions of one tree id run the same node pooled at once: their names differ by run key, both are served warm', { timeout: 300_000 }, async () => {
    // Before names carried the run key, the second hand-over's rename failed (the name was the
    // first execution's) and that node ran cold: `pooled` would be false for one of them.
    const tree = treeId('twice');
    const runs = [];
    try {
      for (const runKey of ['dddd4444', 'eeee5555']) {
        await poolHasIdle(executor);
        const before = taken(executor);
        const ran = startRunNode(activities, nodeInput(tree, { nodeId: 'same', runKey, block: { name: 'sleep', parameters: { seconds: 300 } }, timeoutSeconds: 600 }));
        runs.push(ran);
        // Both end cancelled in the finally below; their rejections are expected.
        ran.promise.catch(() => undefined);
        let containerId: string | undefined;
        ran.env.on('heartbeat', (d: { containerId?: string | null }) => (containerId ??= d.containerId ?? undefined));
        await waitFor(() => containerId !== undefined, 60_000, `execution ${runKey} to report its container`);
        assert.equal(taken(executor), before + 1, `execution ${runKey} took a member`);
        const mine = await containersWith(docker, { treeId: tree, nodeId: 'same', runKey });
        assert.deepEqual(mine.map((c) => [c.Id, c.identity.pooled, c.State]), [[containerId, true, 'running']], `execution ${runKey} runs pooled`);
      }
      const both = await containersWith(docker, { treeId: tree, nodeId: 'same' });
      assert.deepEqual(both.map((c) => c.identity.runKey).sort(), ['dddd4444', 'eeee5555']);
      assert.ok(both.every((c) => c.identity.pooled && c.State === 'running'));
    } finally {
      for (const ran of runs) ran.env.cancel();
      for (const ran of runs) await ran.promise.catch(() => undefined);
    }
    assert.deepEqual(await containersWith(docker, { treeId: tree }), [], 'cancelled: both removed');
  });

  void test('a SIGKILLed worker\'s pooled node stops by itself (exit 75, Orphaned) and keeps its identity (name and worker label); clean-up by tree removes it', { timeout: 300_000 }, async (t) => {
    const o = await orphanedNode(t, true);
    try {
      // Its identity outlives the worker, for the clean-up to find it.
      const found = await containersWith(docker, { treeId: o.tree });
      assert.deepEqual(found.map((c) => [c.Id, c.State]), [[o.containerId, 'exited']]);
      assert.deepEqual(found[0]!.identity, { treeId: o.tree, nodeId: 'n', attempt: 1, activityAttempt: 1, runKey: null, localRun: null, workerId: o.dead, pooled: true });
      assert.deepEqual(found[0]!.Names, [`/ragomics-${o.tree}..n..1-1`], 'no run key: the previous version\'s name');
      assert.deepEqual((await containersWith(docker, { workerId: o.dead })).map((c) => c.Id), [o.containerId], 'found by its dead worker too');
      const folder = memberFolder(found[0]!);
      assert.deepEqual(await cleanupOrphanContainers(docker, undefined, { treeId: o.tree }), [o.containerId]);
      assert.ok(await containerGone(o.containerId));
      assert.ok(!(await readdir(o.warmDir)).includes(path.basename(folder)), 'the member\'s folder was removed with it');
    } finally {
      await o.cleanup();
    }
  });

  void test('a SIGKILLed worker\'s cold node stops by itself too (exit 75, Orphaned); clean-up by tree removes it', { timeout: 300_000 }, async (t) => {
    const o = await orphanedNode(t, false);
    try {
      const found = await containersWith(docker, { treeId: o.tree });
      assert.deepEqual(found.map((c) => [c.Id, c.State, c.identity.pooled]), [[o.containerId, 'exited', false]]);
      assert.deepEqual(await cleanupOrphanContainers(docker, undefined, { treeId: o.tree }), [o.containerId]);
      assert.ok(await containerGone(o.containerId));
    } finally {
      await o.cleanup();
    }
  });

  void test('cancelling a tree on a worker removes its pooled node\'s container, found by tree and node while it ran', { timeout: 300_000 }, async () => {
    const workerId = uid('warm-cancel-worker');
    await withWorker({ executor: 'docker', maxConcurrentNodes: 1, defaultMemoryMB: 1024, warmPool: 1, workerId }, async ({ client, rw, workspace }) => {
      const pool = (rw.executor as DockerExecutor).pool!;
      await waitFor(() => pool.readyIdle() === 1, READY_MS, 'a ready member');
      const tree = await client.startTree({ id: uid('warm-cancel'), nodes: [{ id: 'long', block: { name: 'sleep', parameters: { seconds: 300 } } }] });
      const found = await runningContainers(tree.treeId, 'long');
      assert.equal(found.length, 1);
      // The tree's run key, as its workspace folder `trees/<treeId>.<runKey>` names it.
      const folders = (await readdir(path.join(workspace, 'trees'))).filter((f) => f.startsWith(`${tree.treeId}.`));
      assert.equal(folders.length, 1, folders.join());
      const runKey = folders[0]!.slice(tree.treeId.length + 1);
      assert.match(runKey, /^[A-Za-z0-9-]{1,36}$/);
      assert.deepEqual(found[0]!.identity, { treeId: tree.treeId, nodeId: 'long', attempt: 1, activityAttempt: 1, runKey, localRun: null, workerId, pooled: true });
      await tree.cancel('test');
      const result = await tree.result();
      assert.notEqual(result.state, 'COMPLETED');
      await noContainersLeft(tree.treeId);
      assert.ok(await containerGone(found[0]!.Id));
    });
  });

  void test('a local activity\'s pooled container is named with its run\'s tag (as its attempt folder) and survives another worker\'s sweep while its worker lives', { timeout: 300_000 }, async () => {
    const workerId = uid('warm-local-worker');
    await withWorker({ executor: 'docker', maxConcurrentNodes: 1, defaultMemoryMB: 1024, warmPool: 1, workerId }, async ({ client, rw, workspace }) => {
      const pool = (rw.executor as DockerExecutor).pool!;
      await waitFor(() => pool.readyIdle() === 1, READY_MS, 'a ready member');
      const tree = await client.startTree({ id: uid('warm-local'), localActivities: true, jobTimeout: 600, nodes: [{ id: 'long', block: { name: 'sleep', parameters: { seconds: 300 } } }] });
      const found = await runningContainers(tree.treeId, 'long');
      assert.equal(found.length, 1);
      // Its attempt folder `attempts/1-1-<tag>` (activities/workspace.ts) and its container name carry the same tag.
      const [folder] = (await readdir(path.join(workspace, 'trees'))).filter((f) => f.startsWith(`${tree.treeId}.`));
      const attempts = await readdir(path.join(workspace, 'trees', folder!, 'nodes', 'long', 'attempts'));
      assert.equal(attempts.length, 1, attempts.join());
      const tag = /^1-1-([0-9a-f]+)$/.exec(attempts[0]!)?.[1];
      assert.ok(tag, `a local run's folder: ${attempts[0]}`);
      const runKey = folder!.slice(tree.treeId.length + 1);
      assert.deepEqual(found[0]!.identity, { treeId: tree.treeId, nodeId: 'long', attempt: 1, activityAttempt: 1, runKey, localRun: tag, workerId, pooled: true });
      // Another worker's sweep (at its start and every RAGOMICS_ORPHAN_SWEEP seconds): the node is
      // a local activity, no pending activity in the tree's describe, yet its worker polls the
      // tree's queue, so its container stays. Only this tree's containers are judged.
      const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
      try {
        const removed = await removeOrphanContainers(docker, connection, 'default', (c) => containerIdentity(c)?.treeId !== tree.treeId);
        assert.deepEqual(removed, [], 'the live worker\'s local node was not swept');
      } finally {
        await connection.close();
      }
      assert.equal((await docker.getContainer(found[0]!.Id).inspect()).State.Status, 'running');
      await tree.cancel('test');
      assert.notEqual((await tree.result()).state, 'COMPLETED');
      assert.equal((await tree.status()).nodes.find((n) => n.id === 'long')?.state, 'CANCELLED');
      await noContainersLeft(tree.treeId);
    });
  });
});

void describe('docker warm pool: a tree on a worker', () => {
  void test('a tree with the pool on completes with correct outputs, nodes served warm; shutdown removes idle members', { timeout: 600_000 }, async () => {
    const workerId = uid('warm-tree-worker');
    await withWorker({ executor: 'docker', maxConcurrentNodes: 2, defaultMemoryMB: 1024, warmPool: 2, workerId }, async ({ client, rw }) => {
      const pool = (rw.executor as DockerExecutor).pool!;
      await waitFor(() => (pool.stats() as { idle: number }).idle === 2, READY_MS, 'two idle members');
      const tree = await client.startTree({
        id: uid('warm-tree'),
        userRequest: 'QC, then normalization and PCA, in warm containers',
        inputDataPath: input,
        nodes: [
          { id: 'qc', block: { name: 'quality_control', parameters: { min_genes: 10, min_cells: 1, max_pct_mito: null } } },
          { id: 'normalize', parentId: 'qc', block: { name: 'normalize', parameters: {} } },
          { id: 'pca', parentId: 'normalize', block: { name: 'pca', parameters: { n_comps: 10, use_highly_variable: false } } },
        ],
      });
      const result = await tree.result();
      assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
      const status = await tree.status();
      let warm = 0;
      for (const n of status.nodes) {
        assert.ok(n.outputPath, `${n.id} published`);
        assert.equal(n.sha256, await sha256File(n.outputPath));
        const manifest = JSON.parse(await readFile(path.join(path.dirname(n.outputPath), 'result.json'), 'utf8')) as { timings?: { jobReceivedAt?: number } };
        if (typeof manifest.timings?.jobReceivedAt === 'number') warm++;
      }
      // The root takes an idle member; later nodes take one when its refill finished in time.
      assert.ok(warm >= 1, `at least the root ran warm (${warm} of ${status.nodes.length})`);
      console.log(`# warm tree: ${warm} of ${status.nodes.length} nodes warm; pool ${JSON.stringify(pool.stats())}`);
      assert.ok((await poolContainers(workerId)).length > 0, 'the pool refilled');
    });
    // The worker's shutdown (harness: executor.close()) removed its idle members.
    assert.deepEqual(await poolContainers(workerId), []);
  });
});
