/**
 * `ragomics gc [--older-than 7d] [--dry-run] [--json] [--workspace DIR]`: removes cached results
 * that no tree workspace holds and that are older than the given age (activities/cache/gc.ts),
 * plus stale staging folders.
 *
 * It refuses (one line, exit 2, nothing removed) while any analysis tree is RUNNING in the
 * namespace: a running tree may be about to reuse an entry, and a hit that lost its entry would
 * compute again. `--dry-run` is never refused (it changes nothing) but says that a real run would
 * be. Temporal unreachable: exit 3, nothing removed. The check covers the namespace the CLI is
 * connected to; trees of another namespace writing to the same workspace are not seen (their
 * published outputs still keep the bytes they link alive).
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { dataDir } from '../../activities/executors/repo-root';
import { collectGarbage, type GcEntry, type GcReport } from '../../activities/cache/gc';
import { formatBytes } from '../cache-stats';
import { GcRefusedError, InvalidInputError } from '../errors';
import { parseAge } from './age';
import { withClient } from './context';

/** Most running trees named in a refusal. */
const NAMED_TREES = 5;

interface GcCliOptions {
  olderThan: string;
  dryRun?: boolean;
  json?: boolean;
  workspace?: string;
}

/** Registers `gc`. */
export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .description('remove cached results that no tree workspace holds and that are older than --older-than (refused while trees run)')
    .option('--older-than <age>', 'only entries created longer ago than this: 90s, 30m, 12h, 7d, 1w2d', '7d')
    .option('--dry-run', 'list what would be removed and how many bytes; change nothing')
    .option('--json', 'print the report as JSON')
    .option('--workspace <dir>', 'workspace root (default: env RAGOMICS_WORKSPACE, else <data dir>/workspace: .data/workspace in a checkout, ~/.ragomics/data/workspace installed)')
    .action(async (opts: GcCliOptions) => {
      const olderThanMs = parseAge('--older-than', opts.olderThan);
      const root = path.resolve(opts.workspace ?? process.env.RAGOMICS_WORKSPACE ?? path.join(dataDir(), 'workspace'));
      if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
        // Name where the path came from: a user who gave no --workspace is told which default it was.
        const from = opts.workspace !== undefined ? '--workspace' : process.env.RAGOMICS_WORKSPACE !== undefined ? 'RAGOMICS_WORKSPACE' : 'the default workspace';
        const hint = opts.workspace === undefined ? ' (no tree has run with it here yet; give the workers\' one with --workspace or RAGOMICS_WORKSPACE)' : '';
        throw new InvalidInputError(`${from}: no workspace folder at ${root}${hint}`);
      }
      const running = await withClient({}, (rc) => rc.listTrees(`ExecutionStatus = "Running"`, NAMED_TREES + 1));
      const names = running.map((t) => t.treeId);
      const list = `${names.slice(0, NAMED_TREES).join(', ')}${names.length > NAMED_TREES ? ', …' : ''}`;
      if (names.length > 0 && !opts.dryRun) {
        throw new GcRefusedError(names, `gc refused: ${names.length > NAMED_TREES ? `more than ${NAMED_TREES}` : names.length} tree(s) running (${list}) might reuse a cached result; nothing was removed. Run gc when no tree runs (ragomics list --query 'ExecutionStatus = "Running"')`);
      }
      const report = await collectGarbage({ root, olderThanMs, dryRun: opts.dryRun === true });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...report, runningTrees: names }, null, 2)}\n`);
        return;
      }
      process.stdout.write(renderGcReport(report, opts.olderThan));
      if (names.length > 0) process.stdout.write(`note: a real gc would be refused now: tree(s) running (${list})\n`);
    });
}

/** The human form of a gc report (`olderThan` as the user wrote it): a summary line, then one line per removed entry. */
export function renderGcReport(r: GcReport, olderThan: string): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const linked = r.kept.filter((k) => k.reason !== 'young').length;
  const young = r.kept.length - linked;
  const lines = [
    `gc of ${path.join(r.root, 'cache')} (entries older than ${olderThan}, held by no tree)${r.dryRun ? ': dry run, nothing changed' : ''}`,
    `  ${verb} ${r.removed.length} entr${r.removed.length === 1 ? 'y' : 'ies'}, ${formatBytes(r.removedBytes)}; kept ${r.kept.length} (${linked} held by a tree workspace, ${young} younger)`,
  ];
  if (r.staging.removed.length > 0) lines.push(`  ${verb} ${r.staging.removed.length} stale staging folder(s), ${formatBytes(r.staging.bytes)}`);
  if (r.trash.removed.length > 0) lines.push(`  ${verb} ${r.trash.removed.length} trash folder(s) of an interrupted gc, ${formatBytes(r.trash.bytes)}`);
  for (const s of r.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
  for (const e of r.removed) lines.push(`  ${r.dryRun ? 'would remove' : 'removed'} ${describeEntry(e)}`);
  return `${lines.join('\n')}\n`;
}

function describeEntry(e: GcEntry): string {
  const from = e.origin ? ` from ${e.origin.treeId}/${e.origin.nodeId}` : '';
  return `${e.key.slice(0, 16)}… ${formatBytes(e.bytes)}${e.block ? ` ${e.block}` : ''}${from}, created ${e.createdAt ?? '(unknown; folder age used)'}`;
}
