/**
 * How often a cacheable node asks the engine for its image (activities/executors/docker.ts,
 * docker-resolved.ts), counted on the real engine: every API request the executor's Docker
 * client sends passes through a recording wrapper of its modem's `dial` (the requests still go
 * to the engine and their answers are the engine's). Before the hand-over, a cacheable node
 * inspected its image twice (cache lookup, then run); now once (the run still pings, bounded, so a
 * hung engine fails fast), and the run
 * uses the very image the lookup resolved (the one its cache key names), even when the tag moved
 * in between.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import Docker from 'dockerode';
import type DockerModem from 'docker-modem';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities, createDockerExecutor, type Activities, type DockerExecutor, type RunNodeRequest } from '../activities';
import type { Block, CacheLookup } from '../common/schemas';
import * as B from './fixtures/executor/blocks';
import { fixtureImage, managedContainers, nodeInput, removeRoot, runNode, tempRoot, treeIdFactory } from './fixtures/executor/helpers';
import { uid } from './helpers/harness';

const treeId = treeIdFactory('exec-resolve');
const TREE_PREFIX = treeId('').slice(0, -1);
/** A deterministic (cacheable) inline block needing no input. */
const BLOCK: Block = { code: B.NO_OUTPUT, parameters: {}, requirements: [], network: false, deterministic: true };
/** This file's own tag of the fixture image, re-pointed by a test; removed at the end. */
const TAG = `ragomics-test-resolve:${uid('t').toLowerCase().replace(/[^a-z0-9_.-]/g, '-')}`;
/** An image of this file's own (the fixture image plus a label), the tag's second target; removed at the end. */
const OTHER = `${TAG}-other`;

let root: string;
let image: string;
/** Engine requests of the executor's client, as `METHOD /path` (query dropped). */
const calls: string[] = [];
let executor: DockerExecutor;
let activities: Activities;

/** A Docker client whose every API request is recorded in {@link calls}, then sent to the engine. */
function recordingDocker(): Docker {
  const docker = new Docker();
  const modem = docker.modem as DockerModem;
  const dial = modem.dial.bind(modem);
  modem.dial = (options: DockerModem.DialOptions, callback?: DockerModem.RequestCallback) => {
    calls.push(`${options.method ?? 'GET'} ${(options.path ?? '').split('?')[0]!}`);
    dial(options, callback);
  };
  return docker;
}

/** Pings and image inspects among the requests recorded since index `from`. */
function engineCalls(from: number): { pings: number; inspects: number } {
  const since = calls.slice(from);
  return { pings: since.filter((c) => c === 'GET /_ping').length, inspects: since.filter((c) => /^GET \/images\/.+\/json$/.test(c)).length };
}

/** The `lookupCache` activity for `input`; its key (asserted non-null: a cacheable node, a miss). */
async function lookup(input: RunNodeRequest): Promise<{ key: string; hit: unknown }> {
  const env = new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: 30_000 }, { logger: new DefaultLogger('ERROR') });
  const { key, hit } = (await env.run(activities.lookupCache.bind(activities), input)) as CacheLookup;
  assert.ok(key !== null, 'a cacheable node has a key');
  return { key, hit };
}

function docker(...args: string[]): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', input: '' });
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

before(async () => {
  image = fixtureImage();
  docker('tag', image, TAG);
  // A second image under our own name: the fixture image with a label (no layer added).
  const built = spawnSync('docker', ['build', '-q', '-t', OTHER, '-'], { encoding: 'utf8', input: `FROM ${image}\nLABEL ragomics.test=resolve\n` });
  assert.equal(built.status, 0, built.stderr);
  root = await tempRoot('ragomics-exec-resolve');
  executor = createDockerExecutor({ docker: recordingDocker(), image: TAG, memorySampleMs: 60_000 });
  activities = createActivities({ executor, workspaceRoot: root, workerId: 'resolve-test', heartbeatIntervalMs: 200, firstHeartbeatAfterMs: 0, defaultMemoryMB: 256 });
});

after(async () => {
  const left = await managedContainers(new Docker(), TREE_PREFIX);
  for (const c of left) await new Docker().getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  // Our tag and our own image only: the fixture image keeps its own tag.
  spawnSync('docker', ['rmi', TAG, OTHER], { encoding: 'utf8' });
  await removeRoot(root);
  assert.deepEqual(left.map((c) => c.Names), [], 'containers left behind by this file');
});

void describe('docker executor: one image resolution per cacheable node', () => {
  void test('lookup then run: one image inspect per node (two without the hand-over); each step pings once', async () => {
    const tree = treeId('count');
    // As before the hand-over: the runtime identity asked without the node, then the run.
    let from = calls.length;
    await executor.runtimeIdentity!(BLOCK, { buildLog: `${root}/unused-build.log` });
    const before = await runNode(activities, nodeInput(tree, { nodeId: 'unkeyed', runKey: 'aaaa1111', block: BLOCK }));
    assert.equal(before.reused, false);
    const old = engineCalls(from);
    // The cache lookup activity, then the node's run: what a cacheable node does now.
    from = calls.length;
    const input = nodeInput(tree, { nodeId: 'keyed', runKey: 'aaaa1111', block: BLOCK });
    const { key, hit } = await lookup(input);
    assert.equal(hit, null, 'a miss');
    const result = await runNode(activities, { ...input, cacheKey: key });
    assert.equal(result.reused, false);
    const now = engineCalls(from);
    console.log(`engine calls per cacheable node (lookup + run): ${old.pings} pings + ${old.inspects} image inspects without the hand-over, ${now.pings} + ${now.inspects} with it`);
    assert.deepEqual(old, { pings: 2, inspects: 2 });
    assert.deepEqual(now, { pings: 2, inspects: 1 });
    // A node that is not cacheable has no lookup: its run resolves by itself.
    from = calls.length;
    await runNode(activities, nodeInput(tree, { nodeId: 'plain', runKey: 'aaaa1111', block: { code: B.NO_OUTPUT, parameters: {}, requirements: [], network: false } }));
    assert.deepEqual(engineCalls(from), { pings: 1, inspects: 1 });
  });

  void test('a lookup is handed to its own attempt only: a retry of the node (another attempt) resolves afresh', async () => {
    const tree = treeId('other-attempt');
    const input = nodeInput(tree, { runKey: 'bbbb2222', block: BLOCK });
    const { key } = await lookup(input);
    const from = calls.length;
    await runNode(activities, { ...input, attempt: 2, cacheKey: key });
    assert.deepEqual(engineCalls(from), { pings: 1, inspects: 1 }, 'attempt 2 resolved its image itself');
    // Attempt 1's entry is still there for attempt 1 (taken at its first run; test/unit/docker-resolved.test.ts: a second take gets nothing).
    const again = calls.length;
    await runNode(activities, { ...input, cacheKey: key });
    assert.deepEqual(engineCalls(again), { pings: 0, inspects: 0 });
  });

  void test('the tag moves between the lookup and the run: the node runs in the image its cache key names', async () => {
    const tree = treeId('retag');
    const fixtureId = docker('image', 'inspect', '-f', '{{.Id}}', image);
    const otherId = docker('image', 'inspect', '-f', '{{.Id}}', OTHER);
    assert.notEqual(fixtureId, otherId);
    docker('tag', image, TAG);
    try {
      const input = nodeInput(tree, { runKey: 'cccc3333', block: BLOCK });
      const { key } = await lookup(input);
      docker('tag', OTHER, TAG); // a rebuild re-points the tag
      const result = await runNode(activities, { ...input, cacheKey: key });
      // No RepoDigests for a local image: the digest is the Id.
      assert.equal(result.imageDigest, fixtureId, 'ran in the image the lookup resolved');
      // Without a lookup the node resolves the tag now: the new image (the tag did move).
      const fresh = await runNode(activities, nodeInput(tree, { nodeId: 'fresh', runKey: 'cccc3333', block: BLOCK }));
      assert.equal(fresh.imageDigest, otherId);
    } finally {
      docker('tag', image, TAG);
    }
  });
});
