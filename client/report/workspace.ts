/**
 * What the report reads from the worker's workspace when it can see it (same machine, or a
 * shared volume): each node's published `node-result.json` (summary, shape, block metrics),
 * its figures as data URIs, and the tail of the last attempt's stderr for failed nodes.
 * Everything is optional: a report made far from the workspace simply lacks these parts.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { NODE_RESULT_FILE } from '../../activities/publish';
import { NodeResultSchema } from '../../common/schemas';

/** Largest figure embedded, and largest total, so a report stays openable. */
const MAX_FIGURE_BYTES = 8 * 1024 * 1024;
const MAX_TOTAL_FIGURE_BYTES = 64 * 1024 * 1024;
/** Lines of a log tail. */
const TAIL_LINES = 40;

/** A figure ready to embed. */
export interface Figure {
  name: string;
  dataUri: string;
}

/** The parts of a node's `node-result.json` the report shows, in the one form its writer uses. */
const PublishedPartsSchema = NodeResultSchema.pick({ summary: true, shape: true, metrics: true });

/** The published result of a node (what `node-result.json` holds that the report shows). */
export interface PublishedResult {
  summary: string;
  shape: [number, number] | null;
  metrics: Record<string, unknown>;
  /** Set when the file is there but cannot be read as a node result: what is wrong (the other fields are then empty). */
  problem?: string;
}

/**
 * Reads `node-result.json` next to a node's output. Null when there is none (the workspace is
 * not visible from here, or nothing was published); a file that cannot be read, is not JSON or
 * is no node result gives empty parts and a `problem` naming the file and what is wrong.
 */
export function readPublishedResult(outputPath: string): PublishedResult | null {
  const file = path.join(path.dirname(outputPath), NODE_RESULT_FILE);
  const unreadable = (why: string): PublishedResult => ({ summary: '', shape: null, metrics: {}, problem: `${file} ${why}` });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    return unreadable(`could not be read (${code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return unreadable('is not JSON');
  }
  const parsed = PublishedPartsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return unreadable(`is not a node result (${issue ? `${issue.path.join('.') || 'top level'}: ${issue.message}` : 'schema mismatch'})`);
  }
  return parsed.data;
}

/** Embeds `<outputDir>/figures/*.png|jpg|svg` as data URIs, within the size budget. */
export function readFigures(outputPath: string, budget: { left: number } = { left: MAX_TOTAL_FIGURE_BYTES }): Figure[] {
  const dir = path.join(path.dirname(outputPath), 'figures');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.(png|jpe?g|svg)$/i.test(n)).sort();
  } catch {
    return [];
  }
  const out: Figure[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const size = statSync(file).size;
    if (size > MAX_FIGURE_BYTES || size > budget.left) continue;
    budget.left -= size;
    const ext = path.extname(name).slice(1).toLowerCase();
    const mime = ext === 'svg' ? 'image/svg+xml' : ext === 'png' ? 'image/png' : 'image/jpeg';
    out.push({ name, dataUri: `data:${mime};base64,${readFileSync(file).toString('base64')}` });
  }
  return out;
}

/** A new figure budget for one report. */
export function figureBudget(): { left: number } {
  return { left: MAX_TOTAL_FIGURE_BYTES };
}

/**
 * `<root>/trees/<tree>` of the workspace: derived from any published output path
 * (`<root>/trees/<tree>/nodes/<node>/published/attempt-N/_node_anndata.h5ad`), else `fallbackRoot`.
 */
export function treeDir(treeId: string, outputPaths: string[], fallbackRoot: string): string {
  for (const p of outputPaths) {
    const m = /^(.*[\\/]trees[\\/][^\\/]+)[\\/]nodes[\\/]/.exec(p);
    if (m?.[1]) return m[1];
  }
  return path.join(fallbackRoot, 'trees', treeId);
}

/** The last lines of stderr (or stdout) of a node's latest attempt, or null when not readable. */
export function logTail(treeDirPath: string, nodeId: string): { file: string; text: string } | null {
  const attempts = path.join(treeDirPath, 'nodes', nodeId, 'attempts');
  if (!existsSync(attempts)) return null;
  const dirs = readdirSync(attempts)
    .map((d) => ({ d, t: statSync(path.join(attempts, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { d } of dirs) {
    for (const log of ['stderr.log', 'stdout.log']) {
      const file = path.join(attempts, d, log);
      try {
        const text = readEnd(file, 64 * 1024);
        if (text.trim() === '') continue;
        return { file, text: text.split('\n').slice(-TAIL_LINES - 1).join('\n').slice(-16_000) };
      } catch {
        // Not readable from here: try the next one.
      }
    }
  }
  return null;
}

/** The last `bytes` of a file (a block may log gigabytes: never read it whole). */
function readEnd(file: string, bytes: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    const len = Math.min(size, bytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

