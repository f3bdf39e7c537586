/**
 * Case 8 — integrity of published outputs (Docker executor, real blocks image).
 *
 * While a tree runs, the test hashes each node's `_node_anndata.h5ad` the moment it first sees
 * the node COMPLETED; children then read those outputs (read-only mounts) for a while. At the
 * end every completed node has a sha256 in its result (status and node-result.json), the file
 * re-hashes to the same value as at completion (no output changed after its node COMPLETED),
 * files are 0444 and folders 0555, and a non-root process can neither write a published file
 * nor add one to a published folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { RagomicsClient, type TreeHandle } from '../client/sdk';
import { uid } from './helpers/harness';
import { readLedger, runCase, reExecutions, sha256, verifyOutputs } from './helpers/ledger';
import { WORKER_READY_MS, sleep, spawnWorker, tempDir } from './helpers/processes';
import { TEMPORAL_ADDRESS, caseTimeout, cleanupCase, codeNode, expectNoContainerLeft, NO_CONTAINER_MS, resultWithin, secs, sleepNode, systemDocker, logWarmNodes } from './fixtures/reliability/common';

/** Adds an obs column named after the node, so each output differs from its input. */
const TAG = 'def run(adata=None, **p):\n    adata.obs[p["name"]] = p["name"]\n    return adata\n';

const FILE = 'test/reliability-8-integrity.test.ts';

/** Every bounded wait of case 8, in order; its test timeout is their sum plus cleanup slack. */
const W8 = { ready: WORKER_READY_MS, result: 300_000, asNobody: 3 * 10_000, noContainer: NO_CONTAINER_MS, stop: 60_000 };

/** Runs `script` with sh as uid/gid 65534 (nobody), bounded. */
function asNobody(script: string) {
  return spawnSync('sh', ['-c', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10_000 });
}

void test('case 8: every published output has a checksum, never changes after its node COMPLETED, and is read-only', { timeout: caseTimeout(W8) }, runCase({ id: '8', title: 'integrity of published outputs', test: FILE }, async (rec) => {
  const base = tempDir('rel-integrity');
  // mkdtemp makes the folder 0700: another user could then reach nothing below it, and the
  // tamper checks at the end would pass for that reason alone. 0755, like a workspace would be.
  await chmod(base, 0o755);
  const ws = path.join(base, 'ws');
  const taskQueue = uid('rel-integrity');
  const treeId = uid('rel-integrity');
  const docker = systemDocker();
  const workerId = `${treeId}-W`;
  let client: RagomicsClient | undefined;
  let tree: TreeHandle | undefined;
  try {
    const w = spawnWorker({ address: TEMPORAL_ADDRESS, taskQueue, workspace: ws, workerId, logDir: base, readyTimeoutMs: W8.ready });
    await w.ready;
    client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
    const tag = (id: string, parentId: string) => ({ ...codeNode(id, TAG, { parentId }), block: { code: TAG, parameters: { name: id } } });
    tree = await client.startTree({
      id: treeId, heartbeatTimeout: 10, maxParallelJobs: 3, maxNodes: 20, maxChildrenPerNode: 5,
      nodes: [
        sleepNode('seed', 0),
        tag('a', 'seed'), tag('b', 'seed'), tag('c', 'seed'),
        sleepNode('a1', 3, { parentId: 'a' }), sleepNode('b1', 3, { parentId: 'b' }), sleepNode('c1', 3, { parentId: 'c' }),
        tag('a2', 'a1'),
      ],
    });
    // Hash each output as soon as its node is seen COMPLETED.
    const atCompletion = new Map<string, string>();
    const firstSeenLagMs: number[] = [];
    const done = resultWithin(tree, W8.result);
    let finished = false;
    void done.finally(() => (finished = true)).catch(() => undefined);
    while (!finished) {
      const s = await tree.status();
      for (const n of s.nodes) {
        if (n.state === 'COMPLETED' && n.outputPath && !atCompletion.has(n.id)) {
          atCompletion.set(n.id, await sha256(n.outputPath));
          if (n.endedAt) firstSeenLagMs.push(Date.now() - Date.parse(n.endedAt));
        }
      }
      await sleep(200);
    }
    const result = await done;
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
    const status = await tree.status();
    await logWarmNodes('case 8', status);
    const ledger = await readLedger(ws, treeId);

    // Every completed node has a checksum in its result (status and node-result.json).
    for (const n of status.nodes) {
      assert.equal(n.state, 'COMPLETED');
      assert.match(n.sha256 ?? '', /^[0-9a-f]{64}$/, `${n.id}: status sha256`);
      const pub = ledger.published.filter((p) => p.nodeId === n.id);
      assert.equal(pub.length, 1, `${n.id}: published once`);
      assert.equal(pub[0]!.result.outputSha256, n.sha256, `${n.id}: node-result.json sha256`);
    }
    // seed, a, b and c each end at least one 3 s node (a1, b1, c1) before the tree does, so a poll
    // sees each completed well before the end; the others may complete between the last two polls.
    for (const id of ['seed', 'a', 'b', 'c']) assert.ok(atCompletion.has(id), `${id} hashed at completion (hashed: ${[...atCompletion.keys()].join(', ')})`);
    // Re-hash at the end: same as at completion, same as recorded; modes 0444 / 0555.
    const check = await verifyOutputs(ledger, status.nodes, atCompletion);
    rec.outputs(check);
    assert.deepEqual(check.problems, []);
    assert.equal(check.verified, status.nodes.length);
    // Outputs differ along the chain (each tag node changed its input), so hashes are meaningful.
    assert.equal(new Set(status.nodes.map((n) => n.sha256)).size, 5, 'seed, a, b, c, a2 differ; a1, b1, c1 pass their input through');
    // A non-root process cannot change a published output or add to its folder.
    const sample = status.nodes.find((n) => n.id === 'a')!;
    // Control first: the process really runs as uid 65534 and can read the file and list its
    // folder, so the refusals below come from the published modes (0444 / 0555), not from a
    // spawn that failed or a path it cannot reach.
    const control = asNobody(`id -u && head -c 8 '${sample.outputPath}' >/dev/null && ls '${path.dirname(sample.outputPath!)}' >/dev/null`);
    assert.equal(control.error, undefined, `spawning as uid 65534 works: ${control.error?.message}`);
    assert.equal(control.status, 0, `uid 65534 can read the published output and list its folder: ${control.stderr}`);
    assert.equal(control.stdout.trim(), '65534');
    const write = asNobody(`printf tampered >> '${sample.outputPath}'`);
    assert.equal(write.error, undefined, `the tamper process started: ${write.error?.message}`);
    assert.equal(typeof write.status, 'number', 'the tamper process exited by itself (not killed by the time limit)');
    assert.notEqual(write.status, 0, 'writing a published file as uid 65534 fails');
    assert.match(write.stderr, /Permission denied/);
    const add = asNobody(`touch '${path.join(path.dirname(sample.outputPath!), 'extra')}'`);
    assert.equal(add.error, undefined, `the tamper process started: ${add.error?.message}`);
    assert.equal(typeof add.status, 'number', 'the tamper process exited by itself (not killed by the time limit)');
    assert.notEqual(add.status, 0, 'adding a file to a published folder as uid 65534 fails');
    assert.match(add.stderr, /Permission denied/);
    assert.equal(await sha256(sample.outputPath!), sample.sha256);
    await expectNoContainerLeft(docker, treeId);
    const re = reExecutions(ledger);
    w.kill('SIGTERM');
    await w.waitExit(W8.stop);
    rec.set({
      faultsInjected: 2, nodesReExecuted: re.total,
      line: `${status.nodes.length} outputs: sha256 in every result; ${atCompletion.size} hashed within ${secs(Math.max(...firstSeenLagMs))} of COMPLETED and all ${check.verified} re-hashed equal at the end; files 0444, folders 0555; 2 non-root tamper attempts refused`,
      figures: { outputs: status.nodes.length, hashedAtCompletion: atCompletion.size, maxLagMs: Math.max(...firstSeenLagMs), verified: check.verified },
    });
  } finally {
    await client?.close();
    await cleanupCase({ workerIds: [workerId], trees: [tree], treeIds: [treeId], docker, dirs: [base] });
  }
}));
