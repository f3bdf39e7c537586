/**
 * The production stack brought up for real with `bash scripts/stack.sh up` on this machine (local
 * images where no registry can be pulled): the Temporal server is the real one on PostgreSQL
 * (persistence and visibility), the Web UI serves the UI and reaches that server, the four
 * worker hosts poll their task queues under their own ids, a tree of `sleep` blocks runs through
 * the Docker executor on them, and `down --volumes` leaves no container of the project.
 * Failure cases (cheap, nothing is started): a port in use, a bad stack name, no Docker engine
 * and no Go toolchain exit 3 with one line naming what is wrong. One stack for the whole file, on free ports, beside the dev server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_KEYS } from '../common/search-attributes';
import { ragomics, ROOT } from './helpers/cli';
import { removeTree, tempDir, waitUntil } from './helpers/processes';
import { projectContainers, stackSettings, stackSh, startStack, STACK_UP_TIMEOUT_MS, type Stack } from './helpers/stack';

const { TaskQueueType, TaskQueueKind } = temporal.api.enums.v1;

/** Workers poll within seconds of their container starting; the bound covers a busy machine. */
const POLLERS_TIMEOUT_MS = 120_000;
/** Bound on the quickstart tree (six sleep nodes of under a second, each in a container). */
const TREE_TIMEOUT_MS = 180_000;

let stack: Stack | undefined;
let connection: Connection | undefined;

before(async () => {
  stack = await startStack('stackup');
  connection = await Connection.connect({ address: stack.address, connectTimeout: '10s' });
}, { timeout: STACK_UP_TIMEOUT_MS + 60_000 });

after(async () => {
  await connection?.close();
  // Normally done by the last test; again here when a test failed before it.
  if (stack && projectContainers(stack.name).length > 0) await stack.down();
  if (stack) await removeTree(stack.dir);
});

function need(): { stack: Stack; connection: Connection } {
  assert.ok(stack && connection, 'the stack is up (see the before hook)');
  return { stack, connection };
}

void test('up: prints the address lines and the time of each step', () => {
  const { stack } = need();
  assert.match(stack.address, /^127\.0\.0\.1:\d+$/);
  assert.match(stack.uiUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  for (const step of ['Docker engine', 'images', 'compose up', 'search attributes']) {
    assert.match(stack.up.stderr, new RegExp(`step "${step}" took \\d+\\.\\ds`), `step "${step}" is timed`);
  }
});

void test('the server is the real Temporal server on PostgreSQL, for persistence and visibility', async () => {
  const { connection } = need();
  const info = await connection.workflowService.getClusterInfo({});
  assert.equal(info.persistenceStore, 'postgres12');
  assert.equal(info.visibilityStore, 'postgres12');
  assert.ok(info.serverVersion, 'the server reports its version');
});

void test('the search attributes of common/search-attributes.ts are registered', async () => {
  const { connection } = need();
  const res = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
  for (const key of SEARCH_ATTRIBUTE_KEYS) assert.ok(key.name in (res.customAttributes ?? {}), `${key.name} is registered`);
});

void test('the Web UI answers with the UI page and reaches this stack\'s server', async () => {
  const { stack } = need();
  const page = await fetch(`${stack.uiUrl}/`);
  assert.equal(page.status, 200);
  const html = await page.text();
  const asset = /(_app\/immutable\/[^"]+\.js)/.exec(html)?.[1];
  assert.ok(asset, 'the page loads the built UI (SvelteKit assets under _app/immutable)');
  assert.equal((await fetch(`${stack.uiUrl}/${asset}`)).status, 200, `${asset} is served`);
  // The UI server's API is a proxy to the frontend: its answer is this server's.
  const cluster = await fetch(`${stack.uiUrl}/api/v1/cluster-info`);
  assert.equal(cluster.status, 200);
  assert.equal(((await cluster.json()) as { persistenceStore?: string }).persistenceStore, 'postgres12');
});

/** Identities polling `queue` for both workflow and activity tasks. */
async function pollers(connection: Connection, queue: string): Promise<string[]> {
  const sets = await Promise.all([TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY].map(async (taskQueueType) => {
    const res = await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: queue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL }, taskQueueType });
    return new Set((res.pollers ?? []).map((p) => p.identity ?? ''));
  }));
  return [...sets[0]!].filter((id) => sets[1]!.has(id)).sort();
}

void test('four worker hosts poll their task queues under their own ids', async () => {
  const { connection } = need();
  const want = { ragomics: ['worker-1', 'worker-2', 'worker-3'], highmem: ['worker-highmem'] };
  await waitUntil('the workers to poll', async () => {
    const [main, highmem] = await Promise.all([pollers(connection, 'ragomics'), pollers(connection, 'highmem')]);
    return JSON.stringify(main) === JSON.stringify(want.ragomics) && JSON.stringify(highmem) === JSON.stringify(want.highmem);
  }, POLLERS_TIMEOUT_MS, 1000);
});

void test('a tree of sleep blocks completes through the Docker executor on the worker hosts', { timeout: TREE_TIMEOUT_MS }, async () => {
  const { stack } = need();
  const env = { TEMPORAL_ADDRESS: stack.address };
  const run = await ragomics(['run', path.join(ROOT, 'examples', 'quickstart-sleep.yaml'), '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  const status = JSON.parse(run.stdout) as { treeId: string; state: string; nodes: { state: string }[] };
  assert.equal(status.state, 'COMPLETED');
  assert.equal(status.nodes.length, 6);
  const out = path.join(tempDir('stack-timeline'), 'timeline.json');
  try {
    const tl = await ragomics(['timeline', status.treeId, '--format', 'json', '-o', out], env);
    assert.equal(tl.code, 0, tl.stderr);
    const { attempts } = JSON.parse(readFileSync(out, 'utf8')) as { attempts: { worker: string | null; exitCode: number | null }[] };
    for (const a of attempts) {
      assert.ok(['worker-1', 'worker-2', 'worker-3'].includes(a.worker ?? ''), `ran on a worker host of the ragomics queue (${a.worker})`);
      // Exit codes are what a block container reports; the in-process executor has none.
      assert.equal(a.exitCode, 0);
    }
  } finally {
    await removeTree(path.dirname(out));
  }
  // The workers wrote the tree's workspace at the host path they were given (same path inside).
  assert.ok(existsSync(path.join(stack.dir, 'workspace', 'trees')), 'node workspaces under RAGOMICS_STACK_DIR/workspace');
});

void test('failure: a port in use → exit 3 with one line naming the port and its variable; nothing started', async () => {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const busy = (srv.address() as { port: number }).port;
  const s = await stackSettings('stackbusy', { RAGOMICS_STACK_UI_PORT: String(busy) });
  try {
    const r = await stackSh(['up'], s.env, 120_000);
    assert.equal(r.code, 3, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.includes('ERROR'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0]!, new RegExp(`port ${busy} is in use.*RAGOMICS_STACK_UI_PORT`));
    assert.deepEqual(projectContainers(s.name), [], 'no container was created');
  } finally {
    srv.close();
    await removeTree(s.dir);
  }
});

void test('failure: a bad stack name → exit 3 with one line, before anything runs', async () => {
  const s = await stackSettings('stackbad', { RAGOMICS_STACK_NAME: 'Not A Name' });
  try {
    const r = await stackSh(['up'], s.env, 60_000);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^\[ragomics\] ERROR: RAGOMICS_STACK_NAME='Not A Name' is not a compose project name/);
    assert.doesNotMatch(r.stderr, /step "/, 'no step ran');
  } finally {
    await removeTree(s.dir);
  }
});

void test('failure: no Docker engine → exit 3 with one line naming it', async () => {
  const s = await stackSettings('stacknodocker', { DOCKER_HOST: `unix://${path.join(tmpdir(), `no-docker-${process.pid}.sock`)}` });
  try {
    const r = await stackSh(['up'], s.env, 60_000);
    assert.equal(r.code, 3);
    const errors = r.stderr.split('\n').filter((l) => l.includes('ERROR'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0]!, /Docker at DOCKER_HOST=\S+ does not answer/);
  } finally {
    await removeTree(s.dir);
  }
});

void test('failure: no Go toolchain and no Temporal build yet → exit 3 with one line naming Go', async () => {
  // PATH without the folders that hold a `go`; node, docker and bash stay reachable.
  const dirs = (process.env.PATH ?? '').split(':').filter((d) => d && !existsSync(path.join(d, 'go')));
  const tools = tempDir('stack-no-go-tools');
  const s = await stackSettings('stacknogo', { PATH: dirs.join(':'), RAGOMICS_TOOLS_DIR: tools });
  try {
    const r = await stackSh(['images'], s.env, 120_000);
    assert.equal(r.code, 3, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.includes('ERROR'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0]!, /no Go toolchain/);
  } finally {
    await removeTree(s.dir);
    await removeTree(tools);
  }
});

void test('down --volumes leaves no container and no volume of the project', async () => {
  const { stack } = need();
  const r = await stack.down();
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(projectContainers(stack.name), []);
  const volumes = execFileSync('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${stack.name}`], { encoding: 'utf8' }).trim();
  assert.equal(volumes, '', 'the database volume is gone');
});
