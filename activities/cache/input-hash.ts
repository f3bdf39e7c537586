/**
 * sha256 of a node's input files for cache keys, without reading a big file again and again.
 *
 * - A parent's published output (`.../published/attempt-<n>/_node_anndata.h5ad`) already has
 *   its sha256 in the node-result.json beside it (computed when it was published, files 0444):
 *   that one is taken.
 * - Any other file (a tree's root input) is hashed once per worker process and content version:
 *   the hash is memoised by (device, inode, size, mtime), so a multi-GB root input shared by ten
 *   trees is read once, and a file rewritten in place is hashed again.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { NodeResultSchema } from '../../common/schemas';
import { NODE_RESULT_FILE, OUTPUT_FILE, sha256File } from '../publish';

/** Most memoised hashes kept (oldest dropped first); each is about 200 bytes. */
const MAX_MEMO = 10_000;
const memo = new Map<string, Promise<string>>();

/**
 * The sha256 (hex) of the file at `file`.
 * @throws when the file cannot be read (the caller treats the node as not cacheable; runNode then reports the missing input).
 */
export async function inputSha256(file: string): Promise<string> {
  const real = await realpath(file);
  const published = await publishedSha256(real);
  if (published) return published;
  const info = await stat(real);
  const id = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
  let p = memo.get(id);
  if (!p) {
    p = sha256File(real, info.size);
    memo.set(id, p);
    p.catch(() => memo.delete(id));
    if (memo.size > MAX_MEMO) memo.delete(memo.keys().next().value as string);
  }
  return p;
}

/** The sha256 its node-result.json records for a published output, or null when `file` is not one. */
async function publishedSha256(file: string): Promise<string | null> {
  if (path.basename(file) !== OUTPUT_FILE || !/^attempt-\d+$/.test(path.basename(path.dirname(file))) || path.basename(path.dirname(path.dirname(file))) !== 'published') return null;
  try {
    const result = NodeResultSchema.parse(JSON.parse(await readFile(path.join(path.dirname(file), NODE_RESULT_FILE), 'utf8')));
    if (result.outputSha256 && path.basename(result.outputPath) === OUTPUT_FILE) return result.outputSha256;
  } catch {
    // Not a published folder after all: hash the file.
  }
  return null;
}
