/**
 * Continue-as-new latency of the carried state through the workspace (see workflow.ts), at each
 * size (test/helpers/realistic-tree.ts): one workflow started from a state file written here,
 * continuing as new `RUNS` times, timed from start to result. Prints the time per run and the
 * continue-as-new input's size; returns the rows (bench/carry-state.ts adds them to its record).
 * Needs the Temporal server (TEMPORAL_ADDRESS, default 127.0.0.1:7233). Prints figures only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createCarryActivities } from '../../activities/carried-state';
import type { CarriedRef } from '../../common/schemas';
import { encodeState, splitChunks, type CarriedState } from '../../workflows/carried-state';
import type { carryLoop } from './workflow';

const ADDRESS = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
/** Continue-as-new runs per measurement. */
const RUNS = 5;

/** One measured size. */
export interface LatencyRow { nodes: number; inputBytes: number; fileBytes: number; chunks: number; runs: number; msPerRun: number }

/** Measures the workspace path at each size against the server; `stateOf(n)` gives the state of an n-node tree. */
export async function measureLatency(sizes: readonly number[], stateOf: (n: number) => CarriedState): Promise<LatencyRow[]> {
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflow'), logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } });
  const root = mkdtempSync(path.join(os.tmpdir(), 'carry-latency-'));
  const activities = createCarryActivities(root);
  const taskQueue = `carry-latency-${process.pid}-${Date.now()}`;
  const connection = await NativeConnection.connect({ address: ADDRESS });
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle, activities });
  const client = new Client({ connection: await Connection.connect({ address: ADDRESS }) });
  const rows: LatencyRow[] = [];
  try {
    await worker.runUntil(async () => {
      for (const n of sizes) {
        // The first run's input: a state file as a tree's previous run would have left it.
        const bytes = encodeState(stateOf(n));
        const file = { treeId: `${taskQueue}-seed-${n}`, runKey: 'seed', runId: 'seed' };
        const chunks = splitChunks(bytes);
        for (const [index, chunk] of chunks.entries()) await activities.writeCarriedChunk({ ...file, index }, chunk);
        const done = await activities.commitCarried({ ...file, chunks: chunks.length, bytes: bytes.length, keep: [] });
        const ref: CarriedRef = { format: 'workspace-deflate-json-v1', ...file, ...done, chunks: chunks.length };
        const t0 = Date.now();
        const count = await client.workflow.execute<typeof carryLoop>('carryLoop', { taskQueue, workflowId: `${taskQueue}-${n}`, args: [RUNS, ref] });
        const ms = (Date.now() - t0) / (RUNS + 1);
        if (count !== n) throw new Error(`the workspace path at ${n} nodes came back with ${count} nodes`);
        const inputBytes = Buffer.byteLength(JSON.stringify([RUNS, ref]));
        rows.push({ nodes: n, inputBytes, fileBytes: bytes.length, chunks: chunks.length, runs: RUNS + 1, msPerRun: Math.round(ms) });
        console.log(`# continue-as-new, ${n} nodes, through the workspace: ${bytes.length} B file in ${chunks.length} chunk(s), ${inputBytes} B input, ${ms.toFixed(0)} ms per run (start → result over ${RUNS + 1} runs)`);
      }
    });
  } finally {
    await connection.close();
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}
