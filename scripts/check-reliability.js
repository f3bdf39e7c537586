#!/usr/bin/env node
// The reliability suite's summary, run by scripts/test.sh after `node --test` (not a test file,
// so it does not depend on the order test files run in). Prints one line per case from the rows
// the cases wrote (`<dir>/case-<id>.json`, pass or fail) and the totals, and exits 1 when an
// expected case is missing or failed, a case is not in the expected list, or an output was lost.
//
// Expected cases: test/fixtures/reliability/expected-cases.json, restricted to the test files
// that ran (`--ran FILE...`, the files given to node --test; without --ran, every listed file).
//
// Usage: node scripts/check-reliability.js [--dir DIR] [--ran FILE...]
//   DIR defaults to $RAGOMICS_RELIABILITY_DIR or .data/reliability.
// Exit: 0 all expected cases passed (or none was expected), 1 a problem (listed), 2 bad usage.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const EXPECTED_FILE = path.join(ROOT, 'test', 'fixtures', 'reliability', 'expected-cases.json');

function parseArgs(argv) {
  const out = { dir: process.env.RAGOMICS_RELIABILITY_DIR ?? path.join(ROOT, '.data', 'reliability'), ran: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--dir' && argv[i + 1]) out.dir = argv[++i];
    else if (argv[i] === '--ran') {
      out.ran = argv.slice(i + 1);
      break;
    }
    else {
      console.error(`check-reliability: unknown argument ${JSON.stringify(argv[i])} (usage: [--dir DIR] [--ran FILE...])`);
      process.exit(2);
    }
  }
  return out;
}

/** Test file path (dist/test/x.test.js or test/x.test.ts) → the key in expected-cases.json. */
const fileKey = (f) => path.basename(f).replace(/\.test\.[jt]s$/, '');

/** Expected case ids for the files that ran, in the list's order. */
function expectedCases(ran) {
  const byFile = JSON.parse(fs.readFileSync(EXPECTED_FILE, 'utf8'));
  const ranKeys = ran === null ? null : new Set(ran.map(fileKey));
  return Object.entries(byFile).filter(([file]) => ranKeys === null || ranKeys.has(file)).flatMap(([, ids]) => ids);
}

function readRows(dir) {
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^case-.+\.json$/.test(f)) : [];
  return names.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const expected = expectedCases(args.ran);
  const rows = readRows(args.dir);
  if (expected.length === 0 && rows.length === 0) {
    console.log('== reliability: no reliability test file ran; nothing expected');
    return 0;
  }
  const byId = new Map(rows.map((r) => [String(r.id), r]));
  const allListed = new Set(expectedCases(null));
  const problems = [];
  console.log(`== reliability cases (${path.relative(ROOT, EXPECTED_FILE)}; rows from ${args.dir})`);
  for (const id of expected) {
    const c = byId.get(id);
    if (!c) {
      problems.push(`case ${id}: MISSING (expected for the files that ran, no row written)`);
      console.log(`  case ${id.padEnd(3)} MISSING`);
      continue;
    }
    console.log(`  case ${id.padEnd(3)} ${c.ok ? 'PASS' : 'FAIL'} ${(c.durationMs / 1000).toFixed(1).padStart(6)} s  faults ${c.faultsInjected}  re-executed ${c.nodesReExecuted}  lost ${c.outputsLost ?? 'not checked'}  | ${c.line}${c.error ? `\n           error: ${c.error}` : ''}`);
    if (!c.ok) problems.push(`case ${id}: FAILED: ${c.error ?? '(no error recorded)'}`);
    if (c.outputsLost > 0) problems.push(`case ${id}: ${c.outputsLost} output(s) lost`);
  }
  for (const r of rows) {
    if (!allListed.has(String(r.id))) problems.push(`case ${r.id}: not in ${path.relative(ROOT, EXPECTED_FILE)}`);
    else if (!expected.includes(String(r.id))) problems.push(`case ${r.id}: recorded, but its file was not in the run`);
  }
  const present = expected.map((id) => byId.get(id)).filter(Boolean);
  const sum = (k) => present.reduce((s, c) => s + (Number(c[k]) || 0), 0);
  console.log(`  total: ${present.length} of ${expected.length} expected cases recorded, ${present.filter((c) => c.ok).length} passed; faults injected ${sum('faultsInjected')}, nodes re-executed ${sum('nodesReExecuted')}, outputs lost ${sum('outputsLost')} (${present.filter((c) => c.outputsLost === null || c.outputsLost === undefined).length} case(s) not checked), outputs re-hashed ${sum('outputsVerified')}, case time ${(sum('durationMs') / 1000).toFixed(0)} s`);
  for (const p of problems) console.log(`  PROBLEM ${p}`);
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = main();
