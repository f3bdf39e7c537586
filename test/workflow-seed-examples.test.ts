/**
 * The seed's own examples, on the real dev server (in-process sleep blocks: scheduling is the
 * subject here, not Docker). The test decides when each node ends (NodeGate), so every step is
 * a scheduler decision observed in the tree's status, then confirmed from its timeline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TreeHandle } from '../client/sdk';
import { maxConcurrency, sleepNode, uid, waitFor, withWorker } from './helpers/harness';
import type { TimelineEntry } from '../workflows/views';

const span = (e: TimelineEntry) => ({ start: Date.parse(e.started!), end: Date.parse(e.ended!) });
const byNode = (entries: TimelineEntry[]) => new Map(entries.map((e) => [e.node, e]));
const states = async (tree: TreeHandle) => Object.fromEntries((await tree.status()).nodes.map((n) => [n.id, n.state]));

test('seed example 1: job1 first, then job2 and job3 overlap', async () => {
  await withWorker({}, async ({ client, gate }) => {
    // The test decides when each job ends (NodeGate): the steps follow from the scheduler's
    // decisions, not from how long sleeps happen to take on a busy machine.
    gate.hold('job1', 'job2', 'job3');
    const tree = await client.startTree({
      id: uid('seed1'),
      maxParallelJobs: 3,
      nodes: [
        sleepNode('job1', 0, { priority: 10 }),
        sleepNode('job2', 0, { priority: 10, dependencies: ['job1'] }),
        sleepNode('job3', 0, { priority: 10, dependencies: ['job1'] }),
      ],
    });
    await gate.started('job1');
    const first = await states(tree);
    assert.deepEqual([first.job1, first.job2 === 'RUNNING', first.job3 === 'RUNNING'], ['RUNNING', false, false], 'job2 and job3 wait for job1');
    gate.release('job1');
    // Both start while job1's end frees them; neither can end before the test releases it.
    await Promise.all([gate.started('job2'), gate.started('job3')]);
    gate.release('job2', 'job3');
    const result = await tree.result();
    assert.equal(result.state, 'COMPLETED');
    assert.equal(result.allSucceeded, true);
    const t = byNode(await tree.timeline());
    const [j1, j2, j3] = ['job1', 'job2', 'job3'].map((id) => span(t.get(id)!)) as [ReturnType<typeof span>, ReturnType<typeof span>, ReturnType<typeof span>];
    assert.ok(j2.start >= j1.end && j3.start >= j1.end, 'job2 and job3 start after job1 ended');
    assert.ok(j2.start < j3.end && j3.start < j2.end, 'job2 and job3 overlap');
    const status = await tree.status();
    assert.deepEqual(status.nodes.map((n) => n.state), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
    assert.equal(status.metrics.totalProcessed, 3);
    assert.equal(status.metrics.successRate, 1);
  });
});

test('seed dependency example at maxParallelJobs 2, depth_first: the four steps of the seed', async () => {
  await withWorker({}, async ({ client, gate }) => {
    // The seed's story with its ends decided by the test (NodeGate), in the seed's order: Root,
    // then Child1 ends before Child2, then the grandchildren of Child1, then Grandchild3.
    const ids = ['Root', 'Child1', 'Child2', 'Grandchild1', 'Grandchild2', 'Grandchild3'];
    gate.hold(...ids);
    const tree = await client.startTree({
      id: uid('seed-deps'),
      maxParallelJobs: 2,
      priorityStrategy: 'depth_first',
      nodes: [
        sleepNode('Root', 0),
        sleepNode('Child1', 0, { parentId: 'Root' }),
        sleepNode('Child2', 0, { parentId: 'Root' }),
        sleepNode('Grandchild1', 0, { parentId: 'Child1' }),
        sleepNode('Grandchild2', 0, { parentId: 'Child1' }),
        sleepNode('Grandchild3', 0, { parentId: 'Child2' }),
      ],
    });
    const running = async () => Object.entries(await states(tree)).filter(([, st]) => st === 'RUNNING').map(([id]) => id).sort();
    // Step 1: Root alone.
    await gate.started('Root');
    assert.deepEqual(await running(), ['Root']);
    gate.release('Root');
    // Step 2: Child1 and Child2 in parallel.
    await Promise.all([gate.started('Child1'), gate.started('Child2')]);
    assert.deepEqual(await running(), ['Child1', 'Child2']);
    // Child1 ends first: one of its children takes the free slot (Child2 holds the other).
    gate.release('Child1');
    await waitFor(async () => (await running()).length === 2 && !(await running()).includes('Child1'));
    const [firstGc] = (await running()).filter((id) => id !== 'Child2');
    assert.ok(firstGc === 'Grandchild1' || firstGc === 'Grandchild2', `a child of Child1 runs, not ${firstGc}`);
    // Step 3: Child2 ends; depth_first gives the slot to Child1's other child, not to
    // Grandchild3 (both are READY now): Grandchild1 and Grandchild2 run in parallel.
    gate.release('Child2');
    await waitFor(async () => (await running()).join() === 'Grandchild1,Grandchild2');
    assert.equal((await states(tree)).Grandchild3, 'READY', 'Grandchild3 waits for a slot');
    // RUNNING is the workflow's decision; wait until the worker has started both as well.
    await Promise.all([gate.started('Grandchild1'), gate.started('Grandchild2')]);
    // Step 4: Grandchild3 after a grandchild of Child1 ends.
    gate.release(firstGc!);
    await gate.started('Grandchild3');
    gate.release('Grandchild1', 'Grandchild2', 'Grandchild3');
    const result = await tree.result();
    assert.equal(result.state, 'COMPLETED');
    const entries = await tree.timeline();
    const t = byNode(entries);
    const s = (id: string) => span(t.get(id)!);
    for (const id of ['Child1', 'Child2', 'Grandchild1', 'Grandchild2', 'Grandchild3']) assert.ok(s(id).start >= s('Root').end, `${id} after Root`);
    assert.ok(s('Child1').start < s('Child2').end && s('Child2').start < s('Child1').end, 'Child1 and Child2 overlap');
    assert.ok(s('Grandchild1').start < s('Grandchild2').end && s('Grandchild2').start < s('Grandchild1').end, 'Grandchild1 and Grandchild2 overlap');
    assert.ok(s('Grandchild3').start >= Math.min(s('Grandchild1').end, s('Grandchild2').end), 'Grandchild3 waits for a grandchild of Child1');
    assert.ok(maxConcurrency(entries.map(span)) <= 2, 'never more than 2 running');
  });
});

test('status and timeline show every transition of a node, timestamped', async () => {
  await withWorker({}, async ({ client }) => {
    const tree = await client.startTree({ id: uid('life'), nodes: [sleepNode('a', 0.2), sleepNode('b', 0.2, { parentId: 'a' })] });
    await tree.result();
    const status = await tree.status({ transitions: true });
    const b = status.nodes.find((n) => n.id === 'b')!;
    assert.deepEqual(b.transitions!.map((x) => x.state), ['PENDING', 'WAITING', 'READY', 'RUNNING', 'COMPLETED']);
    const times = b.transitions!.map((x) => Date.parse(x.at));
    assert.deepEqual([...times].sort((x, y) => x - y), times, 'transitions are in time order');
    assert.ok(b.startedAt && b.endedAt && Date.parse(b.endedAt) >= Date.parse(b.startedAt));
  });
});
