/**
 * `ragomics run SPEC` (validate, start, follow to the end) and `ragomics watch TREE_ID`
 * (follow a tree started elsewhere). Both exit 0 when every node COMPLETED, else 1.
 */
import type { Command } from 'commander';
import type { TreeSpecInput } from '../../common/schemas';
import { readSpecFile } from '../spec-file';
import { checkSomethingToRun, type RagomicsClient, type TreeHandle } from '../sdk';
import { checkId, withClient } from './context';
import { CliExit, ExitCode, treeExitCode } from './exit';
import { followTree } from './follow';
import { startWorkerHint, treeTaskQueue, waitForWorker } from './pollers';
import { createProgress, type ProgressRenderer } from './progress';
import { toContractStatus } from './status-view';

interface RunOptions {
  json?: boolean;
  taskQueue?: string;
  id?: string;
  detach?: boolean;
  /** commander's negation of `--no-cache`: false when given. */
  cache?: boolean;
  localActivities?: boolean;
}

/** Registers `run` and `watch`. */
export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description('validate a tree spec (YAML or JSON), start the tree and wait until it ends')
    .argument('<spec>', 'tree spec file (.yaml, .yml or .json)')
    .option('--json', 'print only the final status object (JSON) on stdout')
    .option('--task-queue <queue>', 'task queue of the workers (default: env RAGOMICS_TASK_QUEUE or "ragomics")')
    .option('--id <treeId>', 'tree id (overrides the spec\'s id)')
    .option('--detach', 'start the tree, print its id and return without waiting')
    .option('--no-cache', 'compute every node: reuse no cached result and publish none (sets the spec\'s `cache: false`)')
    .option('--local-activities', 'run the nodes as Temporal local activities, for trees of short nodes (sets the spec\'s `localActivities: true`; README, "Trees of short nodes")')
    .action(async (file: string, opts: RunOptions) => {
      // Everything about the input is checked before connecting: exit 2 means nothing started.
      const read = readSpecFile(file);
      checkSomethingToRun(read);
      const spec: TreeSpecInput = { ...read };
      // An empty --id is refused, not ignored (it would start the spec's own id).
      if (opts.id !== undefined) spec.id = checkId('--id', opts.id);
      if (opts.cache === false) spec.cache = false;
      if (opts.localActivities) spec.localActivities = true;
      await withClient({ taskQueue: opts.taskQueue }, async (rc) => {
        const tree = await rc.startTree(spec);
        // A tree found running under this id is followed, not started: say so wherever the output
        // goes (stdout in the text view; stderr when stdout carries only JSON or the id).
        const attachedNotice = (what: string): string => `tree ${tree.treeId} is already running: ${what} (this spec was not used; choose another id to start a new tree)\n`;
        if (opts.detach) {
          process.stdout.write(opts.json ? `${JSON.stringify({ treeId: tree.treeId, attached: tree.attached })}\n` : `${tree.treeId}\n`);
          if (tree.attached) process.stderr.write(attachedNotice('not started again'));
          return;
        }
        // A tree found running polls the task queue it was started on.
        const taskQueue = tree.attached ? await treeTaskQueue(tree) : opts.taskQueue ?? rc.taskQueue;
        if (tree.attached) (opts.json ? process.stderr : process.stdout).write(attachedNotice('following it'));
        else if (!opts.json) process.stdout.write(`started tree ${tree.treeId} on task queue "${taskQueue}"\n`);
        await follow(rc, tree, taskQueue, opts.json === true);
      });
    });

  program
    .command('watch')
    .description('show the live progress of a tree until it ends')
    .argument('<treeId>', 'tree id')
    .option('--json', 'print only the final status object (JSON) on stdout')
    .action(async (treeId: string, opts: { json?: boolean }) => {
      checkId('TREE_ID', treeId);
      await withClient({}, async (rc) => {
        const tree = rc.getTree(treeId);
        await follow(rc, tree, await treeTaskQueue(tree), opts.json === true);
      });
    });
}

/**
 * Follows the tree with the right renderer (waiting for a worker first), prints the result (the
 * status object with `json`), and throws {@link CliExit} with the tree's code unless it COMPLETED.
 */
export async function follow(rc: RagomicsClient, tree: TreeHandle, taskQueue: string, json: boolean): Promise<void> {
  const renderer = pickRenderer(json);
  const onSigint = (): void => {
    process.stderr.write(`\ninterrupted: tree ${tree.treeId} keeps running; follow it with \`ragomics watch ${tree.treeId}\`, stop it with \`ragomics cancel ${tree.treeId}\`\n`);
    process.exit(ExitCode.interrupted);
  };
  process.once('SIGINT', onSigint);
  try {
    // Progress is read through queries, which only a worker answers: wait for one rather than fail.
    await waitForWorker(rc, taskQueue, () => process.stderr.write(`waiting for a worker on task queue "${taskQueue}": ${startWorkerHint(taskQueue)}\n`));
    const final = await followTree(tree, { renderer });
    if (json) process.stdout.write(`${JSON.stringify(toContractStatus(final), null, 2)}\n`);
    const code = treeExitCode(final.state);
    if (code !== ExitCode.ok) throw new CliExit(code);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** stdout for humans; with `--json` stdout is reserved, so progress goes to a terminal on stderr or nowhere. */
function pickRenderer(json: boolean): ProgressRenderer | undefined {
  if (!json) return createProgress(process.stdout, process.stdout.isTTY === true);
  if (process.stderr.isTTY) return createProgress(process.stderr, true);
  return undefined;
}
