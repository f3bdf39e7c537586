/**
 * A V8 code cache for the CLI's CommonJS modules (issue 15, goal 2: `ragomics run` costs little
 * over the SDK call). A short-lived command spends most of its start-up loading modules, and a
 * third of that is V8 compiling them (`@temporalio/client` with its protobuf root, zod, yaml,
 * grpc-js). This hook compiles each module as a `vm.Script` with the code V8 cached for it on an
 * earlier run, and when there was none, asks V8 for that code when the process exits: after the
 * command ran, so the cache also holds the functions V8 compiled lazily while it ran (a cache made
 * at compile time, like the `v8-compile-cache` package's, holds little more than the top level).
 * Node 22 has this built in (`module.enableCompileCache`); the project supports Node 20, which
 * has not.
 *
 * Safety:
 * - An entry is found valid only for the exact same source and intact: it starts with the
 *   SHA-256 of the source it was made from (V8's own check compares only the source's length)
 *   and the SHA-256 of V8's data after it (V8 does not checksum its data in release builds, and
 *   damaged data can crash the process or change results). V8 still rejects data made by another
 *   V8 or with other flags; the module then compiles as usual and its entry is rewritten.
 * - The cache folder is the user's own (`~/.cache`, created with mode 0700) and is used only when
 *   it and every folder above it belong to this user or root and no one else can write to them
 *   (a shared folder above must be sticky, like /tmp): code read from it runs as this user.
 * - Entries are written whole under a temporary name and renamed, so a concurrent command reads
 *   an old entry or the new one, never half of one; only a command that ended with exit code 0
 *   writes them (a failed or interrupted one may not have run the code its entries should hold).
 * - Anything unusual (the folder cannot be made, no home folder, an ES module, a dynamic
 *   `import()`, a source V8 rejects as a script, Node's policy manifests) falls back to Node's own
 *   loading: the cache can make a command faster, never make it fail.
 *
 * Known limits: a module runs without Node's `require(esm)` cycle check, and an `import()` in code
 * a module builds at run time (`eval`, `new Function`) fails; no package the CLI loads does either.
 * Entries are not evicted: a few MB per command and per Node version.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';

/**
 * A source that may hold a dynamic `import(`: `import`, then spaces or a comment, then `(`. It
 * also matches the word in comments and strings, which only costs such a module its cache entry.
 */
const DYNAMIC_IMPORT = /\bimport\s*(?:\(|\/[*/])/;

/** An entry's header: the SHA-256 of the source it was made from, then that of V8's data. */
const DIGEST_BYTES = 32;
const HEADER_BYTES = 2 * DIGEST_BYTES;

/** What {@link enableCompileCache} did, and has done since (the counters grow as modules load). */
export interface CompileCacheState {
  /** The folder in use, or null when the cache is off. */
  dir: string | null;
  /** Why the cache is off (null when it is on). */
  reason: string | null;
  /** Modules compiled with V8's data from the cache. */
  hits: number;
  /** Modules compiled without it (no entry, another source, or data V8 rejected); written at exit. */
  misses: number;
}

/**
 * The folder the cache would use: `RAGOMICS_COMPILE_CACHE` when set to a path (`0` or `off` turns
 * the cache off: null), else `$XDG_CACHE_HOME/ragomics/compile-cache`, else
 * `~/.cache/ragomics/compile-cache`; in each case a subfolder per Node version and architecture,
 * and in it one per `scope` (the CLI's command: each command's entries hold the functions that
 * command ran, so `ragomics status` run first does not leave `run` with its lazy functions
 * uncached). A scope that is not a plain lower-case word becomes `_`.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env, scope = '_'): string | null {
  const setting = env.RAGOMICS_COMPILE_CACHE?.trim();
  if (setting === '0' || setting?.toLowerCase() === 'off') return null;
  const base = setting
    ? path.resolve(setting)
    : path.join(env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'), 'ragomics', 'compile-cache');
  return path.join(base, `node-${process.version}-${process.arch}`, /^[a-z][a-z0-9-]{0,31}$/.test(scope) ? scope : '_');
}

/**
 * Makes `dir` (mode 0700) and says why it cannot be used, or null when it can: it must be a real
 * folder of this user that no one else can write to, and every folder above it must belong to
 * this user or root and be writable by no one else unless sticky (as OpenSSH checks its files).
 */
function prepareDir(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const uid = typeof process.getuid === 'function' ? process.getuid() : null;
    const st = lstatSync(dir);
    if (!st.isDirectory()) return `${dir} is not a folder`;
    // Code read from here runs as this user: only a folder no one else can write to will do.
    if (uid !== null && st.uid !== uid) return `${dir} belongs to another user`;
    if ((st.mode & 0o022) !== 0) return `${dir} is writable by others`;
    // The folders above it, by its path and by where its path leads (a link such as /home -> /usr/home).
    const above = new Set([...ancestors(dir), ...ancestors(realpathSync(dir))]);
    for (const up of above) {
      const why = unsafeAncestor(up, lstatSync(up), uid);
      if (why) return why;
    }
    return null;
  } catch (err) {
    return `${dir}: ${(err as Error).message}`;
  }
}

/** The folders above `dir`, up to the root. */
function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let up = path.dirname(dir); ; up = path.dirname(up)) {
    out.push(up);
    if (path.dirname(up) === up) return out;
  }
}

/** Why a folder above the cache makes it unsafe, or null. */
function unsafeAncestor(dir: string, st: Stats, uid: number | null): string | null {
  if (uid !== null && st.uid !== uid && st.uid !== 0) return `${dir} (above the cache folder) belongs to another user`;
  // A link's own mode means nothing (where it leads is checked too); a folder's does.
  const sticky = (st.mode & 0o1000) !== 0;
  if (!st.isSymbolicLink() && (st.mode & 0o022) !== 0 && !sticky) return `${dir} (above the cache folder) is writable by others`;
  return null;
}

/** Node's internal hooks this module relies on (stable for years; checked before use). */
interface ModuleInternals {
  _compile(this: ModuleInstance, content: string, filename: string, format?: string): unknown;
}
interface ModuleInstance {
  exports: unknown;
  require(id: string): unknown;
}
interface ModuleStatics {
  prototype: ModuleInternals;
  wrap(source: string): string;
  wrapper: readonly string[];
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths?(request: string, parent: unknown): string[] | null;
  _extensions: unknown;
  _cache: unknown;
}

let state: CompileCacheState | null = null;

/**
 * Installs the cache for every CommonJS module required from now on in this process, in the
 * folder of {@link compileCacheDir} for `scope`. Idempotent (the first call's scope holds);
 * returns what it did, and never throws (any error leaves the cache off, with the reason). Meant
 * for short-lived commands (the CLI), not long-running ones (`worker`, `dev`): entries are written
 * when the process exits with code 0.
 */
export function enableCompileCache(scope = '_', env: NodeJS.ProcessEnv = process.env): CompileCacheState {
  if (state) return state;
  try {
    state = install(scope, env);
  } catch (err) {
    // e.g. no home folder to put the cache in: the command runs without it
    state = { dir: null, reason: `no compile cache: ${(err as Error).message}`, hits: 0, misses: 0 };
  }
  return state;
}

/** Why the cache cannot be used in `dir` in this process (null: it can), after making `dir`. */
function whyOff(dir: string | null, env: NodeJS.ProcessEnv, M: ModuleStatics): string | null {
  if (dir === null) return 'RAGOMICS_COMPILE_CACHE is off';
  // Node maps stack traces through a module's source map only when it compiles the module.
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true) return 'source maps are on (--enable-source-maps)';
  // Node checks a policy manifest's integrity only when it compiles the module.
  if ([...process.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--experimental-policy'))) return 'a policy manifest is in force (--experimental-policy)';
  if (typeof M.wrap !== 'function' || !Array.isArray(M.wrapper) || typeof M._resolveFilename !== 'function') return 'this Node\'s module loader is not the expected one';
  return prepareDir(dir);
}

function install(scope: string, env: NodeJS.ProcessEnv): CompileCacheState {
  const dir = compileCacheDir(env, scope);
  const M = Module as unknown as ModuleStatics;
  const reason = whyOff(dir, env, M);
  const st: CompileCacheState = { dir: reason === null ? dir : null, reason, hits: 0, misses: 0 };
  if (reason !== null || dir === null) return st;

  // Node compiles a module without a wrapper; this keeps line 1's columns as Node reports them.
  const columnOffset = -(M.wrapper[0] ?? '').length;
  const pending: { script: vm.Script; file: string; digest: Buffer }[] = [];
  const original = M.prototype._compile;
  M.prototype._compile = function compileWithCache(this: ModuleInstance, content: string, filename: string, format?: string): unknown {
    // ES modules (and sources only Node's detection can place) go the usual way, and so do
    // modules with a dynamic import(): Node 20's vm.Script runs one only with an experimental
    // loader option, which prints a warning and fails with cached data.
    if (format === 'module' || filename.endsWith('.mjs') || DYNAMIC_IMPORT.test(content)) return original.call(this, content, filename, format);
    const digest = createHash('sha256').update(content).digest();
    const file = path.join(dir, `${createHash('sha256').update(filename).digest('hex').slice(0, 40)}.bin`);
    const cachedData = readEntry(file, digest);
    let script: vm.Script;
    try {
      script = new vm.Script(M.wrap(content), { filename, cachedData, columnOffset });
    } catch {
      return original.call(this, content, filename, format);
    }
    if (cachedData === undefined || script.cachedDataRejected === true) {
      st.misses += 1;
      pending.push({ script, file, digest });
    } else {
      st.hits += 1;
    }
    const fn = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return fn.call(this.exports, this.exports, makeRequire(M, this), this, filename, path.dirname(filename));
  };
  process.once('exit', (code) => {
    if (code === 0) for (const p of pending) writeEntry(p.file, p.digest, p.script);
  });
  return st;
}

/** A module's `require`, as Node makes it (its resolve, resolve.paths, main, cache, extensions). */
function makeRequire(M: ModuleStatics, mod: ModuleInstance): NodeJS.Require {
  const req = function require(id: string): unknown {
    return mod.require(id);
  } as NodeJS.Require;
  const resolve = ((request: string, options?: unknown) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => M._resolveLookupPaths?.(request, mod) ?? null;
  req.resolve = resolve;
  req.main = require.main;
  req.extensions = M._extensions as NodeJS.Require['extensions'];
  req.cache = M._cache as NodeJS.Require['cache'];
  return req;
}

/** The V8 data of `file` when it was made from the source whose SHA-256 is `digest` and is intact. */
function readEntry(file: string, digest: Buffer): Buffer | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return undefined; // no entry yet (or an unreadable one: compiled as usual)
  }
  if (buf.length <= HEADER_BYTES || !buf.subarray(0, DIGEST_BYTES).equals(digest)) return undefined;
  const data = buf.subarray(HEADER_BYTES);
  return createHash('sha256').update(data).digest().equals(buf.subarray(DIGEST_BYTES, HEADER_BYTES)) ? data : undefined;
}

/** Writes `file` whole (the header, then V8's data for the script as it stands now), or nothing. */
function writeEntry(file: string, digest: Buffer, script: vm.Script): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const data = script.createCachedData();
    writeFileSync(tmp, Buffer.concat([digest, createHash('sha256').update(data).digest(), data]), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // A full disk or a removed folder costs the next command its speed-up, nothing else.
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing more to do at exit
    }
  }
}
