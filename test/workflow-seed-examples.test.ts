/**
 * The seed's own examples, on the real dev server (in-process sleep blocks: scheduling is the
 * subject here, not Docker). Facts are read back from the tree's timeline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxConcurrency, sleepNode, uid, withWorker } from './helpers/harness';
import type { TimelineEntry } from '../workflows/views';

const span = (e: TimelineEntry) => ({ start: Date.parse(e.started!), end: Date.parse(e.ended!) });
const byNode = (entries: TimelineEntry[]) => new Map(entries.map((e) => [e.node, e]));

test('seed example 1: job1 first, then job2 and job3 overlap', async () => {
  await withWorker({}, async ({ client }) => {
    const tree = await client.startTree({
      id: uid('seed1'),
      maxParallelJobs: 3,
      nodes: [
        sleepNode('job1', 0.5, { priority: 10 }),
        sleepNode('job2', 1, { priority: 10, dependencies: ['job1'] }),
        sleepNode('job3', 1, { priority: 10, dependencies: ['job1'] }),
      ],
    });
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
  await withWorker({}, async ({ client }) => {
    const tree = await client.startTree({
      id: uid('seed-deps'),
      maxParallelJobs: 2,
      priorityStrategy: 'depth_first',
      nodes: [
        sleepNode('Root', 0.5),
        // Child1 ends first, so its children are ready while Child2 still runs.
        sleepNode('Child1', 0.5, { parentId: 'Root' }),
        sleepNode('Child2', 1.2, { parentId: 'Root' }),
        sleepNode('Grandchild1', 1.2, { parentId: 'Child1' }),
        sleepNode('Grandchild2', 1.2, { parentId: 'Child1' }),
        sleepNode('Grandchild3', 0.5, { parentId: 'Child2' }),
      ],
    });
    const result = await tree.result();
    assert.equal(result.state, 'COMPLETED');
    const entries = await tree.timeline();
    const t = byNode(entries);
    const s = (id: string) => span(t.get(id)!);
    // Step 1: Root alone.
    for (const id of ['Child1', 'Child2', 'Grandchild1', 'Grandchild2', 'Grandchild3']) assert.ok(s(id).start >= s('Root').end, `${id} after Root`);
    // Step 2: Child1 and Child2 in parallel.
    assert.ok(s('Child1').start < s('Child2').end && s('Child2').start < s('Child1').end, 'Child1 and Child2 overlap');
    // Step 3: Grandchild1 and Grandchild2 in parallel.
    assert.ok(s('Grandchild1').start < s('Grandchild2').end && s('Grandchild2').start < s('Grandchild1').end, 'Grandchild1 and Grandchild2 overlap');
    // Step 4: Grandchild3 after them (depth_first keeps Child1's subtree going first).
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
