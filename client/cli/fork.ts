/**
 * `ragomics fork TREE NODE [NODES_FILE]`: starts a new tree from one node's published output
 * (client/fork.ts). Everything is checked before the new tree starts: the nodes file, the source
 * tree and node, the output's sha256, the new id; any failure is one line, exit 2 (3 when the
 * server or a worker to read the source is missing), and nothing starts.
 */
import type { Command } from 'commander';
import { readForkFile } from '../spec-file';
import type { ForkSpecInput } from '../fork';
import { checkId, withClient } from './context';
import { queryableTree } from './pollers';
import { follow } from './run';

interface ForkCliOptions {
  id?: string;
  json?: boolean;
  follow?: boolean;
  taskQueue?: string;
}

/** Registers `fork`. */
export function registerForkCommand(program: Command): void {
  program
    .command('fork')
    .description('start a new tree from the published output of a COMPLETED node of another tree (running or finished); without a nodes file, the node\'s descendants are copied')
    .argument('<treeId>', 'source tree id')
    .argument('<nodeId>', 'source node id (COMPLETED, with an AnnData output)')
    .argument('[nodesFile]', 'the new tree\'s nodes (.yaml/.yml/.json): a list of nodes, or { nodes: [...], maxParallelJobs: ..., ... }; roots read the forked output')
    .option('--id <treeId>', 'id of the new tree (must not be taken; default <treeId>-fork-<random>)')
    .option('--json', 'print { treeId, origin, nodes, copied, taskQueue } (with --follow: the final status object) on stdout')
    .option('--follow', 'wait until the new tree ends, showing progress (exit code as `run`)')
    .option('--task-queue <queue>', 'task queue of the new tree (default: the source tree\'s)')
    .action(async (treeId: string, nodeId: string, file: string | undefined, opts: ForkCliOptions) => {
      // Local input first: exit 2 before any server call.
      checkId('TREE_ID', treeId);
      checkId('NODE_ID', nodeId);
      const spec: ForkSpecInput = file ? readForkFile(file) : {};
      if (opts.id !== undefined) spec.id = checkId('--id', opts.id);
      await withClient({}, async (rc) => {
        // A worker must answer the source's status query: say so (exit 3) rather than hang.
        await queryableTree(rc, treeId);
        const forked = await rc.forkTree(treeId, nodeId, spec, { taskQueue: opts.taskQueue });
        const id = forked.tree.treeId;
        if (opts.json && !opts.follow) {
          process.stdout.write(`${JSON.stringify({ treeId: id, origin: forked.origin, nodes: forked.nodeIds, copied: forked.copied, taskQueue: forked.taskQueue }, null, 2)}\n`);
          return;
        }
        const what = forked.copied ? `a copy of ${nodeId}'s ${forked.nodeIds.length} descendant node(s)` : `${forked.nodeIds.length} node(s)`;
        const line = `forked tree ${id} from ${treeId}/${nodeId} (input ${forked.origin.outputPath}, sha256 ${forked.origin.outputSha256.slice(0, 12)}…) with ${what} on task queue "${forked.taskQueue}"\n`;
        if (opts.json) process.stderr.write(line);
        else process.stdout.write(line);
        if (opts.follow) await follow(rc, forked.tree, forked.taskQueue, opts.json === true);
      });
    });
}
