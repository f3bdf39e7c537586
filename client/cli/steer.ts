/**
 * Commands that change a running tree: `add`, `add-samples`, `cancel`, `pause`, `resume`, `parallelism`.
 * Each is validated by the tree before anything changes; a rejection exits 2 naming the id.
 *
 * The rule for an ended tree: `cancel` and `pause` ask for nothing more to run, which holds, so
 * they say so and exit 0; every other change (add, add-samples, parallelism, resume,
 * cancel --node) exits 2. An id that is not a tree exits 2 (signals would reach any workflow).
 * Changes a worker applies while the command waits exit 3 at once when no worker polls the
 * tree's task queue; signals (pause, resume, cancel) are accepted by the server and applied when
 * one does, and the command says so.
 */
import type { Command } from 'commander';
import { checkRequestId, type RagomicsClient } from '../sdk';
import { readAddSamplesFile, readNodesFile } from '../spec-file';
import { TreeFinishedError } from '../errors';
import { checkId, parsePositiveInt, withClient } from './context';
import { changeableTree, hasWorkers, startWorkerHint, steeredTree } from './pollers';

/**
 * Said after a signal when no worker polls the tree's queue: the server holds the signal until
 * one does, so the change is not in effect yet.
 */
async function pendingWorkerNote(rc: RagomicsClient, taskQueue: string): Promise<string> {
  if (await hasWorkers(rc, taskQueue)) return '';
  return `; no worker polls task queue "${taskQueue}" now, so it takes effect when one does (${startWorkerHint(taskQueue)})`;
}

/** Registers the steering commands. */
export function registerSteerCommands(program: Command): void {
  program
    .command('add')
    .description('add nodes to a running tree (a YAML/JSON list of nodes, or { nodes: [...] })')
    .argument('<treeId>', 'tree id')
    .argument('<nodesFile>', 'nodes file (.yaml, .yml or .json)')
    .option('--request-id <id>', 'idempotency key: the same request applied twice adds the nodes once')
    .action(async (treeId: string, file: string, opts: { requestId?: string }) => {
      checkId('TREE_ID', treeId);
      // Before connecting (the SDK's own check, called early).
      checkRequestId(opts.requestId);
      const nodes = readNodesFile(file);
      await withClient({}, async (rc) => {
        const res = await (await changeableTree(rc, treeId)).addNodes(nodes, { requestId: opts.requestId, source: 'cli' });
        if (res.duplicate) process.stdout.write(`request ${res.requestId} was already applied; nothing changed\n`);
        else process.stdout.write(`added ${res.added.length} node(s) to ${treeId}: ${res.added.join(', ')}\n`);
      });
    });

  program
    .command('add-samples')
    .description('add samples to a running cohort: its forEachSample templates are expanded for them, and every gather that has not started takes them in')
    .argument('<treeId>', 'tree id')
    .argument('<samplesFile>', 'a CSV/TSV sample sheet (sample, path, ...columns) or a YAML/JSON list of rows; paths relative to that file')
    .option('--request-id <id>', 'idempotency key: the same request applied twice adds the samples once')
    .action(async (treeId: string, file: string, opts: { requestId?: string }) => {
      checkId('TREE_ID', treeId);
      checkRequestId(opts.requestId);
      const samples = readAddSamplesFile(file);
      await withClient({}, async (rc) => {
        const res = await (await changeableTree(rc, treeId)).addSamples(samples, { requestId: opts.requestId });
        if (res.duplicate) process.stdout.write(`request ${res.requestId} was already applied; nothing changed\n`);
        else process.stdout.write(`added ${res.samples.length} sample(s) to ${treeId} (${res.samples.join(', ')}): ${res.added.length} node(s)${res.gathers.length > 0 ? `; gathered by ${res.gathers.join(', ')}` : ''}\n`);
      });
    });

  program
    .command('cancel')
    .description('cancel a whole tree, or one node (and the nodes depending on it) with --node')
    .argument('<treeId>', 'tree id')
    .option('--node <nodeId>', 'cancel only this node and its dependents')
    .option('--reason <text>', 'reason recorded in the tree')
    .action(async (treeId: string, opts: { node?: string; reason?: string }) => {
      checkId('TREE_ID', treeId);
      if (opts.node !== undefined) checkId('--node', opts.node);
      await withClient({}, async (rc) => {
        if (opts.node !== undefined) {
          const cancelled = await (await changeableTree(rc, treeId)).cancelNode(opts.node, opts.reason ?? 'cancelled from the CLI');
          process.stdout.write(`cancelled ${cancelled.length} node(s) in ${treeId}: ${cancelled.join(', ')}\n`);
        } else {
          const t = await steeredTree(rc, treeId);
          if (!t.running) {
            process.stdout.write(`tree ${treeId} has already ended; nothing to cancel\n`);
            return;
          }
          await t.tree.cancel(opts.reason ?? 'cancelled from the CLI');
          process.stdout.write(`cancellation of tree ${treeId} requested; running nodes are stopped${await pendingWorkerNote(rc, t.taskQueue)}\n`);
        }
      });
    });

  for (const [name, paused] of [['pause', true], ['resume', false]] as const) {
    program
      .command(name)
      .description(paused ? 'stop starting new nodes (running nodes go on)' : 'start nodes again after a pause')
      .argument('<treeId>', 'tree id')
      .action(async (treeId: string) => {
        checkId('TREE_ID', treeId);
        await withClient({}, async (rc) => {
          const t = await steeredTree(rc, treeId);
          if (!t.running) {
            if (!paused) throw TreeFinishedError.of(treeId);
            process.stdout.write(`tree ${treeId} has already ended; nothing runs\n`);
            return;
          }
          if (paused) await t.tree.pause();
          else await t.tree.resume();
          process.stdout.write(`tree ${treeId} ${paused ? 'paused' : 'resumed'}${await pendingWorkerNote(rc, t.taskQueue)}\n`);
        });
      });
  }

  program
    .command('parallelism')
    .description('change maxParallelJobs of a running tree')
    .argument('<treeId>', 'tree id')
    .argument('<n>', 'most nodes running at once (1 to 1000)')
    .action(async (treeId: string, n: string) => {
      checkId('TREE_ID', treeId);
      const value = parsePositiveInt('N', n, 1000);
      await withClient({}, async (rc) => {
        const res = await (await changeableTree(rc, treeId)).setMaxParallelJobs(value);
        process.stdout.write(`tree ${treeId}: maxParallelJobs ${res.previous} → ${res.current}\n`);
      });
    });
}
