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
// A short command spends most of its start-up compiling modules: reuse V8's code from earlier
// runs of the same command (dist/client/compile-cache.js; RAGOMICS_COMPILE_CACHE=0 turns it off).
// Not for `worker` and `dev`, which run for hours and would write their entries only when they stop.
const command = process.argv[2];
if (command !== 'worker' && command !== 'dev') require(path.join(__dirname, '..', 'dist', 'client', 'compile-cache.js')).enableCompileCache(command);
require(compiled).main(process.argv);
