/**
 * The one way to find the package (the checkout, or the installed `ragomics` package) and the
 * folders its state goes to. The same answer from source (activities/executors/) and from the
 * build (dist/activities/executors/), so no caller counts `'..'`s.
 *
 * Where state goes ({@link dataDir}, {@link toolsDir}):
 * - `RAGOMICS_DATA_DIR` / `RAGOMICS_TOOLS_DIR` when set (absolute, or relative to the working
 *   directory), always;
 * - in a checkout: `<checkout>/.data` and `<checkout>/.tools`;
 * - in an installed package (`npm install -g ./ragomics-*.tgz`: the package lies under a
 *   `node_modules` folder, often read-only and replaced on every upgrade):
 *   `$RAGOMICS_HOME/data` and `$RAGOMICS_HOME/tools`, `RAGOMICS_HOME` defaulting to `~/.ragomics`.
 * scripts/lib.sh applies the same rule to DATA_DIR and TOOLS_DIR, and the CLI passes both to
 * every script it runs, so the TypeScript side and the scripts never disagree.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let cached: { root: string; version: string } | undefined;

function find(): { root: string; version: string } {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      const json = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
      if (json.name === 'ragomics') return (cached = { root: dir, version: json.version ?? '0.0.0' });
    }
    const parent = path.dirname(dir);
    // Neither a checkout nor a package (a copied dist/): the working directory is the best guess.
    if (parent === dir) return (cached = { root: process.cwd(), version: '0.0.0' });
    dir = parent;
  }
}

/**
 * The package's root folder: holds package.json, dist/, blocks/ and scripts/. In a checkout that
 * is the checkout; in an installed package, `<prefix>/lib/node_modules/ragomics`. The working
 * directory when neither is found. State does not go here: see {@link dataDir}.
 */
export function repoRoot(): string {
  return find().root;
}

/** The `version` of ragomics' package.json ("0.0.0" when the package is not found). */
export function packageVersion(): string {
  return find().version;
}

/**
 * True when this code runs from an installed package (its root lies under a `node_modules`
 * folder), false in a checkout. A checkout installed with `npm install -g .` is a symlink to the
 * checkout, and Node resolves it to the real path: that counts as the checkout.
 */
export function isInstalledPackage(root: string = repoRoot()): boolean {
  return root.split(path.sep).includes('node_modules');
}

/** `$RAGOMICS_HOME`, else `~/.ragomics`: the home of an installed package's state. */
export function ragomicsHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.RAGOMICS_HOME || path.join(os.homedir(), '.ragomics'));
}

/**
 * Runtime state (Temporal's dev database, the workspace of node outputs, the blocks image tag,
 * logs): `RAGOMICS_DATA_DIR`, else `<checkout>/.data`, else (installed) `$RAGOMICS_HOME/data`.
 * Never created here; whoever writes creates it.
 */
export function dataDir(env: NodeJS.ProcessEnv = process.env, root: string = repoRoot()): string {
  if (env.RAGOMICS_DATA_DIR) return path.resolve(env.RAGOMICS_DATA_DIR);
  return isInstalledPackage(root) ? path.join(ragomicsHome(env), 'data') : path.join(root, '.data');
}

/**
 * Installed tools (the `temporal` CLI's venv, the local executor's Python venv, Go builds):
 * `RAGOMICS_TOOLS_DIR`, else `<checkout>/.tools`, else (installed) `$RAGOMICS_HOME/tools`.
 */
export function toolsDir(env: NodeJS.ProcessEnv = process.env, root: string = repoRoot()): string {
  if (env.RAGOMICS_TOOLS_DIR) return path.resolve(env.RAGOMICS_TOOLS_DIR);
  return isInstalledPackage(root) ? path.join(ragomicsHome(env), 'tools') : path.join(root, '.tools');
}

/**
 * The environment for a script of the package (scripts/*.sh): `env` with RAGOMICS_DATA_DIR and
 * RAGOMICS_TOOLS_DIR set to this process's answers, so the script uses the same folders.
 */
export function scriptEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, RAGOMICS_DATA_DIR: dataDir(env), RAGOMICS_TOOLS_DIR: toolsDir(env) };
}

/**
 * The checkout's commit, `git rev-parse --short HEAD`, with `+dirty` when tracked files have
 * uncommitted changes; "unknown" outside a git checkout or without git. Stamped on every record a
 * run writes (reliability rows, bench records), so a figure names the code that produced it.
 */
export function checkoutCommit(): string {
  const git = (...args: string[]) => execFileSync('git', ['-C', repoRoot(), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const sha = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') !== '' ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}
