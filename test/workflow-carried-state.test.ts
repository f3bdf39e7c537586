/**
 * The tree's state through the workspace across continue-as-new, on the real server: unusual
 * values survive several runs unchanged, only the newest state files stay, and a missing or
 * corrupt state file fails the tree with a typed error naming the file (never an empty tree).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { carriedFile, createCarryActivities } from '../activities/carried-state';
import { CarriedStateErrors } from '../common/failure-types';
import type { CarriedRef } from '../common/schemas';
import { encodeState, splitChunks, type CarriedState } from '../workflows/carried-state';
import { sleepNode, uid, waitFor, withWorker } from './helpers/harness';

const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT']);

test('unusual values survive two and more continue-as-new unchanged; only the newest state files stay', { timeout: 600_000 }, async () => {
  const N = 60;
  // A chain of three (so the tree keeps going for several runs) under a wide root, one node failing after a retry.
  const nodes = Array.from({ length: N }, (_, i) => sleepNode(`n.${i}_x`, 0, {
    parentId: i === 0 ? null : `n.${i < 4 ? 0 : i - 3}_x`,
    ...(i === 5 ? { fail: true, maxRetries: 1 } : {}),
    ...(i === 7 ? { priority: -7, expectedDuration: 0.125 } : {}),
  }));
  await withWorker({}, async ({ client, workspace }) => {
    const tree = await client.startTree({ id: uid('carry-odd'), maxParallelJobs: 2, maxNodes: 100, retryDelay: 0.01, expansion: { idleTimeout: 3600 }, nodes }, { continueAsNewAfterEvents: 50 });
    const odd = 'ré "quoted"\n\ttab \u{1F9EC}';
    assert.deepEqual((await tree.addNodes([sleepNode('late', 0, { parentId: 'n.1_x' })], { requestId: odd })).added, ['late']);
    await tree.addNodesAsync([sleepNode('orphan', 0, { parentId: 'ghost' })], { requestId: `sig ${odd}` });
    await tree.setMaxParallelJobs(3);
    // Everything ended, after at least two continue-as-new.
    await waitFor(async () => {
      const s = await tree.status();
      return s.runs >= 3 && s.nodes.every((n) => ENDED.has(n.state));
    }, 300_000);
    const s = await tree.status({ transitions: true, details: true });
    assert.equal(s.totalNodes, N + 1);
    assert.equal(s.maxParallelJobs, 3, 'the changed cap was carried');
    const bad = s.nodes.find((n) => n.id === 'n.5_x')!;
    assert.equal(bad.state, 'FAILED');
    assert.equal(bad.attempts, 2, 'both attempts carried');
    assert.ok(s.nodes.filter((n) => n.state === 'CANCELLED').length > 0, 'dependents of the failed node cancelled');
    const rejected = s.rejected.find((r) => r.requestId === `sig ${odd}`);
    assert.ok(rejected && rejected.errors.some((e) => e.includes('ghost')), JSON.stringify(s.rejected));
    // The applied request ids were carried: the same request is recognised after the runs.
    assert.equal((await tree.addNodes([sleepNode('late', 0, { parentId: 'n.1_x' })], { requestId: odd })).duplicate, true);
    // Carried again (another continue-as-new is not needed for this): the status is the same after more runs.
    const before = JSON.stringify((await tree.status({ transitions: true, details: true })).nodes);
    await tree.addNodes(Array.from({ length: 30 }, (_, i) => sleepNode(`more-${i}`, 0, { parentId: i === 0 ? 'late' : `more-${i - 1}` })), { requestId: 'more' });
    const runsBefore = s.runs;
    await waitFor(async () => {
      const now = await tree.status();
      return now.runs > runsBefore && now.nodes.every((n) => ENDED.has(n.state));
    }, 300_000);
    const after = await tree.status({ transitions: true, details: true });
    assert.equal(JSON.stringify(after.nodes.slice(0, N + 1)), before, 'every earlier node reads the same after another continue-as-new');
    assert.equal(after.nodes.find((n) => n.id === 'n.7_x')?.state, 'COMPLETED');
    // Only the files of the last two runs stay in the tree's folder.
    const treeDir = readdirSync(path.join(workspace, 'trees')).find((d) => d.startsWith(`${tree.treeId}.`))!;
    const files = readdirSync(path.join(workspace, 'trees', treeDir, 'carried'));
    assert.ok(files.length >= 1 && files.length <= 2 && files.every((f) => f.endsWith('.json.deflate')), files.join(', '));
    console.log(`# ${after.totalNodes} nodes over ${after.runs} runs; carried files kept: ${files.length}`);
    await tree.close();
    const result = await tree.result();
    assert.equal(result.state, 'FAILED');
    assert.ok(result.runs >= 4, `runs ${result.runs}`);
  });
});

/** Starts a tree whose input points at `ref`, and returns the failure it ends with. */
async function failureOf(client: Parameters<Parameters<typeof withWorker>[1]>[0]['client'], taskQueue: string, ref: CarriedRef): Promise<ApplicationFailure> {
  const handle = await client.client.workflow.start('analysisTree', { taskQueue, workflowId: ref.treeId, args: [{ spec: { id: ref.treeId, nodes: [] }, carried: ref }] });
  const err = await handle.result().then(() => null, (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError, `the tree failed (got ${String(err)})`);
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

test('a missing or corrupt carried state fails the tree with a typed error naming the file', { timeout: 120_000 }, async () => {
  await withWorker({}, async ({ client, taskQueue, workspace }) => {
    const state: CarriedState = { nodes: [], durationStats: [], requests: [], rejected: [], paused: false, maxParallelJobs: 2, closed: false, runs: 2, version: 1 };
    const acts = createCarryActivities(workspace);
    const write = async (treeId: string): Promise<CarriedRef> => {
      const file = { treeId, runKey: 'abcd1234', runId: '11111111-2222-4333-8444-555555555555' };
      const bytes = encodeState(state);
      const chunks = splitChunks(bytes);
      for (const [index, chunk] of chunks.entries()) await acts.writeCarriedChunk({ ...file, index }, chunk);
      return { format: 'workspace-deflate-json-v1', ...file, ...(await acts.commitCarried({ ...file, chunks: chunks.length, bytes: bytes.length, keep: [] })), chunks: chunks.length };
    };

    const missing: CarriedRef = { format: 'workspace-deflate-json-v1', treeId: uid('carry-missing'), runKey: 'abcd1234', runId: '11111111-2222-4333-8444-555555555555', bytes: 100, sha256: 'a'.repeat(64), chunks: 1 };
    const m = await failureOf(client, taskQueue, missing);
    assert.equal(m.type, CarriedStateErrors.Missing);
    assert.ok(m.message.includes(carriedFile(workspace, missing)), m.message);

    const corrupt = await write(uid('carry-corrupt'));
    const where = carriedFile(workspace, corrupt);
    const data = readFileSync(where);
    data[Math.floor(data.length / 2)]! ^= 0x01;
    writeFileSync(where, data);
    const c = await failureOf(client, taskQueue, corrupt);
    assert.equal(c.type, CarriedStateErrors.Corrupt);
    assert.ok(c.message.includes(where), c.message);

    // The same file, whole, loads: the failures above are the file's, not the path's.
    const whole = await write(uid('carry-whole'));
    const handle = await client.client.workflow.start('analysisTree', { taskQueue, workflowId: whole.treeId, args: [{ spec: { id: whole.treeId, nodes: [] }, carried: whole }] });
    const res = (await handle.result()) as { state: string; runs: number };
    assert.deepEqual([res.state, res.runs], ['COMPLETED', 2]);
  });
});
