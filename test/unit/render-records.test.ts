/**
 * scripts/render-records.js: the figures of RELIABILITY.md and BENCHMARKS.md are rendered from
 * the JSON records, a hand edit of a rendered figure fails `--check`, and a section without a
 * record says so instead of showing numbers. Runs the script on a copy of the repository's
 * layout in a temp dir (the real documents are checked by scripts/test.sh).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../activities/executors/repo-root';

const ROOT = repoRoot();

function sandbox(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'render-records-'));
  for (const rel of ['scripts/render-records.js', 'scripts/issue15-targets.js', 'test/fixtures/reliability/expected-cases.json']) {
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
      durationMs: 1000, faultsInjected: 1, nodesReExecuted: 0, outputsLost: null, outputsVerified: 0, line: '(nothing measured before the failure)', figures: {},
    }));
    assert.equal(run(d, '--check').code, 1, 'the placeholder text is not what the (empty) records render');
    let r = run(d, 'reliability', '--from', runDir);
    assert.equal(r.code, 0, r.out);
    const rel = readFileSync(path.join(d, 'RELIABILITY.md'), 'utf8');
    assert.match(rel, /\| 1 \| pass \| abc1234 \| 2026-11-28 22:50 \| 44\.3 s \| 1 \| 2 \| 0 \| 6 \| tree done 33\.9 s after the kill \|/);
    assert.match(rel, /\| 1b \| \*\*FAIL\*\*: boom \/ with a pipe \| abc1234 \| 2026-11-28 22:51 \| 1\.0 s \| 1 \| 0 \| not checked \| 0 \|/);
    // A total of 0 lost does not read as "all checked" while a row never checked its outputs.
    assert.match(rel, /\| \*\*0\*\* \(not checked in 1b\) \| 6 \|/);
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
    // A bench record whose run's own checks failed is not copied, nor any other of that run.
    const failedDir = path.join(d, 'bench-failed');
    mkdirSync(failedDir);
    const good = { name: 'data-passing', command: 'node dist/bench/data-passing.js', commit: 'abc1234', startedAt: '2026-11-28T22:40:00.000Z', endedAt: '2026-11-28T22:44:00.000Z', machine: { cores: 2, memGiB: 24, node: 'v20.20.2', loadAtStart: [1, 1, 1], loadAtEnd: [1, 1, 1] }, lines: ['copied: 0'] };
    writeFileSync(path.join(failedDir, 'data-passing.json'), JSON.stringify(good));
    writeFileSync(path.join(failedDir, 'scale.json'), JSON.stringify({ ...good, name: 'scale', command: 'node dist/bench/scale.js', lines: ['(a) one tree FAILED'], problems: ['the 10000-node tree ended FAILED'] }));
    const benchBefore = readFileSync(path.join(d, 'BENCHMARKS.md'), 'utf8');
    r = run(d, 'bench', '--from', failedDir);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /scale\.json: the run's own checks failed: the 10000-node tree ended FAILED; nothing was copied/);
    assert.equal(readFileSync(path.join(d, 'BENCHMARKS.md'), 'utf8'), benchBefore);
    assert.ok(!existsSync(path.join(d, 'docs', 'records', 'bench', 'data-passing.json')), 'the run\'s other records were not copied either');
    // Such a record put into docs/records/ by hand fails --check, and render shows none of its figures.
    copyFileSync(path.join(failedDir, 'scale.json'), path.join(d, 'docs', 'records', 'bench', 'scale.json'));
    r = run(d, '--check');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /docs\/records\/bench\/scale\.json: the run's own checks failed/);
    r = run(d, 'render');
    assert.equal(r.code, 1, r.out);
    const rendered = readFileSync(path.join(d, 'BENCHMARKS.md'), 'utf8');
    assert.ok(!rendered.includes('(a) one tree FAILED'), 'the failed run\'s lines are not rendered');
    assert.match(rendered, /_Not rendered: in `docs\/records\/bench\/scale\.json`, the run's own checks failed: the 10000-node tree ended FAILED\._/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

void test('render-records: run ids: each section names its run and the sections sharing it; the runs table; issue 15 targets fail render and --check while a record is missing', () => {
  const d = sandbox();
  try {
    writeFileSync(path.join(d, 'BENCHMARKS.md'), [
      '# B', '', '<!-- bench-runs:start -->', '<!-- bench-runs:end -->', '', '<!-- issue15-targets:start -->', '<!-- issue15-targets:end -->', '',
      '## 1. Orchestration', '', '<!-- bench:orchestration-overhead:start -->', '<!-- bench:orchestration-overhead:end -->', '',
      '## 9. CLI start-up', '', '<!-- bench:cli-startup:start -->', '<!-- bench:cli-startup:end -->', '',
      '## 2. Schedule', '', '<!-- bench:schedule-quality:start -->', '<!-- bench:schedule-quality:end -->', '',
      '## What the settings buy', '', '<!-- bench:server-settings:start -->', '<!-- bench:server-settings:end -->', '',
    ].join('\n'));
    const dir = path.join(d, 'bench-run');
    mkdirSync(dir);
    const rec = (name: string, run: string | undefined, lines: string[], startedAt = '2026-11-29T14:00:00.000Z') => writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({
      name, command: `node dist/bench/${name}.js`, commit: 'abc1234', ...(run ? { run, runSet: 'issue15, BASELINE=3b9395e' } : {}), startedAt, endedAt: new Date(Date.parse(startedAt) + 600_000).toISOString(),
      machine: { cores: 2, memGiB: 24, node: 'v20.20.2', loadAtStart: [1, 1, 1], loadAtEnd: [2, 2, 2] }, lines,
    }));
    rec('orchestration-overhead', 'R1', ['targets (issue 15, goal 3): ragomics/bare handoff 1.33 ≤ 1.10: missed; fan throughput 0.198 of the pool ≥ 0.40: missed']);
    rec('cli-startup', 'R1', ['target: `ragomics run` adds ≤ 500 ms (head plus tail) over the SDK: 343 ms, met.']);
    rec('schedule-quality', 'R2', ['target: met'], '2026-11-29T15:00:00.000Z');
    rec('server-settings', undefined, ['x'], '2026-11-28T10:00:00.000Z');
    // Issue 15's other records (container-cost, warm-chain, warm-trees, first-run, peers) are missing.
    let r = run(d, 'bench', '--from', dir);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /issue 15 targets: container-cost: no docs\/records\/bench\/container-cost\.json/);
    assert.match(r.out, /issue 15 targets: peers: no docs\/records\/bench\/peers\.json/);
    assert.match(readFileSync(path.join(d, 'BENCHMARKS.md'), 'utf8'), /Goals 1, 2, 3 and 5 do NOT come from one run: `R1`: `cli-startup`, `orchestration-overhead`\./, 'records missing: not "one run"');
    const doc = readFileSync(path.join(d, 'BENCHMARKS.md'), 'utf8');
    assert.match(doc, /\| 3 \| ragomics\/bare handoff ratio in a chain ≤ 1\.10 \| — \(run without BASELINE\) \| this checkout: 1\.33 \| missed \| section 1 \(`orchestration-overhead`\), run `R1` \|/);
    assert.match(doc, /\| \? \| \(peers\) \| — \| — \| \*\*not recorded\*\* \|/);
    assert.match(doc, /Run `R1` \(`ONLY=issue15, BASELINE=3b9395e`\), the same run as 9 \(`cli-startup`\)\. Rendered by/);
    assert.match(doc, /Run `R2` \(`ONLY=issue15, BASELINE=3b9395e`\): no other section comes from this run\./);
    assert.match(doc, /No run id \(recorded before run ids, or not by `npm run bench`\): a run of its own\./);
    assert.match(doc, /come from 3 runs \(2 of `npm run bench` with a run id/);
    assert.match(doc, /\| — \(no run id\) \| — \| abc1234 \| 2026-11-28 10:00–10:10 \| `server-settings` \|\n\| `R1` \| `issue15, BASELINE=3b9395e` \| abc1234 \| 2026-11-29 14:00–14:10 \| 1 \(`orchestration-overhead`\), 9 \(`cli-startup`\) \|\n\| `R2` \|/);
    r = run(d, '--check');
    assert.equal(r.code, 1, 'rendered, but a record of issue 15 is missing');
    assert.match(r.out, /issue 15 targets: warm-chain: no docs/);
    assert.doesNotMatch(r.out, /differ from what/);
    // A target line that lost its shape fails too.
    rec('cli-startup', 'R1', ['target: `ragomics run` adds too much']);
    r = run(d, 'bench', '--from', dir);
    assert.equal(r.code, 1);
    assert.match(r.out, /issue 15 targets: cli-startup: cannot read goal 2's target from "target: `ragomics run` adds too much"/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
