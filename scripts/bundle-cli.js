#!/usr/bin/env node
// Bundles the compiled CLI (dist/client/cli.js and every module it loads, the dependencies
// included) into one file, dist/client/cli.bundle.js, which bin/ragomics.js loads for every
// short command (issue 15, goal 2: `ragomics run` costs little over the SDK call). Loading the
// CLI's ~550 modules one by one spends about a third of the command's start-up resolving,
// stat-ing and reading files; one file skips all of that (measured by bench/cli-startup.ts, the
// `nobundle` row). Part of `npm run build` (after tsc, which it reads).
//
// Beside the bundle, dist/client/cli.bundle.json records what it was made from (client/cli-bundle.ts
// reads it): the SHA-256 of the project's own compiled files it holds and of npm's lock files.
// bin/ragomics.js uses the bundle only while both still match, so a build by tsc alone (or an
// `npm ci` of other packages) is never run from a stale bundle: the CLI then loads
// dist/client/cli.js as before.
//
// Left out of the bundle, loaded from node_modules and dist/ when a command needs them:
// - dist/workers/main.js (`worker`, `dev`: bin/ragomics.js never uses the bundle for them, and
//   the worker's native core bridge cannot be bundled), required as ../workers/main.js;
// - echarts (its minified build is read as a file by require.resolve, for the timeline page).
// Whitespace and comments are removed (not names): the compile cache (client/compile-cache.ts)
// leaves any file mentioning `import(` to Node, and dependencies' comments do.
// Usage: node scripts/bundle-cli.js
'use strict';
const path = require('node:path');
const { existsSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const esbuild = require('esbuild');
const { BUNDLE_FILE, MANIFEST_FILE, MANIFEST_VERSION, lockDigests, ownDigest } = require('../dist/client/cli-bundle.js');

const root = path.join(__dirname, '..');
const outDir = path.join(root, 'dist', 'client');
const WORKER = path.join(root, 'dist', 'workers', 'main.js');

/** Whether `rel` (relative to the project) is one of the project's own files, not a dependency's. */
function isOwn(rel) {
  return !rel.startsWith('..') && !path.isAbsolute(rel) && !rel.split(path.sep).includes('node_modules');
}

/** A path to `target` as a require() from the bundle's folder writes it. */
function fromBundle(target) {
  const rel = path.relative(outDir, target);
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/**
 * The project's own modules are read here, not by esbuild, so that the manifest's digest is of
 * the very bytes the bundle holds (a tsc -w rewriting a file during the build cannot make the
 * manifest describe other files than the bundle's). The worker stays out of the bundle, required
 * from the bundle's folder at run time.
 */
function ownFiles(seen) {
  return {
    name: 'ragomics-own-files',
    setup(build) {
      build.onResolve({ filter: /workers\/main\.js$/ }, (args) => {
        const target = path.resolve(args.resolveDir, args.path);
        return target === WORKER ? { path: fromBundle(target), external: true } : undefined;
      });
      build.onLoad({ filter: /\.(js|json)$/ }, (args) => {
        const rel = path.relative(root, args.path);
        if (!isOwn(rel)) return undefined;
        const content = readFileSync(args.path);
        seen.set(rel, content);
        return { contents: content, loader: args.path.endsWith('.json') ? 'json' : 'js' };
      });
    },
  };
}

async function main() {
  const entry = path.join(outDir, 'cli.js');
  if (!existsSync(entry)) throw new Error(`${path.relative(root, entry)} is missing: run tsc first (npm run build does both)`);
  const outfile = path.join(outDir, BUNDLE_FILE);
  const manifestFile = path.join(outDir, MANIFEST_FILE);
  const locks = lockDigests(root);
  const seen = new Map();
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // A dynamic import() becomes a require() of the bundled module, evaluated only when reached.
    supported: { 'dynamic-import': false },
    external: ['echarts'],
    // jsonc-parser's `main` is a UMD build whose factory requires its parts by computed names,
    // which a bundle cannot resolve ("Cannot find module './impl/format'" at run time); its
    // ES module build imports them statically.
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
    plugins: [ownFiles(seen)],
    minifyWhitespace: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  const code = result.outputFiles.find((f) => f.path === outfile);
  if (!code) throw new Error(`esbuild wrote no ${BUNDLE_FILE}`);
  const own = [...seen.keys()].sort();
  // Every own input must be in the manifest, or an edit of it would go unseen.
  const untracked = Object.keys(result.metafile.inputs).map((p) => path.relative(root, path.resolve(p))).filter((rel) => isOwn(rel) && !seen.has(rel));
  if (untracked.length) throw new Error(`the manifest would miss ${untracked.join(', ')} (only .js and .json files of the project are tracked)`);
  // No manifest while the bundle is replaced: a build stopped half-way leaves the CLI on dist/client/cli.js.
  rmSync(manifestFile, { force: true });
  const tmp = `${outfile}.${process.pid}.tmp`;
  writeFileSync(tmp, code.contents);
  renameSync(tmp, outfile);
  const manifest = { version: MANIFEST_VERSION, files: own, own: ownDigest(own.map((rel) => [rel, seen.get(rel)])), locks };
  writeFileSync(`${manifestFile}.${process.pid}.tmp`, `${JSON.stringify(manifest, null, 1)}\n`);
  renameSync(`${manifestFile}.${process.pid}.tmp`, manifestFile);
  console.error(`[ragomics] CLI bundle: ${path.relative(process.cwd(), outfile)} (${(code.contents.length / 1024).toFixed(0)} KiB, ${Object.keys(result.metafile.inputs).length} modules, ${own.length} of them the project's)`);
}

main().catch((err) => {
  console.error(`[ragomics] ERROR: bundling the CLI failed: ${err.message}`);
  process.exit(1);
});
