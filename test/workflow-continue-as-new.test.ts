/**
 * A 5,000-node tree completes as one logical run across several continue-as-new, on the real
 * server: every node ran exactly once, the status and timeline are complete afterwards (also
 * output paths, sha256 and summaries carried through the workspace), and the continue-as-new input
 * holds only a reference to the state file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { uid, withWorker } from './helpers/harness';

const N = 5000;

test(`a ${N}-node tree with continue-as-new: completes, each node ran once, status and timeline complete`, { timeout: 900_000 }, async () => {
  // A wide tree: every node has at most 3 children (the default maxChildrenPerNode).
  const nodes = Array.from({ length: N }, (_, i) => ({
    id: `n${i}`,
    parentId: i === 0 ? null : `n${Math.floor((i - 1) / 3)}`,
    block: { name: 'sleep' as const, parameters: { seconds: 0 } },
  }));
  await withWorker({ maxConcurrentNodes: 40 }, async ({ client, workspace }) => {
    const t0 = Date.now();
    // heartbeatTimeout 60: exactly-once is this test's subject, not failover, so a stall of the
    // loaded worker longer than the default 6 s must not time an attempt out and run it again.
    const tree = await client.startTree({ id: uid('big'), maxParallelJobs: 40, maxNodes: N, heartbeatTimeout: 60, nodes }, { continueAsNewAfterEvents: 4000 });
    const result = await tree.result();
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures.slice(0, 3)));
    assert.ok(result.runs >= 2, `continued as new (${result.runs} times)`);
    assert.equal(result.counts.COMPLETED, N);
    const status = await tree.status();
    assert.equal(status.nodes.length, N, 'status lists every node');
    assert.ok(status.nodes.every((n) => n.state === 'COMPLETED' && n.attempts === 1));
    // Carried across every continue-as-new (through the workspace): the sha256, the summary and the output path.
    for (const n of status.nodes) {
      assert.match(n.sha256 ?? '', /^[0-9a-f]{64}$/, `${n.id}: sha256`);
      assert.ok(n.summary, `${n.id}: summary`);
      assert.ok(n.outputPath?.startsWith(path.join(workspace, 'trees')) && n.outputPath.includes(`/nodes/${n.id}/published/attempt-1/`), `${n.id}: outputPath ${n.outputPath}`);
    }
    // The last run started from the carried state: its input (first history event) is a reference to the state file.
    const history = await client.client.workflow.getHandle(tree.treeId).fetchHistory();
    const carried = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data?.length ?? 0;
    console.log(`# continue-as-new input of the last run: ${carried} bytes (the state itself went through the workspace)`);
    assert.ok(carried > 0 && carried < 2000, `input of ${carried} bytes`);
    const timeline = await tree.timeline();
    assert.equal(timeline.length, N, 'one timeline entry per node');
    assert.equal(new Set(timeline.map((e) => e.node)).size, N);
    // Exactly once, from the workspace: one attempt folder and one published output per node.
    const treeDir = readdirSync(path.join(workspace, 'trees')).find((d) => d.startsWith(`${tree.treeId}.`))!;
    const nodesDir = path.join(workspace, 'trees', treeDir, 'nodes');
    let attempts = 0;
    for (const id of readdirSync(nodesDir)) attempts += readdirSync(path.join(nodesDir, id, 'attempts')).length;
    assert.equal(attempts, N, 'no node was executed twice');
    console.log(`# ${N} nodes in ${seconds.toFixed(1)} s (${(N / seconds).toFixed(0)} nodes/s), ${result.runs} continue-as-new`);
  });
});
