/**
 * The one way to find the checkout (the project root): the nearest ancestor of this file whose
 * package.json is ragomics'. The same answer from source (activities/executors/) and from the
 * build (dist/activities/executors/), so no caller counts `'..'`s.
 */
import { existsSync, readFileSync } from 'node:fs';
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
    // Not inside a checkout (a copied dist/): the working directory is the best guess.
    if (parent === dir) return (cached = { root: process.cwd(), version: '0.0.0' });
    dir = parent;
  }
}

/** The checkout's root folder (holds package.json, .data/, .tools/, blocks/); the cwd when none is found. */
export function repoRoot(): string {
  return find().root;
}

/** The `version` of ragomics' package.json ("0.0.0" when the checkout is not found). */
export function packageVersion(): string {
  return find().version;
}
