#!/usr/bin/env node
// The `ragomics` command (package.json "bin"): a plain-JS shim that loads the compiled CLI, so
// `npx ragomics` works from the checkout after `npm run build`, and `ragomics` from anywhere once
// the package is installed (`npm pack`, then `npm install -g ./ragomics-*.tgz`: docs/cli.md).
'use strict';
const { existsSync } = require('node:fs');
const path = require('node:path');

// This file sits in <package>/bin/ (a checkout or an installed package), so the build is next to
// it; checked by existence, not by reading the text of a require error.
const compiled = path.join(__dirname, '..', 'dist', 'client', 'cli.js');
if (!existsSync(compiled)) {
  process.stderr.write('error: ragomics is not built yet; run `npm run build` in the checkout first\n');
  process.exit(1);
}
// A short command spends most of its start-up loading modules. Two things make that cheaper, and
// neither is for `worker` and `dev`, which run for hours (and load the worker, kept out of the bundle):
// - V8's code from earlier runs of the same command (dist/client/compile-cache.js;
//   RAGOMICS_COMPILE_CACHE=0 turns it off; a long command would write its entries only when it stops);
// - the CLI as one file (scripts/bundle-cli.js, made by `npm run build`) instead of ~550 modules,
//   used only while it matches the compiled files it was made from (dist/client/cli-bundle.js;
//   RAGOMICS_CLI_BUNDLE=0 turns it off, and so does RAGOMICS_DEBUG, whose stacks then name the
//   compiled files and lines).
const command = process.argv[2];
let entry = compiled;
if (command !== 'worker' && command !== 'dev') {
  const dist = path.join(__dirname, '..', 'dist', 'client');
  require(path.join(dist, 'compile-cache.js')).enableCompileCache(command);
  // A checkout built before the bundle existed has no cli-bundle.js: the compiled modules, as before.
  if (existsSync(path.join(dist, 'cli-bundle.js'))) {
    entry = require(path.join(dist, 'cli-bundle.js')).cliEntry(path.join(__dirname, '..'), process.env).file;
  }
}
require(entry).main(process.argv);
