/**
 * A tree never silently gets less than it asked for: on the real server, a tree whose
 * maxParallelJobs (3) exceeds its only worker's cap (1 node at once) has one node running and
 * the other dispatched but waiting, and `status` (SDK, `--json`, text) and `watch` say so with
 * the reason. The nodes are long sleeps the test cancels; every wait is for a state, not a time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { LiveTreeStatus } from '../client/sdk';
import { BIN, ROOT, ragomics } from './helpers/cli';
import { TEMPORAL_ADDRESS, sleepNode, uid, waitFor, withWorker } from './helpers/harness';

/** Generous: the machine may be loaded; the waits end as soon as the state is there. */
const STATE_TIMEOUT_MS = 60_000;

/** Both nodes dispatched: one started by the worker, the other waiting for its only slot. */
function oneRunsOneWaits(s: LiveTreeStatus): boolean {
  const running = s.nodes.filter((n) => n.state === 'RUNNING');
  return running.length === 2 && running.filter((n) => n.waitingFor?.kind === 'worker-slot').length === 1
    && running.filter((n) => !n.waitingFor && n.startedAt !== null).length === 1;
}

void test('a node the worker has no slot for is shown waiting, with the reason, in status, status --json and watch', async () => {
  await withWorker({ executor: 'inprocess', maxConcurrentNodes: 1 }, async ({ client, taskQueue }) => {
    const id = uid('slots');
    const tree = await client.startTree({ id, maxParallelJobs: 3, nodes: [sleepNode('a', 600), sleepNode('b', 600)] });
    // `watch` from the start, as a user would (plain output: stdout is a pipe).
    const watch = spawn(process.execPath, [BIN, 'watch', id], { cwd: ROOT, env: { ...process.env, TEMPORAL_ADDRESS }, stdio: ['ignore', 'pipe', 'pipe'] });
    let watchOut = '', watchErr = '';
    watch.stdout.on('data', (d: Buffer) => { watchOut += d.toString(); });
    watch.stderr.on('data', (d: Buffer) => { watchErr += d.toString(); });
    const watchExit = new Promise<number | null>((resolve) => watch.on('close', resolve));
    try {
      let status: LiveTreeStatus | undefined;
      await waitFor(async () => oneRunsOneWaits((status = await tree.status())), STATE_TIMEOUT_MS);
      assert.ok(status);
      const waiting = status.nodes.find((n) => n.waitingFor)!;
      const started = status.nodes.find((n) => !n.waitingFor)!;
      assert.equal(status.counts.RUNNING, 2, 'both dispatched: the tree allows 3');
      assert.equal(status.waitingForWorkerSlot, 1);
      assert.equal(waiting.startedAt, null, 'a waiting node has not started');
      assert.equal(waiting.waitingFor?.taskQueue, taskQueue);
      assert.match(waiting.waitingFor?.reason ?? '', new RegExp(`^waiting for a worker slot on task queue "${taskQueue}": activity scheduled, not yet started`));
      assert.ok(!Number.isNaN(Date.parse(waiting.waitingFor?.since ?? '')), 'since is a time');

      const json = await ragomics(['status', id, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const s = JSON.parse(json.stdout) as { waitingForWorkerSlot: number; nodes: { id: string; state: string; startedAt: string | null; waitingFor: { kind: string; reason: string } | null }[] };
      assert.equal(s.waitingForWorkerSlot, 1);
      const jw = s.nodes.find((n) => n.id === waiting.id)!;
      assert.equal(jw.state, 'RUNNING', "the contract's state is unchanged");
      assert.equal(jw.waitingFor?.kind, 'worker-slot');
      assert.match(jw.waitingFor?.reason ?? '', /waiting for a worker slot on task queue/);
      assert.equal(s.nodes.find((n) => n.id === started.id)?.waitingFor, null);

      const text = await ragomics(['status', id]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /2 running \(1 waiting for a worker slot\)/);
      assert.match(text.stdout, new RegExp(`${waiting.id} .*RUNNING.*\\n {4}↳ waiting for a worker slot on task queue "${taskQueue}"`));

      await waitFor(async () => new RegExp(`${waiting.id} RUNNING \\(waiting for a worker slot on task queue "${taskQueue}"`).test(watchOut), STATE_TIMEOUT_MS)
        .catch((err: Error) => { throw new Error(`${err.message}; watch printed:\n${watchOut}\n${watchErr}`); });

      // The slot frees up: the waiting node starts, and the status says so.
      await tree.cancelNode(started.id, 'test frees the slot');
      await waitFor(async () => {
        const n = (await tree.status()).nodes.find((x) => x.id === waiting.id);
        return n?.state === 'RUNNING' && !n.waitingFor && n.startedAt !== null;
      }, STATE_TIMEOUT_MS);
      await waitFor(async () => new RegExp(`${waiting.id} RUNNING \\(started\\)`).test(watchOut), STATE_TIMEOUT_MS)
        .catch((err: Error) => { throw new Error(`${err.message}; watch printed:\n${watchOut}\n${watchErr}`); });
    } finally {
      await tree.cancel('test over');
      // `watch` ends with the tree; should it not, it must not keep this file alive.
      setTimeout(() => watch.kill('SIGKILL'), 120_000).unref();
    }
    assert.equal((await tree.result()).state, 'CANCELLED');
    assert.equal(await watchExit, 1, 'watch ends with the tree (cancelled nodes: exit 1)');
    assert.match(watchOut, /1 node\(s\) were seen waiting for a worker slot .*maxParallelJobs 3; raise RAGOMICS_MAX_CONCURRENT_NODES or add workers/);
  });
});

void test('with enough worker slots both nodes start, and once started neither is counted as waiting', async () => {
  await withWorker({ executor: 'inprocess', maxConcurrentNodes: 4 }, async ({ client }) => {
    const tree = await client.startTree({ id: uid('slots-ok'), maxParallelJobs: 3, nodes: [sleepNode('a', 600), sleepNode('b', 600)] });
    try {
      let status: LiveTreeStatus | undefined;
      // Both started by the worker (the wait ends there). Before that, a scheduled activity not yet
      // started counts as waiting for a moment, so "never waiting" is not something to assert.
      await waitFor(async () => (status = await tree.status()).nodes.every((n) => n.state === 'RUNNING' && !n.waitingFor && n.startedAt !== null), STATE_TIMEOUT_MS);
      assert.equal(status?.waitingForWorkerSlot, 0, 'the count agrees with the nodes');
    } finally {
      await tree.cancel('test over');
    }
    assert.equal((await tree.result()).state, 'CANCELLED');
  });
});
