/**
 * Scheduling overhead of the workflow: a chain of N no-op nodes (in-process `sleep 0`), so the
 * makespan is almost pure handoff: activity completion → workflow task → next activity start.
 * Prints the median handoff (previous end → next start) and the throughput of a wide tree.
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 node dist/bench/handoff-latency.js [N]
 */
import { sleepNode, uid, withWorker } from '../test/helpers/harness';
import { median, percentile } from '../test/helpers/timeline-checks';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 30);
  await withWorker({ maxConcurrentNodes: 20 }, async ({ client }) => {
    const chain = await client.startTree({ id: uid('bench-chain'), maxNodes: n, nodes: Array.from({ length: n }, (_, i) => sleepNode(`c${i}`, 0, i ? { parentId: `c${i - 1}` } : {})) });
    await chain.result();
    const t = await chain.timeline();
    const gaps = t.slice(1).map((e, i) => Date.parse(e.started!) - Date.parse(t[i]!.ended!));
    console.log(`chain of ${n}: handoff median ${median(gaps)} ms, p95 ${percentile(gaps, 95)} ms, max ${Math.max(...gaps)} ms`);
    const wide = await client.startTree({ id: uid('bench-wide'), maxParallelJobs: 10, maxNodes: 200, maxChildrenPerNode: 200, nodes: [sleepNode('root', 0), ...Array.from({ length: 199 }, (_, i) => sleepNode(`w${i}`, 0, { parentId: 'root' }))] });
    const t0 = Date.now();
    await wide.result();
    console.log(`wide tree of 200 at maxParallelJobs 10: ${((200 * 1000) / (Date.now() - t0)).toFixed(1)} nodes/s`);
  });
}
main().catch((e) => { console.error(e); process.exit(1); });
