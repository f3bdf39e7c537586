/**
 * scripts/render-records.js: the figures of RELIABILITY.md and BENCHMARKS.md are rendered from
 * the JSON records, a hand edit of a rendered figure fails `--check`, and a section without a
 * record says so instead of showing numbers. Runs the script on a copy of the repository's
 * layout in a temp dir (the real documents are checked by scripts/test.sh).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../activities/executors/repo-root';

const ROOT = repoRoot();

function sandbox(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'render-records-'));
  for (const rel of ['scripts/render-records.js', 'test/fixtures/reliability/expected-cases.json']) {
    mkdirSync(path.dirname(path.join(d, rel)), { recursive: true });
    copyFileSync(path.join(ROOT, rel), path.join(d, rel));
  }
  writeFileSync(path.join(d, 'RELIABILITY.md'), '# R\n\nprose\n\n<!-- reliability-figures:start -->\nold\n<!-- reliability-figures:end -->\n\nmore prose\n');
  writeFileSync(path.join(d, 'BENCHMARKS.md'), '# B\n\n<!-- bench:schedule-quality:start -->\n<!-- bench:schedule-quality:end -->\n\n<!-- bench:scale:start -->\n<!-- bench:scale:end -->\n');
  return d;
}

const run = (d: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(d, 'scripts', 'render-records.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
};

void test('render-records: renders from the records, fails --check on a hand edit, says "not yet recorded" without a record', () => {
  const d = sandbox();
  try {
    const runDir = path.join(d, 'run');
    mkdirSync(runDir);
    writeFileSync(path.join(runDir, 'case-1.json'), JSON.stringify({
      id: '1', title: 't', test: 'test/reliability-1-worker-kill.test.ts', ok: true, commit: 'abc1234', finishedAt: '2026-11-28T22:50:00.000Z',
      durationMs: 44300, faultsInjected: 1, nodesReExecuted: 2, outputsLost: 0, outputsVerified: 6, line: 'tree done 33.9 s after the kill', figures: {},
    }));
    writeFileSync(path.join(runDir, 'case-1b.json'), JSON.stringify({
      id: '1b', title: 't', test: 'test/reliability-1-worker-kill.test.ts', ok: false, error: 'boom | with a pipe', commit: 'abc1234', finishedAt: '2026-11-28T22:51:00.000Z',
      durationMs: 1000, faultsInjected: 1, nodesReExecuted: 0, outputsLost: 0, outputsVerified: 0, line: '(nothing measured before the failure)', figures: {},
    }));
    assert.equal(run(d, '--check').code, 1, 'the placeholder text is not what the (empty) records render');
    let r = run(d, 'reliability', '--from', runDir);
    assert.equal(r.code, 0, r.out);
    const rel = readFileSync(path.join(d, 'RELIABILITY.md'), 'utf8');
    assert.match(rel, /\| 1 \| pass \| abc1234 \| 2026-11-28 22:50 \| 44\.3 s \| 1 \| 2 \| 0 \| 6 \| tree done 33\.9 s after the kill \|/);
    assert.match(rel, /\| 1b \| \*\*FAIL\*\*: boom \/ with a pipe \|/);
    assert.match(rel, /\| 3b \| not yet recorded at this commit \|/);
    assert.match(rel, /^prose$/m);
    assert.match(rel, /^more prose$/m);
    assert.match(readFileSync(path.join(d, 'BENCHMARKS.md'), 'utf8'), /Not yet recorded by `npm run bench` at this commit \(no `docs\/records\/bench\/scale\.json`\)/);
    assert.equal(run(d, '--check').code, 0);
    // A figure edited by hand.
    writeFileSync(path.join(d, 'RELIABILITY.md'), rel.replace('33.9 s', '23.9 s'));
    r = run(d, '--check');
    assert.equal(r.code, 1);
    assert.match(r.out, /RELIABILITY\.md differ/);
    assert.equal(run(d, 'render').code, 0);
    assert.equal(run(d, '--check').code, 0);
    // A bench record: its lines, tables kept together, with command, commit and load.
    const benchDir = path.join(d, 'bench-run');
    mkdirSync(benchDir);
    writeFileSync(path.join(benchDir, 'schedule-quality.json'), JSON.stringify({
      name: 'schedule-quality', command: 'node dist/bench/schedule-quality.js 5', commit: 'abc1234', startedAt: '2026-11-28T22:40:00.000Z', endedAt: '2026-11-28T22:44:00.000Z',
      machine: { cores: 2, memGiB: 24, node: 'v20.20.2', loadAtStart: [5.1, 4, 3], loadAtEnd: [6.2, 5, 4] },
      lines: ['reference tree: critical path 37.9 units', '', '## Schedule quality', '| a | b |', '|---|---|', '| x | 4.220 s |', '', 'target: met'],
    }));
    assert.equal(run(d, 'bench', '--from', benchDir).code, 0);
    const bench = readFileSync(path.join(d, 'BENCHMARKS.md'), 'utf8');
    assert.ok(bench.includes('Recorded by `node dist/bench/schedule-quality.js 5` at commit abc1234, 2026-11-28 22:40–22:44 UTC; 2 cores, 24 GiB, Node v20.20.2; load average 5.1 at the start, 6.2 at the end.'), bench);
    assert.ok(bench.includes('reference tree: critical path 37.9 units\n\n**Schedule quality**\n\n| a | b |\n|---|---|\n| x | 4.220 s |\n\ntarget: met\n<!-- bench:schedule-quality:end -->'), bench);
    assert.equal(run(d, '--check').code, 0);
    // A record of a case no list names is refused and changes nothing.
    writeFileSync(path.join(runDir, 'case-42.json'), JSON.stringify({ id: '42' }));
    const before = readFileSync(path.join(d, 'RELIABILITY.md'), 'utf8');
    r = run(d, 'reliability', '--from', runDir);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /case 42 is not in/);
    assert.equal(readFileSync(path.join(d, 'RELIABILITY.md'), 'utf8'), before);
    assert.equal(run(d, 'bogus').code, 2);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
