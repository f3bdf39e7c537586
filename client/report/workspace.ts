/**
 * What the report reads from the worker's workspace when it can see it (same machine, or a
 * shared volume): each node's published `node-result.json` (summary, shape, block metrics),
 * its figures as data URIs, and the tail of the last attempt's stderr for failed nodes.
 * Everything is optional: a report made far from the workspace simply lacks these parts.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import path from 'node:path';

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

/** The published result of a node (what `node-result.json` holds that the report shows). */
export interface PublishedResult {
  summary: string;
  shape: [number, number] | null;
  metrics: Record<string, unknown>;
}

/** Reads `node-result.json` next to a node's output, if present. */
export function readPublishedResult(outputPath: string): PublishedResult | null {
  try {
    const r = JSON.parse(readFileSync(path.join(path.dirname(outputPath), 'node-result.json'), 'utf8')) as Partial<PublishedResult>;
    return { summary: typeof r.summary === 'string' ? r.summary : '', shape: Array.isArray(r.shape) ? (r.shape as [number, number]) : null, metrics: (r.metrics as Record<string, unknown>) ?? {} };
  } catch {
    return null;
  }
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

/**
 * Total size of the files of a published attempt (the folder of `outputPath`), or null when it
 * is not visible from here. For a node that reused a cached result, what the reuse saved
 * computing and storing (its files are hard links of the cache entry's).
 */
export function publishedBytes(outputPath: string): number | null {
  const dir = path.dirname(outputPath);
  let total = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += statSync(p).size;
    }
  };
  try {
    walk(dir);
    return total;
  } catch {
    return null;
  }
}
