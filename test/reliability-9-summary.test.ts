/**
 * The reliability suite's summary: runs after the cases (files sort by their number), prints one
 * line per case and the totals (faults injected, nodes re-executed, outputs lost — must be 0),
 * and fails if any recorded case failed or lost an output. With RAGOMICS_RELIABILITY_UPDATE_DOC=1
 * it also rewrites the figures table in RELIABILITY.md (between its figures markers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readCases, type CaseFigures } from './helpers/ledger';
import { REPO_ROOT } from './helpers/processes';

const START = '<!-- reliability-figures:start -->';
const END = '<!-- reliability-figures:end -->';

function table(cases: CaseFigures[]): string {
  const total = (k: 'faultsInjected' | 'nodesReExecuted' | 'outputsLost' | 'outputsVerified') => cases.reduce((s, c) => s + c[k], 0);
  const rows = cases.map((c) => `| ${c.id} | ${c.ok ? 'pass' : 'FAIL'} | ${(c.durationMs / 1000).toFixed(1)} s | ${c.faultsInjected} | ${c.nodesReExecuted} | ${c.outputsLost} | ${c.outputsVerified} | ${c.line.replace(/\|/g, '/')} |`);
  const duration = cases.reduce((s, c) => s + c.durationMs, 0);
  return [
    `Last recorded: ${cases.map((c) => c.finishedAt).sort().at(-1) ?? 'never'} (\`RAGOMICS_RELIABILITY_UPDATE_DOC=1\`, see "Running it").`,
    '',
    '| case | result | time | faults injected | nodes re-executed | outputs lost | outputs re-hashed | what was measured |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    `| **total** | ${cases.every((c) => c.ok) ? 'pass' : 'FAIL'} | ${(duration / 1000).toFixed(0)} s | **${total('faultsInjected')}** | **${total('nodesReExecuted')}** | **${total('outputsLost')}** | ${total('outputsVerified')} | |`,
  ].join('\n');
}

void test('reliability summary: every case passed and no output was lost', async () => {
  const cases = await readCases();
  if (cases.length === 0) {
    console.log('[reliability] no case figures recorded yet (run the reliability-*.test.js files first)');
    return;
  }
  for (const c of cases) console.log(`[reliability] case ${c.id.padEnd(3)} ${c.ok ? 'PASS' : 'FAIL'} ${(c.durationMs / 1000).toFixed(1).padStart(6)} s  faults ${c.faultsInjected}  re-executed ${c.nodesReExecuted}  lost ${c.outputsLost}  | ${c.line}`);
  const sum = (k: 'faultsInjected' | 'nodesReExecuted' | 'outputsLost' | 'outputsVerified') => cases.reduce((s, c) => s + c[k], 0);
  console.log(`[reliability] TOTAL ${cases.length} cases: faults injected ${sum('faultsInjected')}, nodes re-executed ${sum('nodesReExecuted')}, outputs lost ${sum('outputsLost')}, outputs re-hashed ${sum('outputsVerified')}, case time ${(cases.reduce((s, c) => s + c.durationMs, 0) / 1000).toFixed(0)} s`);
  if (process.env.RAGOMICS_RELIABILITY_UPDATE_DOC === '1') {
    const doc = path.join(REPO_ROOT, 'RELIABILITY.md');
    const text = await readFile(doc, 'utf8');
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    assert.ok(a >= 0 && b > a, `${doc} has no figures markers`);
    await writeFile(doc, `${text.slice(0, a + START.length)}\n${table(cases)}\n${text.slice(b)}`);
    console.log(`[reliability] figures written to ${doc}`);
  }
  assert.deepEqual(cases.filter((c) => !c.ok).map((c) => c.id), [], 'failed cases');
  assert.equal(sum('outputsLost'), 0, 'outputs lost');
});
