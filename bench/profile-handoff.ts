/**
 * Where the workflow's promises come from (issue 15, goal 3): runs a chain and a fan of no-op
 * nodes through the real analysis-tree workflow in THIS process (`debugMode`, so the workflow
 * runs on the main thread and a `v8.promiseHooks` hook here sees its promises) and prints the
 * promises created in workflow context per node, grouped by the workflow-code frame that created
 * them. Every such promise costs the SDK's promise hook a captured (and source-mapped) stack, so
 * this is the list of what to cut. A profiling aid, not a benchmark: it records nothing.
 *   npx tsc -p . && node scripts/bundle-workflows.js && TEMPORAL_ADDRESS=127.0.0.1:7233 \
 *     RAGOMICS_WORKFLOW_BUNDLE=$PWD/dist/workflow-bundle.js node dist/bench/profile-handoff.js [CHAIN] [FAN] [P]
 */
import v8 from 'node:v8';
import { sleepNode, uid, withWorker } from '../test/helpers/harness';

interface Shape { id: string; parent: string | null }
const chain = (n: number): Shape[] => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, parent: i ? `c${i - 1}` : null }));
const fan = (n: number): Shape[] => [{ id: 'root', parent: null }, ...Array.from({ length: n - 1 }, (_, i) => ({ id: `f${i}`, parent: 'root' }))];

/** Counts the promises created in workflow context (those the SDK's promise hook captures a stack for). */
class PromiseCounter {
  total = 0;
  readonly bySite = new Map<string, number>();
  private stop: Function | undefined; // eslint-disable-line @typescript-eslint/no-unsafe-function-type
  start(): void {
    this.stop = v8.promiseHooks.onInit((promise: Promise<unknown>) => {
      // The SDK's own hook (installed before this one) marks the promises of workflow code with their run.
      if ((promise as { runId?: string }).runId === undefined) return;
      this.total++;
      // The first frame in the workflow code (the bundle's webpack paths) names the site.
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      const frames = (new Error().stack ?? '').split('\n').slice(1).map((f) => f.trim().replace(/^at /, ''));
      Error.stackTraceLimit = limit;
      const i = frames.findIndex((f) => f.includes('workflow-bundle'));
      const key = i < 0 ? frames.slice(2, 4).join(' < ') : frames.slice(i, i + 3).join(' < ');
      this.bySite.set(key, (this.bySite.get(key) ?? 0) + 1);
    });
  }
  end(): void { this.stop?.(); this.stop = undefined; }
}

async function main(): Promise<void> {
  const [chainLength = 30, fanSize = 200, parallel = 10] = process.argv.slice(2).map(Number);
  await withWorker({ logLevel: 'WARN' }, async ({ client }) => {
    for (const [what, shape, p] of [['chain', chain(chainLength), 1], ['fan', fan(fanSize), parallel]] as const) {
      const run = async (count?: PromiseCounter) => {
        count?.start();
        const tree = await client.startTree({
          id: uid(`profile-${what}`), maxParallelJobs: p, maxNodes: shape.length, maxChildrenPerNode: shape.length, maxDepth: shape.length,
          nodes: shape.map((n) => sleepNode(n.id, 0, n.parent ? { parentId: n.parent } : {})),
        });
        const result = await tree.result();
        count?.end();
        if (result.state !== 'COMPLETED') throw new Error(`${what}: tree ended ${result.state}`);
      };
      await run(); // warm-up
      const count = new PromiseCounter();
      await run(count);
      console.log(`${what} of ${shape.length}: ${count.total} workflow-context promises, ${(count.total / shape.length).toFixed(1)} per node`);
      for (const [site, n] of [...count.bySite].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(n / shape.length).toFixed(2).padStart(6)}/node  ${site}`);
    }
  }, { debugMode: true });
}

main().catch((err) => { console.error(err); process.exit(1); });
