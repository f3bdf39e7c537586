/**
 * Continue-as-new latency of the carried node table, per form (see workflow.ts), at 10,000 and
 * 20,000 nodes (test/helpers/realistic-tree.ts): one workflow started with the encoded table,
 * continuing as new `RUNS` times, timed from start to result. Prints the time per run and the
 * payload size; returns the rows (bench/carry-state.ts adds them to its record). Needs the
 * Temporal server (TEMPORAL_ADDRESS, default 127.0.0.1:7233). Prints figures only.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { deflateSync, strToU8 } from 'fflate';
import { encodeNodes, utf8Length } from '../../workflows/carry-codec';
import { realisticTree } from '../../test/helpers/realistic-tree';
import type { CarryForm, carryLoop } from './workflow';

const ADDRESS = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
/** Continue-as-new runs per measurement. */
const RUNS = 5;

/** One measured form and size. */
export interface LatencyRow { nodes: number; form: CarryForm; payloadBytes: number; runs: number; msPerRun: number }

/** Measures every form at each size against the server. */
export async function measureLatency(sizes: readonly number[]): Promise<LatencyRow[]> {
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflow'), logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } });
  const taskQueue = `carry-latency-${process.pid}-${Date.now()}`;
  const connection = await NativeConnection.connect({ address: ADDRESS });
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle });
  const client = new Client({ connection: await Connection.connect({ address: ADDRESS }) });
  const rows: LatencyRow[] = [];
  await worker.runUntil(async () => {
    for (const n of sizes) {
      const nodes = realisticTree(n);
      for (const form of ['codec', 'deflate'] as const) {
        const state = form === 'codec' ? encodeNodes(nodes) : deflateSync(strToU8(JSON.stringify(nodes)), { level: 6 });
        const payloadBytes = form === 'codec' ? utf8Length(JSON.stringify(state)) : (state as Uint8Array).length;
        const t0 = Date.now();
        const count = await client.workflow.execute<typeof carryLoop>('carryLoop', { taskQueue, workflowId: `${taskQueue}-${form}-${n}`, args: [form, RUNS, state] });
        const ms = (Date.now() - t0) / (RUNS + 1);
        if (count !== n) throw new Error(`${form} at ${n} nodes came back with ${count} nodes`);
        rows.push({ nodes: n, form, payloadBytes, runs: RUNS + 1, msPerRun: Math.round(ms) });
        console.log(`# continue-as-new, ${n} nodes, ${form}: ${(payloadBytes / 1024).toFixed(0)} KiB payload, ${ms.toFixed(0)} ms per run (start → result over ${RUNS + 1} runs)`);
      }
    }
  });
  await connection.close();
  return rows;
}
