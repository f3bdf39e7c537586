/**
 * Which file bin/ragomics.js loads the CLI from: the one-file bundle that scripts/bundle-cli.js
 * makes at build time (dist/client/cli.bundle.js, issue 15, goal 2), or the compiled modules
 * (dist/client/cli.js). The bundle holds a copy of the project's compiled files as they were when
 * it was made; it is used only while they, and npm's lock files, are still the same, so a build
 * by tsc alone, an edit, or an `npm ci` of other packages never runs stale code: the CLI then
 * loads as before, only slower.
 *
 * "The same" is by content (SHA-256), not by modification time: `npm pack` and installs reset
 * every file's time, and tsc rewrites unchanged files. The lock files are npm's package-lock.json
 * and node_modules/.package-lock.json (rewritten by every install); an installed package (one in a
 * node_modules folder) has neither, holds its dependencies in the bundle, and uses the bundle when
 * its own files match.
 *
 * Plain Node and no dependency on purpose: this runs before every short command, and loading zod
 * for one JSON file of our own build would cost more than it checks.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The bundle's file name, in dist/client/. */
export const BUNDLE_FILE = 'cli.bundle.js';
/** What the bundle was made from, in dist/client/ beside it. */
export const MANIFEST_FILE = 'cli.bundle.json';
/** The manifest's format: scripts/bundle-cli.js writes it, {@link cliEntry} accepts no other. */
export const MANIFEST_VERSION = 2;
/**
 * The lock files the bundle's dependencies came from, relative to the package: npm's own, and the
 * hidden one npm rewrites in node_modules on every install (so an `npm install --no-save` or an
 * `npm link` is seen too).
 */
export const LOCK_FILES = ['package-lock.json', path.join('node_modules', '.package-lock.json')] as const;

/** The digests a bundle's manifest records. */
export interface BundleDigests {
  /** SHA-256 over the project's own files in the bundle (each file's path, length and content, in the order given). */
  own: string;
  /** SHA-256 of each of {@link LOCK_FILES} that exists, by its path. */
  locks: Record<string, string>;
}

/** The CLI's entry to load: `file` (an absolute path), and `reason` why it is not the bundle (null when it is). */
export interface CliEntry {
  file: string;
  reason: string | null;
}

/** The digest of the project's own files, from their paths (relative to the package) and contents, in the order given. */
export function ownDigest(files: Iterable<readonly [string, Buffer]>): string {
  const h = createHash('sha256');
  for (const [rel, content] of files) h.update(`${rel}\0${content.length}\0`).update(content);
  return h.digest('hex');
}

/** The SHA-256 of each of {@link LOCK_FILES} under `root` that exists, by its path. */
export function lockDigests(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of LOCK_FILES) {
    let content: Buffer;
    try {
      content = readFileSync(path.join(root, rel));
    } catch {
      continue; // not there (an installed package has neither)
    }
    out[rel] = createHash('sha256').update(content).digest('hex');
  }
  return out;
}

/**
 * The digests of `files` (paths relative to `root`, read now) and of `root`'s lock files.
 * Throws when one of `files` cannot be read.
 */
export function bundleDigests(root: string, files: readonly string[]): BundleDigests {
  return { own: ownDigest(files.map((rel) => [rel, readFileSync(path.join(root, rel))] as const)), locks: lockDigests(root) };
}

/**
 * Whether the package at `root` is installed (it sits in a node_modules folder): its
 * dependencies are in the bundle, and npm left it no lock file to compare.
 */
function installed(root: string): boolean {
  return path.resolve(root).split(path.sep).includes('node_modules');
}

/** Why the manifest's bundle cannot be used under `root` (null: it can). */
function whyNotBundle(root: string, dir: string, env: NodeJS.ProcessEnv): string | null {
  const setting = env.RAGOMICS_CLI_BUNDLE?.trim().toLowerCase();
  if (setting === '0' || setting === 'off') return 'RAGOMICS_CLI_BUNDLE is off';
  // A stack printed for RAGOMICS_DEBUG (client/cli/exit.ts) is only useful with the compiled files' names and lines.
  const debug = env.RAGOMICS_DEBUG;
  if (debug && debug !== '0') return 'RAGOMICS_DEBUG is on';
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST_FILE), 'utf8'));
  } catch {
    return `no ${MANIFEST_FILE} (the build did not make a bundle: npm run build)`;
  }
  const m = (manifest ?? {}) as Partial<{ version: unknown; files: unknown; own: unknown; locks: unknown }>;
  const locks = m.locks as Record<string, unknown> | undefined;
  if (m.version !== MANIFEST_VERSION || !Array.isArray(m.files) || !m.files.every((f) => typeof f === 'string') || typeof m.own !== 'string'
    || typeof locks !== 'object' || locks === null || !Object.values(locks).every((d) => typeof d === 'string')) {
    return `${MANIFEST_FILE} is not one this version wrote`;
  }
  if (!existsSync(path.join(dir, BUNDLE_FILE))) return `${BUNDLE_FILE} is gone (npm run build makes it again)`;
  let now: BundleDigests;
  try {
    now = bundleDigests(root, m.files as string[]);
  } catch (err) {
    return `a file the bundle was made from is gone (${(err as Error).message})`;
  }
  if (now.own !== m.own) return 'the compiled files changed since the bundle was made (npm run build makes it again)';
  // An installed package's dependencies are in the bundle, and npm packs no lock file.
  if (!installed(root)) {
    for (const rel of new Set([...Object.keys(locks), ...Object.keys(now.locks)])) {
      if (now.locks[rel] !== locks[rel]) return `${rel} changed since the bundle was made (npm run build makes it again)`;
    }
  }
  return null;
}

/**
 * The file bin/ragomics.js should load the CLI from, for the package at `root`: the bundle when
 * `RAGOMICS_CLI_BUNDLE` is not `0`/`off`, `RAGOMICS_DEBUG` is not on (its stacks should name the
 * compiled files), and the bundle's manifest matches the files it was made from; else
 * dist/client/cli.js (with the reason). Never throws: anything unexpected is a reason
 * to load the compiled modules.
 */
export function cliEntry(root: string, env: NodeJS.ProcessEnv = process.env): CliEntry {
  const dir = path.join(root, 'dist', 'client');
  let reason: string | null;
  try {
    reason = whyNotBundle(root, dir, env);
  } catch (err) {
    reason = `the bundle could not be checked: ${(err as Error).message}`;
  }
  return reason === null ? { file: path.join(dir, BUNDLE_FILE), reason } : { file: path.join(dir, 'cli.js'), reason };
}
