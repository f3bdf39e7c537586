/**
 * The reliability suite's bookkeeping, without running a fault: a case that throws still writes
 * its row (FAIL, with the error), and the after-suite check (scripts/check-reliability.js) exits
 * non-zero when an expected case failed or is missing, and expects only the cases of the files
 * that ran.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCase, type CaseFigures } from '../helpers/ledger';
import { repoRoot } from '../../activities/executors/repo-root';

const ROOT = repoRoot();
const CHECK = path.join(ROOT, 'scripts', 'check-reliability.js');
const FILE1 = 'test/reliability-1-worker-kill.test.ts';

function check(dir: string, ran: string[]): { code: number; out: string } {
  const r = spawnSync(process.execPath, [CHECK, '--dir', dir, '--ran', ...ran], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

function row(id: string, ok: boolean, extra: Partial<CaseFigures> = {}): CaseFigures {
  return {
    id, title: `case ${id}`, test: FILE1, ok, commit: 'abc1234', finishedAt: '2026-11-28T00:00:00.000Z', durationMs: 1000,
    faultsInjected: 1, nodesReExecuted: 0, outputsLost: 0, outputsVerified: 1, line: `case ${id} measured`, figures: {}, ...extra,
  };
}

describe('reliability records', () => {
  let dir: string;
  const saved = process.env.RAGOMICS_RELIABILITY_DIR;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rel-records-'));
    process.env.RAGOMICS_RELIABILITY_DIR = dir;
  });
  after(() => {
    if (saved === undefined) delete process.env.RAGOMICS_RELIABILITY_DIR;
    else process.env.RAGOMICS_RELIABILITY_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  void test('a case that throws writes a FAIL row with its error and the figures set before, and fails', async () => {
    const body = runCase({ id: '1', title: 'worker SIGKILLed', test: FILE1 }, async (rec) => {
      rec.set({ faultsInjected: 1, figures: { noticedMs: 5300 } });
      await Promise.resolve();
      assert.equal(2, 0, 'deliberately failing case');
    });
    await assert.rejects(body(), /deliberately failing case/);
    const written = JSON.parse(readFileSync(path.join(dir, 'case-1.json'), 'utf8')) as CaseFigures;
    assert.equal(written.ok, false);
    assert.match(written.error ?? '', /deliberately failing case/);
    assert.equal(written.faultsInjected, 1);
    assert.deepEqual(written.figures, { noticedMs: 5300 });
    assert.match(written.commit, /^([0-9a-f]{7,}(\+dirty)?|unknown)$/);
  });

  void test('a case that passes writes a PASS row; one that reports no line is a failure', async () => {
    await runCase({ id: '1b', title: 'replacement at once', test: FILE1 }, async (rec) => {
      await Promise.resolve();
      rec.set({ faultsInjected: 1, line: 'all good' });
    })();
    const ok = JSON.parse(readFileSync(path.join(dir, 'case-1b.json'), 'utf8')) as CaseFigures;
    assert.equal(ok.ok, true);
    assert.equal(ok.error, undefined);
    await assert.rejects(runCase({ id: '1b', title: 'replacement at once', test: FILE1 }, async () => { await Promise.resolve(); })(), /without reporting/);
    await assert.rejects(runCase({ id: '99', title: 'unlisted', test: FILE1 }, async (rec) => { await Promise.resolve(); rec.set({ line: 'x' }); })(), /not listed/);
  });

  void test('the after-suite check fails on a failed case, a missing case and an unlisted one, and passes when all expected passed', () => {
    const d = mkdtempSync(path.join(tmpdir(), 'rel-check-'));
    try {
      const ran1 = ['dist/test/reliability-1-worker-kill.test.js', 'dist/test/unit/scheduler.test.js'];
      // Nothing recorded although file 1 ran: both its cases are missing.
      let r = check(d, ran1);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /case 1: MISSING/);
      assert.match(r.out, /case 1b: MISSING/);
      // One failed.
      writeFileSync(path.join(d, 'case-1.json'), JSON.stringify(row('1', true)));
      writeFileSync(path.join(d, 'case-1b.json'), JSON.stringify(row('1b', false, { error: 'boom' })));
      r = check(d, ran1);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /case 1b +FAIL/);
      assert.match(r.out, /case 1b: FAILED: boom/);
      // All expected passed; the cases of files that did not run are not demanded.
      writeFileSync(path.join(d, 'case-1b.json'), JSON.stringify(row('1b', true)));
      r = check(d, ran1);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /2 of 2 expected cases recorded, 2 passed/);
      // A lost output fails even a passing case.
      writeFileSync(path.join(d, 'case-1b.json'), JSON.stringify(row('1b', true, { outputsLost: 1 })));
      assert.equal(check(d, ran1).code, 1);
      writeFileSync(path.join(d, 'case-1b.json'), JSON.stringify(row('1b', true)));
      // A row no list names fails.
      writeFileSync(path.join(d, 'case-42.json'), JSON.stringify(row('42', true)));
      r = check(d, ran1);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /case 42: not in/);
      rmSync(path.join(d, 'case-42.json'));
      // The whole suite ran: every listed case is expected.
      r = check(d, ['dist/test/reliability-1-worker-kill.test.js', 'dist/test/reliability-6-hostile.test.js']);
      assert.equal(r.code, 1);
      assert.match(r.out, /case 6: MISSING/);
      // No reliability file ran and nothing recorded: nothing expected.
      const empty = path.join(d, 'empty');
      mkdirSync(empty);
      r = check(empty, ['dist/test/unit/scheduler.test.js']);
      assert.equal(r.code, 0, r.out);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  void test('bad usage exits 2', () => {
    assert.throws(() => execFileSync(process.execPath, [CHECK, '--bogus'], { stdio: 'pipe' }), (e: { status: number }) => e.status === 2);
  });
});
