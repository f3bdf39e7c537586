#!/usr/bin/env node
// The `ragomics` command (package.json "bin"): a plain-JS shim that loads the compiled CLI, so
// `npx ragomics` works from the checkout after `npm run build`.
'use strict';
let cli;
try {
  cli = require('../dist/client/cli.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && /dist[\\/]client[\\/]cli/.test(String(err.message))) {
    process.stderr.write('error: ragomics is not built yet; run `npm run build` in the checkout first\n');
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv);
