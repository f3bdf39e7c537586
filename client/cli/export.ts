/**
 * Export commands: `timeline TREE_ID --format html|svg|json|csv -o FILE` and
 * `report TREE_ID -o FILE`.
 */
import type { Command } from 'commander';
import { buildReport } from '../report';
import { renderTimeline, resolveTimelineFormat, timelineSamples, TIMELINE_FORMATS } from '../timeline';
import { checkId, withClient, writeOutput } from './context';
import { queryableTree } from './pollers';

/** Registers `timeline` and `report`. */
export function registerExportCommands(program: Command): void {
  program
    .command('timeline')
    .description('export the timeline of a tree: one bar (or record) per node attempt')
    .argument('<treeId>', 'tree id')
    .option('--format <format>', `${TIMELINE_FORMATS.join(', ')} (default: from the -o extension, else json)`)
    .option('-o, --output <file>', 'output file ("-" or none: stdout)')
    .action(async (treeId: string, opts: { format?: string; output?: string }) => {
      checkId('TREE_ID', treeId);
      const format = resolveTimelineFormat(opts.format, opts.output);
      await withClient({}, async (rc) => {
        const tree = await queryableTree(rc, treeId);
        const entries = await tree.timeline();
        // From the status: charts end the wait bar of a never-started node where the node ended;
        // a cohort's samples group the chart rows and fill the JSON/CSV `sample` column.
        const status = await tree.status();
        const nodeEnds = format === 'html' || format === 'svg' ? new Map(status.nodes.map((n) => [n.id, n.endedAt])) : undefined;
        writeOutput(opts.output, renderTimeline(treeId, entries, format, { nodeEnds, samples: timelineSamples(status) }));
        if (opts.output && opts.output !== '-') process.stderr.write(`wrote ${format} timeline of ${treeId} (${entries.length} entries) to ${opts.output}\n`);
      });
    });

  program
    .command('report')
    .description('write a self-contained HTML report of a tree: graph, metrics, timeline, figures, errors')
    .argument('<treeId>', 'tree id')
    .option('-o, --output <file>', 'output file (default: <treeId>-report.html)')
    .option('--workspace <dir>', 'workspace root to read figures and logs from (default: env RAGOMICS_WORKSPACE or .data/workspace)')
    .action(async (treeId: string, opts: { output?: string; workspace?: string }) => {
      checkId('TREE_ID', treeId);
      const file = opts.output ?? `${treeId}-report.html`;
      await withClient({}, async (rc) => {
        const html = await buildReport(await queryableTree(rc, treeId), { workspace: opts.workspace });
        writeOutput(file, html);
        if (file !== '-') process.stderr.write(`wrote report of ${treeId} to ${file}\n`);
      });
    });
}
