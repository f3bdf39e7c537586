/**
 * Writes a built crate as a zip file (name ending in `.zip`) or as a folder, all or nothing:
 * everything goes to a temporary sibling first and becomes `out` with one rename, so a failure
 * half-way (a file that vanished, a full disk) leaves no partial crate behind.
 *
 * Zips are written with yazl: it streams each embedded file from disk (memory stays flat
 * whatever `--embed-max-bytes` allows), switches to ZIP64 by itself past 4 GiB or 65,535
 * entries, and has one small dependency. fflate, already a dependency, builds zips in memory and
 * writes no ZIP64, which a crate embedding multi-GB AnnData files would need.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { InvalidInputError } from '../errors';
import type { BuiltCrate } from './graph';

/** How the crate is stored: a zip for names ending in `.zip`, else a folder. */
export function crateFormat(out: string): 'zip' | 'dir' {
  return /\.zip$/i.test(out) ? 'zip' : 'dir';
}

/**
 * Refuses an existing `out` unless `force`.
 * @throws InvalidInputError naming the file.
 */
export async function checkCrateTarget(out: string, force: boolean): Promise<void> {
  const existing = await lstat(out).catch(() => null);
  if (existing && !force) throw new InvalidInputError(`${out}: already exists (--force replaces it)`);
  if (existing && existing.isDirectory() !== (crateFormat(out) === 'dir')) {
    throw new InvalidInputError(`${out}: exists as a ${existing.isDirectory() ? 'folder' : 'file'}; a crate named so is written as a ${crateFormat(out) === 'zip' ? 'zip file' : 'folder'}`);
  }
}

/**
 * Writes `crate` to `out` (zip or folder, by name), replacing an existing one only when `force`.
 * @returns the format written.
 * @throws InvalidInputError when `out` exists (and not `force`) or cannot be written.
 */
export async function writeCrate(out: string, crate: BuiltCrate, force: boolean): Promise<'zip' | 'dir'> {
  const target = path.resolve(out);
  await checkCrateTarget(target, force);
  const format = crateFormat(target);
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
    throw new InvalidInputError(`${out}: cannot create its folder (${e.code ?? e.message})`);
  });
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${randomUUID().slice(0, 8)}`);
  const metadata = `${JSON.stringify(crate.metadata, null, 2)}\n`;
  try {
    if (format === 'zip') await writeZip(tmp, crate, metadata);
    else await writeFolder(tmp, crate, metadata);
    // A folder cannot be renamed over a non-empty one: the old crate goes first (--force only).
    if (format === 'dir' && (await lstat(target).catch(() => null))) await rm(target, { recursive: true, force: true });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS' || code === 'ENOSPC' || code === 'EPERM') throw new InvalidInputError(`${out}: cannot write (${code})`, { cause: err });
    throw err;
  }
  return format;
}

async function writeZip(file: string, crate: BuiltCrate, metadata: string): Promise<void> {
  const zip = new ZipFile();
  zip.addBuffer(Buffer.from(metadata), 'ro-crate-metadata.json');
  for (const f of crate.files) {
    if ('content' in f) zip.addBuffer(Buffer.from(f.content), f.path);
    // Read-only outputs (0444) stay readable for whoever unpacks them.
    else zip.addFile(f.source, f.path, { mode: 0o100644 });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file, { flags: 'wx' }));
}

async function writeFolder(dir: string, crate: BuiltCrate, metadata: string): Promise<void> {
  await mkdir(dir);
  await writeFile(path.join(dir, 'ro-crate-metadata.json'), metadata);
  for (const f of crate.files) {
    const dest = path.join(dir, ...f.path.split('/'));
    await mkdir(path.dirname(dest), { recursive: true });
    if ('content' in f) await writeFile(dest, f.content);
    else await copyFile(f.source, dest);
  }
}
