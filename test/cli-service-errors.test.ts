/**
 * Failures the server reports, recognised by type and gRPC status code and turned into the
 * contract's exit codes, against the real Temporal server: a tree nobody's worker serves
 * (FAILED_PRECONDITION on a query → exit 3), changes to a closed tree (NOT_FOUND, told apart
 * from an unknown id by the server's record → exit 2), and unusable settings (ConfigError → exit 2).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NoWorkerError, TreeNotFoundError } from '../client/errors';
import { RagomicsClient } from '../client/sdk';
import { TEMPORAL_ADDRESS, uid, withWorker } from './helpers/harness';
import { ragomics, type CliResult } from './helpers/cli';

const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-svc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function assertFails(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
  assert.match(lines[0] ?? '', pattern);
}

void test('a tree whose task queue has no worker: status exits 3 naming the missing worker, the SDK query fails with NoWorkerError; once closed, add exits 2 "has finished"', async () => {
  const taskQueue = uid('no-worker-queue');
  const rc = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
  const id = uid('svc-err');
  try {
    await rc.startTree({ id, nodes: [{ id: 'a', block: { name: 'sleep', parameters: { seconds: 1 } } }] });
    // What a service asks before a change, to fail fast rather than wait for a worker.
    assert.equal(await rc.getTree(id).hasWorker(), false, 'no worker polls the queue');
    await assert.rejects(rc.getTree(uid('never-was')).hasWorker(), TreeNotFoundError);
    // The CLI looks for pollers first; the SDK learns it from the query's FAILED_PRECONDITION.
    assertFails(await ragomics(['status', id], { RAGOMICS_TASK_QUEUE: taskQueue }), 3, /^error: no worker is polling task queue .*ragomics worker/);
    const t0 = Date.now();
    await assert.rejects(rc.getTree(id).summary(), (e: unknown) => e instanceof NoWorkerError && e.exitCode === 3 && e.message.includes(`task queue "${taskQueue}"`) && e.message.includes(`ragomics worker --task-queue ${taskQueue}`));
    console.log(`summary query without a worker failed in ${Date.now() - t0} ms`);
    await rc.client.workflow.getHandle(id).terminate('test: close the tree without a worker');
    const nodes = path.join(dir, 'more.yaml');
    writeFileSync(nodes, '- { id: b, parentId: a, block: { name: sleep } }\n');
    assertFails(await ragomics(['add', id, nodes], { RAGOMICS_TASK_QUEUE: taskQueue }), 2, new RegExp(`^error: tree "${id}" has finished; it accepts no more changes$`));
    assertFails(await ragomics(['add', uid('never-was'), nodes], { RAGOMICS_TASK_QUEUE: taskQueue }), 2, /^error: no tree with id "never-was-/);
  } finally {
    await rc.client.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    await rc.close();
  }
});

void test('a tree whose queue a worker polls: hasWorker() is true', async () => {
  await withWorker({ logLevel: 'WARN' }, async ({ client }) => {
    const tree = await client.startTree({ id: uid('has-worker'), nodes: [{ id: 'a', block: { name: 'sleep', parameters: { seconds: 0 } } }] });
    // The worker ran the tree, so it has polled the queue (and still does): that is the state asked about.
    assert.equal((await tree.result()).state, 'COMPLETED');
    assert.equal(await tree.hasWorker(), true);
  });
});

void test('unusable settings exit 2 before anything starts: a missing TEMPORAL_CONFIG_FILE, a bad worker variable', async () => {
  assertFails(await ragomics(['status', 'whatever'], { TEMPORAL_CONFIG_FILE: path.join(dir, 'nope.toml') }), 2, /^error: TEMPORAL_CONFIG_FILE: no such file ".*nope\.toml"$/);
  assertFails(await ragomics(['worker'], { RAGOMICS_EAGER_NODES: 'maybe' }), 2, /^error: RAGOMICS_EAGER_NODES: must be /);
  assertFails(await ragomics(['worker', '--executor', 'local', '--warm', 'lots']), 2, /^error: --warm: must be a whole number 0-64 \(runtimes kept started; 0 = off\), got "lots"$/);
  assertFails(await ragomics(['worker', '--executor', 'local'], { RAGOMICS_WARM_POOL: '-1' }), 2, /^error: RAGOMICS_WARM_POOL: must be a whole number 0-64$/);
});

void test('no worker on the tree\'s queue: changes a worker applies (add, parallelism, cancel --node) exit 3 at once, naming the queue, nothing changed; signals (pause, cancel) are accepted and say they wait for a worker', async () => {
  const taskQueue = uid('no-worker-steer');
  const rc = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS, taskQueue });
  const id = uid('steer-no-worker');
  try {
    await rc.startTree({ id, nodes: [{ id: 'a', block: { name: 'sleep', parameters: { seconds: 1 } } }] });
    const nodes = path.join(dir, 'steer-more.yaml');
    writeFileSync(nodes, '- { id: b, parentId: a, block: { name: sleep } }\n');
    // Each used to wait for ever (an update waits for a worker to apply it).
    const noWorker = new RegExp(`^error: no worker is polling task queue "${taskQueue}", which applies changes to tree ${id}; nothing was changed; start one with \`ragomics worker --task-queue ${taskQueue}\``);
    for (const args of [['add', id, nodes], ['parallelism', id, '4'], ['cancel', id, '--node', 'a']]) assertFails(await ragomics(args), 3, noWorker);
    for (const [args, said] of [[['pause', id], `tree ${id} paused`], [['cancel', id], `cancellation of tree ${id} requested; running nodes are stopped`]] as const) {
      const r = await ragomics([...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `${said}; no worker polls task queue "${taskQueue}" now, so it takes effect when one does (start one with \`ragomics worker --task-queue ${taskQueue}\` (or \`ragomics dev\`))`);
    }
    // Nothing was added: the history holds the two signals and no update.
    const history = await rc.client.workflow.getHandle(id).fetchHistory();
    const updates = (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateAdmittedEventAttributes);
    assert.equal(updates.length, 0, 'no update reached the tree');
  } finally {
    await rc.client.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    await rc.close();
  }
});

void test('an id that names a workflow of another type: every tree command exits 2 and signals nothing; an unknown namespace and a query the server refuses exit 2 with the server\'s reason', async () => {
  const rc = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS });
  const id = uid('not-a-tree');
  const other = await rc.client.workflow.start('notATree', { taskQueue: uid('other-app'), workflowId: id, args: [] });
  try {
    const notTree = new RegExp(`^error: no tree with id "${id}" \\(that id is a workflow of type notATree, not a tree\\)$`);
    for (const args of [['pause', id], ['resume', id], ['cancel', id], ['watch', id], ['status', id], ['parallelism', id, '2']]) assertFails(await ragomics(args), 2, notTree);
    const history = await other.fetchHistory();
    assert.deepEqual((history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length, 0, 'no signal reached it');
    assertFails(await ragomics(['status', 'x'], { TEMPORAL_NAMESPACE: 'no-such-namespace' }), 2, /^error: the Temporal server has no namespace "no-such-namespace"; check TEMPORAL_NAMESPACE$/);
    assertFails(await ragomics(['list', '--query', 'bogus ===']), 2, /^error: the Temporal server refused the request: .*quer/i);
  } finally {
    await other.terminate('test over').catch(() => undefined);
    await rc.close();
  }
});
