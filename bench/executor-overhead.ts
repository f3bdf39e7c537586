/**
 * Executor overhead per node for a trivial block (`sleep 0`): the full `runNode` activity
 * (workspace, executor, publish with checksum) through Docker, the local Python subprocess and
 * in-process, interleaved round by round so machine noise hits all three alike.
 *   npx tsc -p . && node dist/bench/executor-overhead.js [ROUNDS]
 * Needs the Docker engine, the blocks image (.data/blocks-image) and .tools/blocks-venv
 * (scripts/ensure-local-python.sh).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, createDockerExecutor, createInprocessExecutor, createLocalExecutor } from '../activities';
import { loadWorkerConfig, resolveBlocksImage } from '../workers/config';
import { median } from '../test/helpers/timeline-checks';

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 15);
  const root = mkdtempSync(path.join(tmpdir(), 'bench-exec-'));
  const executors = {
    docker: createDockerExecutor({ image: resolveBlocksImage(loadWorkerConfig({})) }),
    local: createLocalExecutor(),
    inprocess: createInprocessExecutor(),
  };
  const times: Record<string, number[]> = { docker: [], local: [], inprocess: [] };
  try {
    for (let r = 0; r <= rounds; r++) {
      for (const [kind, executor] of Object.entries(executors)) {
        const acts = createActivities({ executor, workspaceRoot: root, workerId: 'bench' });
        const t0 = performance.now();
        await new MockActivityEnvironment().run(acts.runNode, { treeId: 'bench', nodeId: `${kind}-${r}`, attempt: 1, block: { name: 'sleep' as const, parameters: { seconds: 0 } }, inputPath: null, timeoutSeconds: 120 });
        if (r > 0) times[kind]!.push(performance.now() - t0); // round 0 warms caches
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  console.log(`executor overhead per trivial node, median of ${rounds} interleaved rounds:`);
  for (const k of Object.keys(m)) console.log(`  ${k.padEnd(10)} ${m[k]!.toFixed(0).padStart(6)} ms   (min ${Math.min(...times[k]!).toFixed(0)}, max ${Math.max(...times[k]!).toFixed(0)})`);
  console.log(`  ratio docker/local ${(m.docker! / m.local!).toFixed(2)}, docker/inprocess ${(m.docker! / m.inprocess!).toFixed(0)}, local/inprocess ${(m.local! / m.inprocess!).toFixed(0)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
