/**
 * Two executions of one tree id, started one right after the other, on the real server: each
 * gets its own run key (common/run-key.ts: the first run id's random tail), so its own workspace
 * folder. Before, the key was the id's head, a timestamp in UUIDv7 ids: executions started within
 * ~65 s shared one folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runKeyOf } from '../common/run-key';
import { sleepNode, uid, withWorker } from './helpers/harness';

test('two executions of one tree id started back to back publish into two workspace folders named by their run keys', { timeout: 120_000 }, async () => {
  await withWorker({}, async ({ client, workspace }) => {
    const id = uid('run-key');
    const folders: string[] = [];
    for (let i = 0; i < 2; i++) {
      const tree = await client.startTree({ id, nodes: [sleepNode('a', 0)] });
      const result = await tree.result();
      assert.equal(result.state, 'COMPLETED');
      const described = await client.client.workflow.getHandle(id).describe();
      const first = described.raw.workflowExecutionInfo?.firstRunId ?? '';
      assert.ok(first, 'the execution has a first run id');
      const a = (await tree.status({ details: true })).nodes.find((n) => n.id === 'a');
      const out = (a as { outputPath?: string } | undefined)?.outputPath ?? '';
      const expected = path.join(workspace, 'trees', `${id}.${runKeyOf(first)}`);
      assert.ok(out.startsWith(expected + path.sep), `execution ${i + 1}: output ${out} is under ${expected}`);
      folders.push(expected);
    }
    assert.notEqual(folders[0], folders[1], 'each execution has its own folder');
  });
});
