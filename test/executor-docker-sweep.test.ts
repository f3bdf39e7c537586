/**
 * The orphan sweep (workers/orphans.ts) on containers of two executions of one tree id, and on a
 * local activity run's containers (judged by their worker's polls), against
 * the real Temporal server and Docker engine. The tree's executions are plain workflows on a task
 * queue no worker polls (they stay open until terminated): the sweep asks only describe and list.
 * The containers are created, never started, from the executor tests' fixture image, labelled
 * as the Docker executor labels a cold attempt's container (docker-spec.ts `containerLabels`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { containerLabels } from '../activities/executors/docker-spec';
import type { ExecJob } from '../activities/executors/types';
import { runKeyOf } from '../common/run-key';
import { pollingWorkers, removeOrphanContainers } from '../workers/orphans';
import { fixtureImage } from './fixtures/executor/helpers';
import { TEMPORAL_ADDRESS, uid, waitFor } from './helpers/harness';

const docker = new Docker();
let image: string;
let connection: Connection;
let client: Client;
const created: string[] = [];
const handles: WorkflowHandle[] = [];

before(async () => {
  image = fixtureImage();
  connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
  client = new Client({ connection, namespace: 'default' });
});

after(async () => {
  for (const id of created) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  for (const h of handles) await h.terminate('test over').catch(() => undefined);
  await connection.close();
});

/** An open execution of `treeId` (no worker takes its workflow task); its run key as workflows/analysis-tree.ts derives it. */
async function execution(treeId: string, taskQueue = uid('no-worker')): Promise<{ handle: WorkflowHandle; runId: string; runKey: string }> {
  const handle = await client.workflow.start('ragomicsSweepTestNoWorker', { taskQueue, workflowId: treeId });
  handles.push(handle);
  return { handle, runId: handle.firstExecutionRunId, runKey: runKeyOf(handle.firstExecutionRunId) };
}

/** A created (never started) container labelled as a cold attempt of `treeId` run by `workerId` (a local activity's run with `localRun`). */
async function coldContainer(treeId: string, nodeId: string, runKey: string | undefined, workerId: string, localRun?: string): Promise<string> {
  const job = { treeId, nodeId, attempt: 1, activityAttempt: 1, workerId, ...(runKey === undefined ? {} : { runKey }), ...(localRun === undefined ? {} : { localRun }) } as ExecJob;
  const c = await docker.createContainer({ Image: image, Entrypoint: ['sleep', '60'], Labels: containerLabels(job), HostConfig: { NetworkMode: 'none' } });
  created.push(c.id);
  return c.id;
}

async function exists(id: string): Promise<boolean> {
  return docker.getContainer(id).inspect().then(() => true, (e: { statusCode?: number }) => e.statusCode !== 404);
}

void test('sweep: another execution of a tree id is judged by its run key: an earlier one of this namespace is removed, an unknown one (another server) kept', { timeout: 120_000 }, async () => {
  const treeId = uid('sweep-runkey');
  const dead = uid('sweep-dead-worker');
  const first = await execution(treeId);
  await first.handle.terminate('the first execution ended');
  // Run keys are the run ids' random tails (common/run-key.ts): two executions share one only by a
  // 48-bit coincidence; should it happen, start again rather than test nothing.
  let second = await execution(treeId);
  while (second.runKey === first.runKey) {
    await second.handle.terminate('same run key: started again');
    await new Promise((r) => setTimeout(r, 1000));
    second = await execution(treeId);
  }
  const earlier = await coldContainer(treeId, 'a', first.runKey, dead);
  const foreign = await coldContainer(treeId, 'b', 'zzzz9999', dead);
  const current = await coldContainer(treeId, 'c', second.runKey, dead);
  const unkeyed = await coldContainer(treeId, 'd', undefined, dead);
  const mine = new Set(created);
  // The sweep finds earlier executions through visibility, which is eventually consistent: wait
  // until the list holds the first one, as a sweep long after it would see it.
  await waitFor(async () => {
    for await (const w of client.workflow.list({ query: `WorkflowId = '${treeId}'` })) if (w.runId === first.runId) return true;
    return false;
  });
  // Only this test's containers are judged: other tests' may share the engine.
  const removed = await removeOrphanContainers(docker, connection, 'default', (c) => !mine.has(c.Id));
  assert.deepEqual(new Set(removed), new Set([earlier, current, unkeyed]), 'the earlier execution\'s, the open one\'s whose worker is gone, and the one without a run key (as before run keys)');
  assert.ok(await exists(foreign), 'an execution this namespace does not hold (another server sharing the engine) is not ours to judge');
  assert.ok(!(await exists(earlier)) && !(await exists(current)) && !(await exists(unkeyed)));
  // Once the tree id's latest execution is closed too, a foreign execution's container is still kept.
  await second.handle.terminate('the second execution ended');
  assert.deepEqual(await removeOrphanContainers(docker, connection, 'default', (c) => !mine.has(c.Id)), []);
  assert.ok(await exists(foreign));
});

void test('sweep: a container that appears after the sweep listed the engine is not judged by that sweep (its attempt may have started after the describe)', { timeout: 120_000 }, async () => {
  const treeId = uid('sweep-late');
  const dead = uid('sweep-dead-worker');
  const { handle, runKey } = await execution(treeId);
  const listed = await coldContainer(treeId, 'a', runKey, dead);
  let late: string | undefined;
  // The engine as the sweep sees it, with one interleaving forced: a worker creates a container
  // for this tree right after the sweep's listing (its activity started after the describe that
  // follows would have been answered, so that describe could not name its worker).
  const racing = Object.create(docker) as Docker;
  racing.listContainers = (async (opts: Docker.ContainerListOptions) => {
    const result = await docker.listContainers(opts);
    late ??= await coldContainer(treeId, 'b', runKey, uid('sweep-new-worker'));
    return result;
  }) as Docker['listContainers'];
  const mine = (id: string): boolean => id === listed || id === late;
  const told: string[] = [];
  const removed = await removeOrphanContainers(racing, connection, 'default', (c) => !mine(c.Id), (c) => told.push(c.Id));
  assert.ok(late, 'the late container was created during the sweep');
  assert.deepEqual(removed, [listed], 'only the container the sweep listed before asking Temporal is judged');
  assert.deepEqual(told, [listed], 'onRemoved is given each removed container (the worker logs its name)');
  assert.ok(await exists(late), 'the late container is left for the next sweep');
  // The next sweep lists it before asking: its worker has no started activity here, so it goes.
  assert.deepEqual(await removeOrphanContainers(docker, connection, 'default', (c) => !mine(c.Id)), [late]);
  await handle.terminate('test over');
});

void test('sweep: a local activity run\'s container is kept while its worker polls the tree\'s task queue, removed when its worker is gone or its tree closed', { timeout: 120_000 }, async () => {
  // A local run is no pending activity in its tree's describe (the worker runs it inside its
  // workflow task), so the sweep judges it by its worker's polls. The live worker here is a real
  // Temporal worker polling the tree's task queue for activity tasks (it has no workflows, so the
  // tree's workflow task stays unclaimed and the tree open).
  const taskQueue = uid('sweep-local');
  const treeId = uid('sweep-local');
  const liveId = uid('sweep-live-worker');
  const nativeConnection = await NativeConnection.connect({ address: TEMPORAL_ADDRESS });
  const worker = await Worker.create({ connection: nativeConnection, namespace: 'default', taskQueue, identity: liveId, activities: { noop: async () => undefined } });
  const running = worker.run();
  try {
    const { handle, runKey } = await execution(treeId, taskQueue);
    await waitFor(async () => {
      const polling = await pollingWorkers(client, 'default', taskQueue);
      return polling !== 'unknown' && polling.has(liveId);
    });
    const live = await coldContainer(treeId, 'a', runKey, liveId, '0a0a0a0a');
    const dead = await coldContainer(treeId, 'b', runKey, uid('sweep-dead-worker'), '1b1b1b1b');
    // A regular activity's container of the same live worker, with no started activity: judged as before.
    const regular = await coldContainer(treeId, 'c', runKey, liveId);
    const mine = new Set([live, dead, regular]);
    const removed = await removeOrphanContainers(docker, connection, 'default', (c) => !mine.has(c.Id));
    assert.deepEqual(new Set(removed), new Set([dead, regular]), 'the dead worker\'s local run and the regular attempt no started activity owns');
    assert.ok(await exists(live), 'the live worker\'s local run is kept');
    // Its tree closed: nothing runs it any more, whoever polls.
    await handle.terminate('the tree ended');
    assert.deepEqual(await removeOrphanContainers(docker, connection, 'default', (c) => !mine.has(c.Id)), [live]);
  } finally {
    worker.shutdown();
    await running;
    await nativeConnection.close();
  }
});
