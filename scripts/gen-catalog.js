#!/usr/bin/env node
// Writes blocks/catalog.json (JSON Schema of every built-in block's parameters) from the zod
// schemas in common/block-catalog.ts, so Python validates exactly what TypeScript validates.
// Usage: node scripts/gen-catalog.js [--check]   (--check exits 1 when the file is stale)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { blockCatalogJsonSchema } = require('../dist/common/block-catalog.js');

const target = path.join(__dirname, '..', 'blocks', 'catalog.json');
const text = JSON.stringify(blockCatalogJsonSchema(), null, 2) + '\n';
if (process.argv.includes('--check')) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (current !== text) {
    console.error('blocks/catalog.json is stale: run `npm run build && node scripts/gen-catalog.js`');
    process.exit(1);
  }
} else {
  fs.writeFileSync(target, text);
  console.log(`wrote ${path.relative(process.cwd(), target)}`);
}
