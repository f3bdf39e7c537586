/**
 * The one place that decides which blocks image runs: `RAGOMICS_BLOCKS_IMAGE` (or the worker's
 * setting), else the tag the blocks build (`scripts/build-image.sh`) recorded in
 * `<data dir>/blocks-image` (`.data/` in a checkout, `~/.ragomics/data/` when installed:
 * activities/executors/repo-root.ts). The shell scripts use `blocks_image` in scripts/lib.sh,
 * which reads the same two.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ExecutorUnavailableError } from '../errors';
import { dataDir } from './repo-root';

/** The file the blocks build writes its tag to: `<data dir>/blocks-image` ({@link dataDir}). */
export function blocksImageTagFile(): string {
  return path.join(dataDir(), 'blocks-image');
}

/**
 * The tag in `file` (@default {@link blocksImageTagFile}), trimmed.
 * @throws ExecutorUnavailableError when the file is missing or empty (the image was never built),
 *   or cannot be read (naming the error: a permission problem is not "never built").
 */
export async function readBlocksImageTag(file = blocksImageTagFile()): Promise<string> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw new ExecutorUnavailableError(`cannot read the blocks image tag in ${file}: ${e.code ?? e.message}`);
  });
  const tag = text.trim();
  if (!tag) throw new ExecutorUnavailableError(`no blocks image recorded in ${file}; build the blocks image first`);
  return tag;
}

/**
 * The blocks image to run: `configured` (@default env RAGOMICS_BLOCKS_IMAGE), else the recorded
 * tag, else "ragomics/blocks:latest" (the Docker executor then says the image is missing and how
 * to build it).
 * @throws Error naming the file when the recorded tag exists but cannot be read (EACCES, EISDIR):
 *   running the default image instead would hide the problem.
 */
export function resolveBlocksImage(configured: string | undefined = process.env.RAGOMICS_BLOCKS_IMAGE): string {
  if (configured) return configured;
  const file = blocksImageTagFile();
  let recorded = '';
  try {
    recorded = readFileSync(file, 'utf8').trim();
  } catch (e) {
    // Never built: fall through to the default name.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new Error(`cannot read the blocks image tag in ${file}: ${code ?? (e as Error).message}`);
  }
  return recorded || 'ragomics/blocks:latest';
}
