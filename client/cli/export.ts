/**
 * Export commands: `timeline TREE_ID --format html|svg|json|csv -o FILE`,
 * `report TREE_ID -o FILE` and `crate TREE_ID -o FILE.crate.zip|DIR`.
 */
import type { Command } from 'commander';
// The renderers (echarts, the report, the zip writer) are loaded by the command that uses them,
// not by every `ragomics` command (`run` starts faster: bench/cli-startup.ts).
import { resolveTimelineFormat, TIMELINE_FORMATS } from '../timeline/formats';
import { DEFAULT_EMBED_MAX_BYTES } from '../crate/defaults';
import { InvalidInputError } from '../errors';
import { checkId, withClient, writeOutput } from './context';
import { queryableTree } from './pollers';

/** Registers `timeline`, `report` and `crate`. */
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
      const { renderTimeline, timelineSamples } = await import('../timeline/index.js');
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
    .option('--workspace <dir>', 'workspace root to read figures and logs from (default: env RAGOMICS_WORKSPACE, else <data dir>/workspace: .data/workspace in a checkout, ~/.ragomics/data/workspace installed)')
    .action(async (treeId: string, opts: { output?: string; workspace?: string }) => {
      checkId('TREE_ID', treeId);
      const file = opts.output ?? `${treeId}-report.html`;
      const { buildReport } = await import('../report/index.js');
      await withClient({}, async (rc) => {
        const html = await buildReport(await queryableTree(rc, treeId), { workspace: opts.workspace });
        writeOutput(file, html);
        if (file !== '-') process.stderr.write(`wrote report of ${treeId} to ${file}\n`);
      });
    });

  program
    .command('crate')
    .description('export a tree as a Workflow Run RO-Crate (Provenance Run Crate profile): spec, block code, parameters, every execution, outputs with sha256')
    .argument('<treeId>', 'tree id')
    .option('-o, --output <file>', 'a .zip file, or a folder for any other name (default: <treeId>.crate.zip)')
    .option('--embed-max-bytes <n>', `embed output files up to this size, reference larger ones by file:// path and sha256 (default: ${DEFAULT_EMBED_MAX_BYTES})`)
    .option('--license <url>', 'licence of the crate, e.g. https://spdx.org/licenses/CC-BY-4.0 (default: recorded as not specified)')
    .option('--workspace <dir>', 'workspace root to read outputs from (default: env RAGOMICS_WORKSPACE, else <data dir>/workspace: .data/workspace in a checkout, ~/.ragomics/data/workspace installed)')
    .option('--force', 'replace an existing crate')
    .action(async (treeId: string, opts: { output?: string; embedMaxBytes?: string; license?: string; workspace?: string; force?: boolean }) => {
      checkId('TREE_ID', treeId);
      const file = opts.output ?? `${treeId}.crate.zip`;
      let embedMaxBytes: number | undefined;
      if (opts.embedMaxBytes !== undefined) {
        embedMaxBytes = Number(opts.embedMaxBytes);
        if (!/^\d+$/.test(opts.embedMaxBytes) || !Number.isSafeInteger(embedMaxBytes)) throw new InvalidInputError(`--embed-max-bytes: must be a whole number of bytes (0 or more), got "${opts.embedMaxBytes}"`);
      }
      await withClient({}, async (rc) => {
        await queryableTree(rc, treeId);
        const r = await rc.exportCrate(treeId, file, { embedMaxBytes, license: opts.license, workspace: opts.workspace, force: opts.force });
        process.stderr.write(`wrote run crate of ${treeId} to ${file} (${r.format === 'zip' ? 'zip' : 'folder'}; ${r.nodes} node(s), ${r.entities} entities; ${r.embedded} output file(s) embedded, ${r.referenced} referenced by path)${r.incomplete ? '; the tree is still running: the crate records an unfinished run' : ''}\n`);
      });
    });
}
