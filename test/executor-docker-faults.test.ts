/**
 * The Docker executor's guards against a misbehaving engine connection, against the real Docker
 * engine reached through a fault-injecting proxy (test/fixtures/executor/engine-proxy.ts): every
 * call goes to the engine unchanged except the one a test breaks.
 *
 * - `wait` answered while the container still runs (what a dropped connection or an engine
 *   restart with live-restore looks like): the attempt is lost (ExecutorUnavailableError, so it
 *   runs again), never published, and its container is removed;
 * - `attach` refused: ExecutorUnavailableError, the container removed, the attempt's log files
 *   closed and kept;
 * - the removal on cancel failing once: the attempt stays cancelled (CancelledFailure), and the
 *   executor's own removal after it takes the container away.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { CancelledFailure } from '@temporalio/common';
import { createActivities, createDockerExecutor, type Activities } from '../activities';
import { startEngineProxy, type EngineProxy } from './fixtures/executor/engine-proxy';
import {
  CONTAINER_BOUND_MS, failureOf, fixtureImage, managedContainers, nodeInput, removeRoot, runNode, startRunNode, tempRoot, treeIdFactory, waitFor,
} from './fixtures/executor/helpers';

const docker = new Docker();
const treeId = treeIdFactory('exec-faults');
const TREE_PREFIX = treeId('').slice(0, -1);
let root: string;
let proxy: EngineProxy;
let activities: Activities;

before(async () => {
  root = await tempRoot('ragomics-exec-faults');
  proxy = await startEngineProxy(path.join(root, 'engine.sock'));
  const executor = createDockerExecutor({ docker: new Docker({ socketPath: proxy.socketPath }), image: fixtureImage(), memorySampleMs: 500 });
  activities = createActivities({ executor, workspaceRoot: root, workerId: 'test-worker', heartbeatIntervalMs: 200, firstHeartbeatAfterMs: 0, defaultMemoryMB: 256 });
});

after(async () => {
  await proxy?.close();
  const left = await managedContainers(docker, TREE_PREFIX);
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  await removeRoot(root);
  assert.deepEqual(left.map((c) => c.Names), [], 'containers left behind by this file');
});

const SLEEP_60 = { block: { name: 'sleep' as const, parameters: { seconds: 60 } } };
const isWait = (method: string, url: string): boolean => method === 'POST' && /\/containers\/[^/]+\/wait(\?|$)/.test(url);
const isAttach = (method: string, url: string): boolean => method === 'POST' && /\/containers\/[^/]+\/attach/.test(url);
const isRemove = (method: string, url: string): boolean => method === 'DELETE' && /\/containers\/[^/?]+(\?|$)/.test(url);

void describe('docker executor: a misbehaving engine connection', () => {
  void test('wait answered while the block still runs: the attempt is lost, not published; the container is removed', async () => {
    const tree = treeId('wait-early');
    proxy.inject((req) => (isWait(req.method, req.url) ? { status: 200, body: { StatusCode: 0 } } : null));
    try {
      const f = await failureOf(runNode(activities, nodeInput(tree, SLEEP_60)));
      assert.equal(f.type, 'ExecutorUnavailableError');
      assert.equal(f.nonRetryable, false);
      assert.match(f.message, /still ran/);
    } finally {
      proxy.inject(null);
    }
    assert.ok(proxy.seen.some((r) => isWait(r.method, r.url) && r.injected), 'the wait call was answered by the proxy');
    const published = await readdir(path.join(root, 'trees', tree, 'nodes', 'n1', 'published')).catch(() => []);
    assert.deepEqual(published, [], 'nothing published');
    assert.deepEqual(await managedContainers(docker, tree), [], 'the container was removed');
  });

  void test('attach refused: ExecutorUnavailableError; the container is removed', async () => {
    const tree = treeId('attach-refused');
    proxy.inject((req) => (isAttach(req.method, req.url) ? { status: 500, body: { message: 'injected attach failure' } } : null));
    try {
      const f = await failureOf(runNode(activities, nodeInput(tree, SLEEP_60)));
      assert.equal(f.type, 'ExecutorUnavailableError');
      assert.match(f.message, /attach/);
    } finally {
      proxy.inject(null);
    }
    assert.ok(proxy.seen.some((r) => isAttach(r.method, r.url) && r.injected), 'the attach call was refused by the proxy');
    assert.deepEqual(await managedContainers(docker, tree), [], 'the container was removed');
  });

  void test('the removal on cancel fails once: the attempt stays cancelled and the container still goes', async () => {
    const tree = treeId('remove-fails');
    const ran = startRunNode(activities, nodeInput(tree, SLEEP_60));
    await waitFor(() => ran.heartbeats.some((h) => (h as { containerId?: string | null }).containerId), CONTAINER_BOUND_MS, 'the container to start');
    let refused = 0;
    proxy.inject((req) => (isRemove(req.method, req.url) && refused++ === 0 ? { status: 500, body: { message: 'injected removal failure' } } : null));
    try {
      ran.env.cancel();
      const err = await ran.promise.then(() => null, (e: unknown) => e);
      assert.ok(err instanceof CancelledFailure, `expected CancelledFailure, got ${String(err)}`);
    } finally {
      proxy.inject(null);
    }
    assert.equal(refused >= 1, true, 'a removal was refused');
    assert.deepEqual(await managedContainers(docker, tree), [], 'the second removal took the container away');
  });

  void test('with no fault injected the proxy is transparent: a node completes through it', async () => {
    const result = await runNode(activities, nodeInput(treeId('transparent')));
    assert.equal(result.executor, 'docker');
  });
});
