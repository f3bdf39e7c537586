/**
 * Case 6 — hostile blocks: inline code run by the Docker executor through the workflow (a real
 * worker process, the real blocks image). Each attack is contained: the attacking node FAILS
 * with the reason recorded (in the status and in the attempt's outcome.json), or a probe node
 * reports every operation it could not do and the test asserts that. The host and the other
 * nodes are untouched: the parent's output keeps its checksum, the host's /etc is unchanged,
 * a sibling node completes, and no container is left.
 *
 * Case 6b: the same attacks in pooled containers (the Docker warm pool, docker-warm.ts, with
 * RAGOMICS_WARM_INLINE_CODE on): the pool is filled with a member for every node before the
 * tree starts (the worker logs "warm pool ready"), and Docker's rename events prove every node
 * ran in one. Only the layout differs:
 * a pooled container sees its inputs as hard links inside its read-only `/workspace` mount
 * instead of a bind mount of their own; the memory bomb asks for the pool's least memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import { uid } from './helpers/harness';
import { readLedger, runCase, reExecutions, sha256, verifyOutputs, type CaseRecorder } from './helpers/ledger';
import { WORKER_READY_MS, spawnWorker, tempDir, waitUntil } from './helpers/processes';
import { parseContainerName } from '../activities/executors/docker-identity';
import { WARM_MIN_MEMORY_MB } from '../activities/executors/docker-warm';
import * as H from './fixtures/reliability/hostile';
import { TEMPORAL_ADDRESS, caseTimeout, cleanupCase, codeNode, expectNoContainerLeft, NO_CONTAINER_MS, nodeOf, resultWithin, sleepNode, systemDocker, logWarmNodes } from './fixtures/reliability/common';
import { recordContainerEvents, type ContainerEvent, type ContainerEventRecording } from './fixtures/executor/helpers';

interface Expected {
  /** Node state and a pattern its recorded reason must match (FAILED nodes). */
  state: 'FAILED' | 'COMPLETED';
  reason?: RegExp;
  failureType?: string;
}

const FILE = 'test/reliability-6-hostile.test.ts';

/** Every bounded wait of case 6, in order; its test timeout is their sum plus cleanup slack. */
const W6 = { ready: WORKER_READY_MS, pool: 240_000, result: 300_000, noContainer: NO_CONTAINER_MS, stop: 60_000 };

/** Members of the pool in case 6b: one for every node of the tree, all started before it. */
const POOL_6B = 9;

void test('case 6: hostile blocks are contained; the host and a sibling node are untouched', { timeout: caseTimeout(W6) }, runCase({ id: '6', title: 'hostile blocks (Docker executor, through the workflow)', test: FILE }, (rec) => hostileCase(rec, false)));

void test('case 6b: the same attacks in pooled containers are contained the same way', { timeout: caseTimeout(W6) }, runCase({ id: '6b', title: 'hostile blocks in pooled containers (Docker warm pool)', test: FILE }, (rec) => hostileCase(rec, true)));

/** Case 6 (`pooled` false: every node in a container created for it) or 6b (every node in a pooled one). */
async function hostileCase(rec: CaseRecorder, pooled: boolean): Promise<void> {
  const base = tempDir(pooled ? 'rel-hostile-pool' : 'rel-hostile');
  const ws = path.join(base, 'ws');
  const taskQueue = uid('rel-hostile');
  const treeId = uid(pooled ? 'rel-hostile-pool' : 'rel-hostile');
  const marker = treeId;
  const docker = systemDocker();
  const workerId = `${treeId}-W`;
  const passwdBefore = await sha256('/etc/passwd');
  const hostShadow = existsSync('/etc/shadow') ? readFileSync('/etc/shadow', 'utf8') : '';
  let client: RagomicsClient | undefined;
  let tree: TreeHandle | undefined;
  let renames: ContainerEventRecording | undefined;
  try {
    const w = spawnWorker({
      address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId, logDir: base, readyTimeoutMs: W6.ready,
      env: pooled ? { RAGOMICS_WARM_POOL: String(POOL_6B), RAGOMICS_WARM_INLINE_CODE: '1' } : { RAGOMICS_WARM_POOL: '0' },
    });
    await w.ready;
    renames = await recordContainerEvents(docker, { event: ['rename'], label: [`ragomics.worker=${workerId}`] });
    // Every node takes a member already idle and ready (take() never waits; a node finding none would run cold).
    if (pooled) await waitUntil(`the worker's "warm pool ready" line (${POOL_6B} members)`, () => w.log().includes('warm pool ready'), W6.pool);
    client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    const child = (id: string, code: string, extra: Record<string, unknown> = {}) => codeNode(id, code, { parentId: 'seed', ...extra });
    tree = await client.startTree({
      id: treeId, heartbeatTimeout: 10, maxParallelJobs: 3, maxNodes: 20, maxChildrenPerNode: 10, jobTimeout: 120,
      nodes: [
        sleepNode('seed', 0),
        child('network-egress', H.NETWORK_EGRESS),
        child('write-input', H.WRITE_INPUT),
        { ...child('write-outside', H.WRITE_OUTSIDE), block: { code: H.WRITE_OUTSIDE, parameters: { marker } } },
        child('fork-bomb', H.FORK_BOMB),
        // The pool serves nodes of at least WARM_MIN_MEMORY_MB; a cold container gets the tighter limit.
        child('memory-bomb', H.MEMORY_BOMB, { resources: { memoryMB: pooled ? WARM_MIN_MEMORY_MB : 256 } }),
        child('probe-host', H.PROBE_HOST),
        child('probe-privileged', H.PROBE_PRIVILEGED),
        sleepNode('bystander', 4, { parentId: 'seed' }),
      ],
    });
    const result = await resultWithin(tree, W6.result);
    const status = await tree.status();
    await logWarmNodes(pooled ? 'case 6b' : 'case 6', status);
    const ledger = await readLedger(ws, treeId);
    const expected: Record<string, Expected> = {
      seed: { state: 'COMPLETED' },
      'network-egress': { state: 'FAILED', reason: /Network is unreachable/, failureType: 'BlockCrashedError' },
      'write-input': { state: 'FAILED', reason: /Read-only file system|Permission denied/, failureType: 'BlockCrashedError' },
      'write-outside': { state: 'FAILED', reason: /Read-only file system|Permission denied/, failureType: 'BlockCrashedError' },
      'fork-bomb': { state: 'FAILED', reason: /fork bomb contained: forked=\d+ refused=\d+ limitHits=[1-9]\d* peak=\d+ pids\.max=256/, failureType: 'BlockCrashedError' },
      'memory-bomb': { state: 'FAILED', reason: /memory/i, failureType: 'OutOfMemoryError' },
      'probe-host': { state: 'COMPLETED' },
      'probe-privileged': { state: 'COMPLETED' },
      bystander: { state: 'COMPLETED' },
    };
    const outcomes: Record<string, string> = {};
    for (const [id, exp] of Object.entries(expected)) {
      const n = nodeOf(status, id);
      outcomes[id] = n.state === 'FAILED' ? `FAILED: ${(n.error ?? '').split('\n').find((l) => /RAGOMICS_ERROR|Error|error|memory|contained/.test(l))?.slice(0, 160) ?? n.error?.slice(0, 160)}` : n.state;
      assert.equal(n.state, exp.state, `${id}: ${n.error}`);
      if (exp.reason) assert.match(n.error ?? '', exp.reason, `${id}: recorded reason`);
      if (exp.failureType) {
        const att = ledger.attempts.filter((a) => a.nodeId === id);
        assert.equal(att.length, 1, `${id}: one attempt (no retries configured)`);
        assert.equal(att[0]!.failureType, exp.failureType, `${id}: outcome.json records the failure type`);
      }
    }
    assert.equal(result.state, 'FAILED');

    // The fork bomb never passed the PID limit.
    const fork = /peak=(\d+) pids\.max=(\d+)/.exec(nodeOf(status, 'fork-bomb').error ?? '')!;
    const forkHits = Number(/limitHits=(\d+)/.exec(nodeOf(status, 'fork-bomb').error ?? '')![1]);
    assert.ok(Number(fork[1]) <= Number(fork[2]), `peak ${fork[1]} <= limit ${fork[2]}`);

    // Probes: what the container saw of the host.
    const metricsOf = (id: string) => ledger.published.find((p) => p.nodeId === id)!.result.metrics as Record<string, unknown>;
    const hostProbe = metricsOf('probe-host');
    assert.equal(hostProbe.uid, 10001);
    assert.equal(hostProbe.dockerSock, false, 'no Docker socket inside');
    assert.ok(!String(hostProbe.shadow).startsWith('read:') || String(hostProbe.shadow).slice(5) !== hostShadow.slice(0, 395), "the host's /etc/shadow is not visible");
    assert.match(String(hostProbe.shadow), /^blocked: Permission denied/, '/etc/shadow (the image\'s own) is not readable by the block user');
    assert.ok(!String(hostProbe.hostname).includes(hostname()), 'the container has its own hostname');
    const mounts = hostProbe.mounts as { root: string; target: string; fstype: string }[];
    // Mounts of a host file system (not a kernel one) that show a sub-tree of it.
    const kernelFs = new Set(['proc', 'sysfs', 'cgroup', 'cgroup2', 'tmpfs', 'devpts', 'mqueue', 'shm', 'overlay']);
    const hostBacked = mounts.filter((m) => m.root !== '/' && !kernelFs.has(m.fstype));
    const foreign = hostBacked.filter((m) => !m.root.startsWith(ws) && !m.root.startsWith('/var/lib/docker/containers/'));
    assert.deepEqual(foreign, [], 'no host path is mounted except the attempt\'s job, output and input, and Docker\'s hosts/hostname/resolv.conf');
    if (pooled) {
      // The member's own folder, read-only, holds the hard-linked input; its output folder is the only writable mount.
      assert.ok(hostBacked.some((m) => m.target === '/workspace' && m.root.startsWith(path.join(ws, 'warm'))), 'the member\'s read-only folder is mounted');
      assert.ok(!hostBacked.some((m) => m.target.startsWith('/workspace/input')), 'no bind mount of its own for the input in a pooled container');
    } else {
      assert.ok(hostBacked.some((m) => m.target === '/workspace/input/_node_anndata.h5ad'), 'the input is mounted');
    }
    const priv = metricsOf('probe-privileged');
    const ops = priv.ops as Record<string, string>;
    const allowed = Object.entries(ops).filter(([, v]) => !v.startsWith('blocked'));
    assert.deepEqual(allowed, [], 'every privileged operation is refused');
    assert.equal(priv.capEff, '0000000000000000');
    assert.equal(priv.noNewPrivs, '1');

    // Host and siblings untouched.
    assert.equal(await sha256('/etc/passwd'), passwdBefore, "the host's /etc/passwd is unchanged");
    assert.equal(existsSync(`/ragomics-escape-${marker}`), false, 'nothing was written to the host /');
    const check = await verifyOutputs(ledger, status.nodes);
    rec.outputs(check);
    assert.deepEqual(check.problems, [], 'the parent output (the attacked input) and every completed output are intact');
    assert.ok(check.verified >= 4);
    assert.equal(nodeOf(status, 'seed').sha256, ledger.published.find((p) => p.nodeId === 'seed')!.result.outputSha256);
    await expectNoContainerLeft(docker, treeId);
    const ranPooled = renamedNodes(await renames.stop(), treeId);
    if (pooled) assert.deepEqual([...ranPooled].sort(), Object.keys(expected).sort(), 'every node ran in a pooled container (renamed to its attempt at hand-over)');
    else assert.deepEqual([...ranPooled], [], 'case 6 runs every node in a container created for it');
    const re = reExecutions(ledger);
    w.kill('SIGTERM');
    await w.waitExit(W6.stop);
    const attacks = Object.keys(expected).filter((k) => !['seed', 'bystander'].includes(k));
    rec.set({
      faultsInjected: attacks.length, nodesReExecuted: re.total,
      line: `${pooled ? 'in pooled containers: ' : ''}${attacks.length} attacks contained (5 FAILED with reason, 2 probes: ${Object.keys(ops).length} privileged ops all refused, no host path/socket/shadow visible); fork bomb peak ${fork[1]}/${fork[2]} pids, ${forkHits} forks refused by the limit; bystander COMPLETED; parent output and host /etc unchanged`,
      figures: { outcomes, privilegedOps: ops, forkBomb: { peak: Number(fork[1]), limit: Number(fork[2]), limitHits: forkHits }, hostBackedMounts: hostBacked.map((m) => m.target) },
    });
  } finally {
    await renames?.stop().catch(() => undefined); // its live stream must not keep the process alive
    await client?.close();
    await cleanupCase({ workerIds: [workerId], trees: [tree], treeIds: [treeId], docker, dirs: [base] });
  }
}

/** Nodes of `treeId` whose container was renamed to their attempt: the hand-overs of pooled containers (docker-warm.ts). */
function renamedNodes(events: ContainerEvent[], treeId: string): Set<string> {
  const nodes = new Set<string>();
  for (const e of events) {
    const key = parseContainerName(e.Actor?.Attributes?.name ?? '');
    if (key?.treeId === treeId) nodes.add(key.nodeId);
  }
  return nodes;
}
