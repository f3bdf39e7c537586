#!/usr/bin/env node
// Lists every skipped (and todo) test of a `node --test` run with its reason, read from the TAP
// output (`ok N - name # SKIP reason`), so no skip passes unnoticed. Under CI=true a skip that is
// not in ALLOWED_IN_CI below makes this exit 1: in CI every prerequisite the README promises is
// installed, so a skip there means a feature went unverified.
// Usage: node scripts/report-skips.js TAP_FILE
'use strict';
const fs = require('node:fs');

/**
 * Skips that may happen under CI=true, each with why it is legitimate there. Match by the full
 * name ("suite > test"). Empty: every skip in the suite is a missing prerequisite outside CI.
 * @type {{ name: string, why: string }[]}
 */
const ALLOWED_IN_CI = [];

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/report-skips.js TAP_FILE');
  process.exit(2);
}
const inCi = ['true', '1'].includes(String(process.env.CI ?? '').toLowerCase());

const unescapeTap = (s) => s.replace(/\\(.)/g, '$1');
// TAP 13 as node --test writes it: nesting by 4 spaces, "# Subtest: name" before each result,
// `#` inside names and reasons escaped as `\#`.
const SUBTEST = /^( *)# Subtest: (.*)$/;
const RESULT = /^( *)(?:not )?ok \d+ - ((?:[^#\\]|\\.)*?)(?: # (SKIP|TODO)(?: (.*))?)?$/i;

/** node --test's reason for tests that --test-name-pattern left out. */
const FILTERED = 'test name does not match pattern';

const suites = [];
const skipped = [];
let filtered = 0;
for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
  const sub = SUBTEST.exec(line);
  if (sub) {
    const depth = sub[1].length / 4;
    suites.length = depth;
    suites[depth] = unescapeTap(sub[2]);
    continue;
  }
  const r = RESULT.exec(line);
  if (!r || !r[3]) continue;
  const depth = r[1].length / 4;
  const name = [...suites.slice(0, depth), unescapeTap(r[2].trim())].join(' > ');
  const reason = r[4] ? unescapeTap(r[4]) : '(no reason given)';
  // Left out on purpose with --test-name-pattern: not a skip of the suite's own making.
  if (reason === FILTERED) filtered++;
  else skipped.push({ name, kind: r[3].toUpperCase(), reason });
}
if (filtered > 0) console.log(`tests left out by --test-name-pattern: ${filtered}`);

if (skipped.length === 0) {
  console.log('skipped tests: none');
  process.exit(0);
}
console.log(`skipped tests (${skipped.length}):`);
const notAllowed = [];
for (const s of skipped) {
  const allowed = ALLOWED_IN_CI.find((a) => a.name === s.name);
  if (!allowed) notAllowed.push(s);
  console.log(`  ${s.kind} ${s.name}\n       reason: ${s.reason}${allowed ? `\n       allowed in CI: ${allowed.why}` : ''}`);
}
if (inCi && notAllowed.length > 0) {
  console.log(`CI=true: ${notAllowed.length} skip(s) not allowed in CI (scripts/report-skips.js ALLOWED_IN_CI); a skipped test verified nothing`);
  process.exit(1);
}
