/**
 * What another service runs to trigger an analysis tree through the SDK: connect (settings
 * from the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, RAGOMICS_TASK_QUEUE), start a
 * tree from a spec object, watch its progress, print the result, and exit with the tree's code
 * (0 every node completed, 1 otherwise, 2 invalid spec, 3 server unreachable).
 *
 *   npm run build && node dist/examples/trigger-from-service.js
 *
 * It imports the package's public entry (client/index.ts) by its relative path; in your own
 * service, after `npm install ragomics-<version>.tgz` (docs/cli.md), the same names come from the
 * package: `import { RagomicsClient, RagomicsError, type TreeSpecInput } from 'ragomics'`.
 */
import { RagomicsClient, RagomicsError, type TreeSpecInput } from '../client';

/** The tree this service asks for: a root and two parallel children (sleep blocks, for the demo). */
export function demoSpec(id?: string): TreeSpecInput {
  return {
    ...(id ? { id } : {}),
    userRequest: 'triggered by another service',
    maxParallelJobs: 2,
    nodes: [
      { id: 'prepare', block: { name: 'sleep', parameters: { seconds: 0.3 } } },
      { id: 'left', parentId: 'prepare', block: { name: 'sleep', parameters: { seconds: 0.3 } } },
      { id: 'right', parentId: 'prepare', block: { name: 'sleep', parameters: { seconds: 0.3 } } },
    ],
  };
}

async function main(): Promise<number> {
  const client = await RagomicsClient.connect();
  try {
    // Validated before anything starts; an invalid spec throws InvalidInputError (exitCode 2).
    const tree = await client.startTree(demoSpec(process.env.TREE_ID));
    console.log(`started ${tree.treeId}`);
    for await (const s of tree.watch(500)) {
      console.log(`${s.state}: ${s.counts.COMPLETED}/${s.totalNodes} completed, ${s.counts.RUNNING} running, ${s.counts.FAILED + s.counts.TIMEOUT} failed`);
    }
    const result = await tree.result();
    console.log(JSON.stringify({ treeId: result.treeId, state: result.state, failures: result.failures, metrics: result.metrics }, null, 2));
    return result.state === 'COMPLETED' ? 0 : 1;
  } finally {
    await client.close();
  }
}

if (require.main === module) main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // SDK errors carry the CLI's exit code: 2 invalid input, 3 service unreachable.
    console.error(`error: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    process.exit(err instanceof RagomicsError ? err.exitCode : 1);
  },
);
