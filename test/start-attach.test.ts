/**
 * Starting a tree whose id is taken. While that tree runs, `startTree` returns it (`attached`,
 * the new spec unused) and `ragomics run` says it follows it instead of "started" (`--detach --json`
 * adds `attached`); an id held by another kind of workflow is refused; with
 * `ifIdTaken: 'fail'` the start is refused. Once that tree has ended, the id starts a new run.
 *
 * Nothing here depends on time: the first tree holds a 600 s node until the test cancels it,
 * and the CLI is followed until it prints its first line.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TreeIdTakenError } from '../client/errors';
import { sleepNode, uid, waitFor, withWorker } from './helpers/harness';
import { ragomics, startRagomics } from './helpers/cli';

const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-attach-'));
after(() => rmSync(dir, { recursive: true, force: true }));

void test('a running tree id: startTree attaches (spec unused), run says it follows, ifIdTaken fail refuses; once ended, the id starts anew', { timeout: 180_000 }, async () => {
  await withWorker({}, async ({ client }) => {
    const id = uid('attach');
    const first = await client.startTree({ id, nodes: [sleepNode('hold', 600)] });
    assert.equal(first.attached, false, 'a new id starts a tree');
    const firstRun = (await first.workflow.describe()).runId;
    try {
      const again = await client.startTree({ id, nodes: [sleepNode('other', 0)] });
      assert.equal(again.attached, true, 'the running tree is returned');
      assert.equal((await again.workflow.describe()).runId, firstRun, 'no second run');
      await assert.rejects(client.startTree({ id, nodes: [sleepNode('refused', 0)] }, { ifIdTaken: 'fail' }), TreeIdTakenError);

      const spec = path.join(dir, 'other.yaml');
      writeFileSync(spec, 'nodes:\n  - { id: cli-node, block: { name: sleep, parameters: { seconds: 0 } } }\n');
      // `--detach --json`: the id and `attached`, and the notice on stderr.
      const detached = await ragomics(['run', spec, '--id', id, '--detach', '--json']);
      assert.equal(detached.code, 0, detached.stderr);
      assert.deepEqual(JSON.parse(detached.stdout), { treeId: id, attached: true });
      assert.match(detached.stderr, new RegExp(`tree ${id} is already running: not started again \\(this spec was not used`));
      // Another default task queue (nothing polls it): `run` must follow the tree on the one it runs on.
      const run = startRagomics(['run', spec, '--id', id], { RAGOMICS_TASK_QUEUE: uid('tq-nobody') });
      // Its first line, or its exit (then the match below fails with its stderr).
      await Promise.race([waitFor(async () => run.stdout().includes('\n'), 60_000), run.done]);
      assert.match(run.stdout(), new RegExp(`^tree ${id} is already running: following it \\(this spec was not used`), run.stderr());
      await first.cancel('test over');
      const r = await run.done;
      assert.equal(r.code, 1, `a cancelled tree exits 1 (stderr: ${r.stderr})`);
      assert.doesNotMatch(r.stdout, /started tree/);
      assert.deepEqual((await first.status()).nodes.map((n) => n.id), ['hold'], 'no later spec reached the tree');
    } finally {
      await first.cancel('test over').catch(() => undefined);
    }
    await first.result().catch(() => undefined); // ended (CANCELLED), however result() reports it
    const next = await client.startTree({ id, nodes: [sleepNode('next', 0)] });
    assert.equal(next.attached, false, 'an ended tree\'s id starts a new run');
    assert.equal((await next.result()).state, 'COMPLETED');
    assert.notEqual((await next.workflow.describe()).runId, firstRun);
  });
});

void test('an id held by a running workflow that is not a tree: TreeIdTakenError naming its type, nothing started', { timeout: 60_000 }, async () => {
  await withWorker({}, async ({ client }) => {
    const id = uid('not-a-tree');
    // A workflow of another type on a task queue nothing polls: it stays open until terminated.
    const other = await client.client.workflow.start('someOtherWorkflow', { taskQueue: uid('tq-nobody'), workflowId: id });
    try {
      await assert.rejects(client.startTree({ id, nodes: [sleepNode('a', 0)] }), (e: unknown) => e instanceof TreeIdTakenError && /taken by a running workflow of type someOtherWorkflow, not a tree/.test(e.message));
      assert.equal((await other.describe()).type, 'someOtherWorkflow', 'the holder is untouched');
    } finally {
      await other.terminate('test over');
    }
  });
});
