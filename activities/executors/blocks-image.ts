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
 * @throws ExecutorUnavailableError when the file is missing or empty (the image was never built).
 */
export async function readBlocksImageTag(file = blocksImageTagFile()): Promise<string> {
  const tag = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (!tag) throw new ExecutorUnavailableError(`no blocks image recorded in ${file}; build the blocks image first`);
  return tag;
}

/**
 * The blocks image to run: `configured` (@default env RAGOMICS_BLOCKS_IMAGE), else the recorded
 * tag, else "ragomics/blocks:latest" (the Docker executor then says the image is missing and how
 * to build it).
 */
export function resolveBlocksImage(configured: string | undefined = process.env.RAGOMICS_BLOCKS_IMAGE): string {
  if (configured) return configured;
  let recorded = '';
  try {
    recorded = readFileSync(blocksImageTagFile(), 'utf8').trim();
  } catch {
    // Never built: fall through to the default name.
  }
  return recorded || 'ragomics/blocks:latest';
}
