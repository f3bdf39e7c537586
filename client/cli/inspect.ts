/**
 * Read-only commands: `status TREE_ID` and `list`.
 */
import type { Command } from 'commander';
import { InvalidInputError } from '../errors';
import { checkId, parsePositiveInt, withClient } from './context';
import { queryableTree } from './pollers';
import { CliExit, ExitCode, treeExitCode } from './exit';
import { cell, renderStatusText, toContractStatus } from './status-view';
import { cacheStats, workspaceSavings } from '../cache-stats';

/** Most trees `list --limit` may ask for (each is one visibility row; more belongs in a Temporal query tool). */
const MAX_LIST_LIMIT = 10_000;

/** Registers `status` and `list`. */
export function registerInspectCommands(program: Command): void {
  program
    .command('status')
    .description('show the state of a tree and of each node (exit 1 when it ended with a failed or cancelled node)')
    .argument('<treeId>', 'tree id')
    .option('--json', 'print the status object (JSON)')
    .option('--transitions', 'with --json: include every state change of each node (exit 2 without --json)')
    .action(async (treeId: string, opts: { json?: boolean; transitions?: boolean }) => {
      checkId('TREE_ID', treeId);
      // The text view shows each node's current state only: a flag it would ignore is refused.
      if (opts.transitions && !opts.json) throw new InvalidInputError('--transitions: only with --json (the text view shows each node\'s current state)');
      await withClient({}, async (rc) => {
        const status = await (await queryableTree(rc, treeId)).status({ transitions: opts.transitions === true });
        if (opts.json) {
          const out = toContractStatus(status);
          if (opts.transitions) out.nodes.forEach((n, i) => Object.assign(n, { transitions: status.nodes[i]?.transitions ?? [] }));
          process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        } else {
          // Savings are read from the workspace when it is visible from here (else "not measured").
          process.stdout.write(renderStatusText(status, Date.now(), cacheStats(status.nodes, workspaceSavings(process.env.RAGOMICS_WORKSPACE))));
        }
        const code = treeExitCode(status.state);
        if (code !== ExitCode.ok) throw new CliExit(code);
      });
    });

  program
    .command('list')
    .description('list trees, newest first')
    .option('--query <filter>', 'Temporal list filter over the search attributes, e.g. \'RagomicsTreeState = "RUNNING"\'')
    .option('--limit <n>', `most trees listed, 1-${MAX_LIST_LIMIT}`, '50')
    .option('--json', 'print JSON')
    .action(async (opts: { query?: string; limit: string; json?: boolean }) => {
      const limit = parsePositiveInt('--limit', opts.limit, MAX_LIST_LIMIT);
      await withClient({}, async (rc) => {
        const trees = await rc.listTrees(opts.query, limit);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(trees, null, 2)}\n`);
          return;
        }
        if (trees.length === 0) {
          process.stdout.write('no trees\n');
          return;
        }
        process.stdout.write(`${cell('TREE', 40)} ${cell('STATE', 10)} ${cell('WORKFLOW', 16)} ${cell('NODES', 9)} STARTED\n`);
        for (const t of trees) {
          const nodes = t.nodesTotal === undefined ? '-' : `${t.nodesCompleted ?? 0}/${t.nodesTotal}`;
          process.stdout.write(`${cell(t.treeId, 40)} ${cell(t.state ?? '-', 10)} ${cell(t.status, 16)} ${cell(nodes, 9)} ${t.startTime.toISOString()}\n`);
        }
      });
    });
}
