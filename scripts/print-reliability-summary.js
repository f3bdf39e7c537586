#!/usr/bin/env node
// Prints the reliability suite's figures (faults injected, nodes re-executed, outputs lost) from
// the case records the suite wrote, so they stand at the end of a test run's output.
// Usage: node scripts/print-reliability-summary.js [DIR]   (default .data/reliability)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2] ?? process.env.RAGOMICS_RELIABILITY_DIR ?? path.join(__dirname, '..', '.data', 'reliability');
const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^case-.*\.json$/.test(f)).sort() : [];
if (files.length === 0) process.exit(0);
const cases = files.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
const sum = (k) => cases.reduce((s, c) => s + (Number(c[k]) || 0), 0);
console.log('== reliability figures (test/reliability-*.test.ts; see RELIABILITY.md)');
for (const c of cases) console.log(`  case ${String(c.id).padEnd(3)} ${c.ok ? 'PASS' : 'FAIL'}  faults ${c.faultsInjected}  re-executed ${c.nodesReExecuted}  lost ${c.outputsLost}  | ${c.title}`);
console.log(`  total: ${cases.length} cases, faults injected ${sum('faultsInjected')}, nodes re-executed ${sum('nodesReExecuted')}, outputs lost ${sum('outputsLost')}, outputs re-hashed ${sum('outputsVerified')}`);
