/** Where the worker learns the blocks image tag: `.data/blocks-image`, written by the blocks build. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ExecutorUnavailableError } from '../errors';
import { repoRoot } from './repo-root';

/**
 * The tag in `file` (@default `<repo>/.data/blocks-image`), trimmed.
 * @throws ExecutorUnavailableError when the file is missing or empty (the image was never built).
 */
export async function readBlocksImageTag(file = path.join(repoRoot(), '.data', 'blocks-image')): Promise<string> {
  const tag = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (!tag) throw new ExecutorUnavailableError(`no blocks image recorded in ${file}; build the blocks image first`);
  return tag;
}
