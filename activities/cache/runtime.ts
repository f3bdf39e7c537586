/**
 * Runtime identities for cache keys (activities/cache/key.ts) where no image Id names the
 * runtime: the local executor (the runner's sources and the interpreter) and the in-process
 * executor (this package's own code). Also the runner contract version every key holds.
 * Each is computed once per process (cheap: a few dozen small files) and changes when what it
 * names changes, which is all a key needs.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { packageVersion, repoRoot } from '../executors/repo-root';

const memo = new Map<string, Promise<string>>();

/** `compute()` once per `id` in this process; a failure is not memoised (the next call tries again). */
function once(id: string, compute: () => Promise<string>): Promise<string> {
  let p = memo.get(id);
  if (!p) {
    p = compute();
    memo.set(id, p);
    p.catch(() => memo.delete(id));
  }
  return p;
}

/** sha256 of blocks/runner-contract.json: the exit codes and result marks runner and worker agree on. */
export function runnerContractVersion(file = path.join(repoRoot(), 'blocks', 'runner-contract.json')): Promise<string> {
  return once(`contract:${file}`, async () => createHash('sha256').update(await readFile(file)).digest('hex'));
}

/**
 * sha256 over every file below `dir` (relative path and content, in sorted order), skipping
 * `__pycache__` folders and `.pyc` files (written by the interpreter, not part of the source).
 */
export async function sourceTreeHash(dir: string): Promise<string> {
  const files: string[] = [];
  async function walk(rel: string): Promise<void> {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) {
        if (e.name !== '__pycache__') await walk(r);
      } else if (e.isFile() && !e.name.endsWith('.pyc')) {
        files.push(r);
      }
    }
  }
  await walk('');
  files.sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f}\0`).update(createHash('sha256').update(await readFile(path.join(dir, f))).digest('hex')).update('\n');
  return hash.digest('hex');
}

/**
 * The local executor's runtime: the package version, the runner's sources and block catalog,
 * and the interpreter (its path, real path, size and mtimes: a new venv or Python is a new runtime).
 * Installed packages inside the venv are not hashed (too many files); recreating the venv
 * changes the interpreter's mtime.
 */
export function localRuntimeIdentity(python: string, runtimeDir: string): Promise<string> {
  return once(`local:${python}:${runtimeDir}`, async () => {
    const interpreter = await resolveInterpreter(python);
    const info = interpreter ? await stat(interpreter).catch(() => null) : null;
    // A venv's python is a symlink to the system one: its own mtime tells a recreated venv.
    const link = await lstat(python).catch(() => null);
    // No catalog (a runtime without one) hashes as empty; one that exists but cannot be read is an
    // error: hashing it as empty would let cache keys miss a catalog change.
    const catalog = await readFile(path.join(repoRoot(), 'blocks', 'catalog.json')).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return Buffer.from('');
      throw e;
    });
    const doc = JSON.stringify({
      version: packageVersion(),
      runner: await sourceTreeHash(runtimeDir),
      catalog: createHash('sha256').update(catalog).digest('hex'),
      python: interpreter ?? python,
      pythonFile: info ? { size: info.size, mtimeMs: info.mtimeMs } : null,
      pythonLink: link ? link.mtimeMs : null,
    });
    return `local:${createHash('sha256').update(doc).digest('hex')}`;
  });
}

/** The in-process executor's runtime: the package version and the compiled executor module. */
export function inprocessRuntimeIdentity(moduleFile: string): Promise<string> {
  return once(`inprocess:${moduleFile}`, async () => {
    const code = await readFile(moduleFile);
    return `inprocess:${createHash('sha256').update(packageVersion()).update('\0').update(code).digest('hex')}`;
  });
}

/** The interpreter's real path: `python` itself when it is a path, else looked up on PATH; null when not found. */
async function resolveInterpreter(python: string): Promise<string | null> {
  if (python.includes(path.sep)) return realpath(python).catch(() => null);
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const found = await realpath(path.join(dir, python)).catch(() => null);
    if (found) return found;
  }
  return null;
}
