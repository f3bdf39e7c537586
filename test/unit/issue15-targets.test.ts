/**
 * scripts/issue15-targets.js: BENCHMARKS.md's "Targets of issue 15" rows are read from the bench
 * records' own target lines (before, after, met/missed as printed), and a missing record or a line
 * that lost its shape is reported as a problem, never dropped. The records here are synthetic, in
 * the shape each bench prints (bench/container-cost.ts, warm-chain.ts, warm-trees.ts,
 * cli-startup.ts, orchestration-overhead.ts, first-run.ts, peers.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from '../../activities/executors/repo-root';

interface Rec { name: string; command: string; commit: string; run?: string; startedAt: string; endedAt: string; lines: string[] }
interface Row { goal: string; target: string; before: string; after: string; result: string; record: string; run?: string }
interface Targets {
  issue15Targets(records: Map<string, Rec>): { rows: Row[]; problems: string[] };
  issue15Table(records: Map<string, Rec>, label?: (name: string) => string): { text: string; problems: string[] };
}

const { issue15Targets, issue15Table } = createRequire(__filename)(path.join(repoRoot(), 'scripts', 'issue15-targets.js')) as Targets;

const LINES: Record<string, string[]> = {
  'container-cost': [
    '| phase | docker/sleep | docker-warm/sleep |', '|---|---:|---:|',
    'sleep      docker/local 1.12  (docker 850 ms, local 762 ms; difference 88 ms; container API steps 98 ms; ranges docker 810–856, local 723–778)',
    '           docker-warm: non-compute overhead 136 ms median (docker 794 ms, 5.9× less); target ≤ 300 ms: met',
    '           local-warm: non-compute overhead 37 ms median (local 704 ms, 19.2× less); target ≤ 300 ms: met',
    'normalize  docker/local 1.02  (docker 1857 ms, local 1818 ms; difference 39 ms; container API steps 99 ms; ranges docker 1828–1891, local 1806–1831)',
    '           docker-warm: non-compute overhead 346 ms median (docker 1488 ms, 4.3× less); target ≤ 300 ms: NOT met',
  ],
  'warm-chain': [
    '| figure | cold (warmPool 0) | warm | warm / cold | target |', '|---|---|---|---|---|',
    '| (a) chain of 10 `sleep 0.5` nodes, startTree to result() (floor 5.0 s) | 13.0 s (2.60 × floor) | 6.2 s (1.24 × floor) | 0.48 | ≤ 1.2 × floor: missed |',
    '| (a) attempts that ran warm, per chain | 0 of 10 | 10 of 10 | | |',
    '| (b) `sleep 0` node: executor run() call, start to return | 788 ms | 90 ms | 0.11 | ≤ 300 ms: met |',
  ],
  'warm-trees': [
    'Tree makespan on the Docker executor, cold vs warm pool (2 members)',
    '| tree | nodes | runs | cold | warm | cold/warm | nodes served warm (per warm run) |', '|---|---:|---:|---:|---:|---:|---|',
    '| PBMC demo (examples/pbmc-tree.yaml) | 9 | 1 | 18.2 | 14.1 | 1.29× | 9/9 |',
    '| quality_control + 19 normalize children | 20 | 1 | 31.6 | 28.2 | 1.12× | 20/20 |',
  ],
  'cli-startup': ['target: `ragomics run` adds ≤ 500 ms (head plus tail) over the SDK: 343 ms, met (baseline: 2051 ms).'],
  'orchestration-overhead': [
    'targets: median overhead 16.0 ms ≤ 30 ms: met',
    'targets (issue 15, goal 3): ragomics/bare handoff 1.33 ≤ 1.10: missed; fan throughput 0.198 of the pool ≥ 0.40: missed (baseline checkout: 1.42 and 0.201)',
  ],
  'first-run': ['| step | after (d4d21ae) |', 'Goal: at most 240 s. d4d21ae: 209.1 s.'],
  peers: [
    '### Ten sequential 0.5 s tasks at 1 slot (floor 5.0 s)', '| engine | end to end |', '|---|---|', '| ragomics | 5.20 s |', '| Luigi | 5.08 s |',
    '### The reference tree at 3 slots (best 3-slot schedule 4.12 s)', '| engine | end to end |', '|---|---|', '| ragomics | 4.25 s |', '| Luigi | 4.16 s |',
    '### A fan of 200 no-op tasks at 10 slots', '| engine | end to end |', '|---|---|', '| ragomics | 1.20 s |', '| Luigi | 1.04 s |',
    'where ragomics loses (end to end): nowhere in this run.',
  ],
};

const COMMANDS: Record<string, string> = {
  'cli-startup': 'node dist/bench/cli-startup.js 15 --baseline /x/.data/bench/baseline-3b9395e',
  'orchestration-overhead': 'node dist/bench/orchestration-overhead.js 5 30 200 10 --baseline /x/.data/bench/baseline-3b9395e',
};

function records(over: Partial<Record<string, string[] | null>> = {}, run: (name: string) => string | undefined = () => 'R1'): Map<string, Rec> {
  const m = new Map<string, Rec>();
  for (const [name, lines] of Object.entries({ ...LINES, ...over })) {
    if (lines === null || lines === undefined) continue;
    m.set(name, { name, command: COMMANDS[name] ?? `node dist/bench/${name}.js`, commit: 'abc1234', run: name === 'first-run' ? 'F1' : run(name), startedAt: '2026-11-29T14:00:00.000Z', endedAt: '2026-11-29T14:01:00.000Z', lines });
  }
  return m;
}

const row = (rows: Row[], goal: string, target: RegExp): Row => {
  const r = rows.find((x) => x.goal === goal && target.test(x.target));
  assert.ok(r, `no row for goal ${goal} ${target}: ${JSON.stringify(rows.map((x) => [x.goal, x.target]))}`);
  return r;
};

void test('issue 15 targets: every goal read from its record as printed (before, after, met or missed)', () => {
  const { rows, problems } = issue15Targets(records());
  assert.deepEqual(problems, []);
  assert.deepEqual(row(rows, '1 (Docker)', /^`sleep` node/), { goal: '1 (Docker)', target: '`sleep` node: median non-compute overhead ≤ 300 ms', before: 'cold container: 794 ms', after: 'warm pool: 136 ms', result: 'met', record: 'container-cost', run: 'R1' });
  const norm = row(rows, '1 (Docker)', /^`normalize`/);
  assert.equal(norm.after, 'warm pool: 346 ms');
  assert.equal(norm.result, 'missed', 'NOT met is a miss');
  assert.equal(rows.filter((r) => r.goal === '1 (Docker)').length, 2, 'local-warm lines are not Docker rows');
  const chain = row(rows, '1 (local)', /^chain/);
  assert.deepEqual([chain.before, chain.after, chain.result], ['cold: 13.0 s (2.60 × floor)', 'fork server: 6.2 s (1.24 × floor)', 'missed']);
  const node = row(rows, '1 (local)', /^`sleep 0`/);
  assert.deepEqual([node.target, node.before, node.after, node.result], ['`sleep 0` node, executor run() call: ≤ 300 ms', 'cold: 788 ms', 'fork server: 90 ms', 'met']);
  assert.equal(rows.filter((r) => r.goal === '1 (trees)').length, 2);
  assert.equal(row(rows, '1 (trees)', /PBMC/).after, 'warm pool: 14.1 s');
  const cli = row(rows, '2', /ragomics run/);
  assert.deepEqual([cli.before, cli.after, cli.result], ['baseline-3b9395e: 2051 ms', 'this checkout: 343 ms', 'met']);
  const handoff = row(rows, '3', /handoff/);
  assert.deepEqual([handoff.target, handoff.before, handoff.after, handoff.result], ['ragomics/bare handoff ratio in a chain ≤ 1.10', 'baseline-3b9395e: 1.42', 'this checkout: 1.33', 'missed']);
  assert.deepEqual([row(rows, '3', /fan/).before, row(rows, '3', /fan/).after], ['baseline-3b9395e: 0.201', 'this checkout: 0.198']);
  const first = row(rows, '4', /npm run demo/);
  assert.deepEqual([first.after, first.result, first.run], ['d4d21ae: 209.1 s', 'met', 'F1']);
  assert.equal(row(rows, '5', /peers/).result, 'present');
});

void test('issue 15 targets: a run without BASELINE has no before; a first run with --baseline has one; over 240 s is missed', () => {
  const { rows, problems } = issue15Targets(records({
    'cli-startup': ['target: `ragomics run` adds ≤ 500 ms (head plus tail) over the SDK: 612 ms, missed by 112 ms.'],
    'orchestration-overhead': ['targets (issue 15, goal 3): ragomics/bare handoff 1.05 ≤ 1.10: met; fan throughput 0.450 of the pool ≥ 0.40: met'],
    'first-run': ['Goal: at most 240 s. abc1234: 251.0 s; 3b9395e: 495.2 s (1.97x).'],
  }));
  assert.deepEqual(problems, []);
  const cli = row(rows, '2', /ragomics run/);
  assert.deepEqual([cli.before, cli.after, cli.result], ['— (run without BASELINE)', 'this checkout: 612 ms', 'missed']);
  assert.deepEqual([row(rows, '3', /handoff/).before, row(rows, '3', /handoff/).result], ['— (run without BASELINE)', 'met']);
  const first = row(rows, '4', /npm run demo/);
  assert.deepEqual([first.before, first.after, first.result], ['3b9395e: 495.2 s', 'abc1234: 251.0 s', 'missed']);
});

void test('issue 15 targets: goal 3 says in how many rounds each target held, when the record prints its rounds', () => {
  const targets = 'targets (issue 15, goal 3): ragomics/bare handoff 1.70 ≤ 1.10: missed; fan throughput 0.410 of the pool ≥ 0.40: met (baseline checkout: 1.72 and 0.395)';
  const perRound = "per round (each round's own medians and rates): ragomics handoff ratio 1.55–1.90 (≤ 1.10 in 0 of 3), fan share 0.380–0.450 (≥ 0.40 in 2 of 3); baseline checkout handoff ratio 1.60–1.80 (≤ 1.10 in 0 of 3), fan share 0.370–0.420 (≥ 0.40 in 1 of 3)";
  let t = issue15Targets(records({ 'orchestration-overhead': [targets, perRound] }));
  assert.deepEqual(t.problems, []);
  assert.equal(row(t.rows, '3', /handoff/).result, 'missed (target held in 0 of 3 rounds, 1.55–1.90)');
  assert.equal(row(t.rows, '3', /fan/).result, 'met (target held in 2 of 3 rounds, 0.380–0.450)');
  // A per-round line of another shape is a problem, not a silently dropped spread.
  t = issue15Targets(records({ 'orchestration-overhead': [targets, 'per round (x): ragomics handoff ratio 1.5 to 1.9'] }));
  assert.equal(t.problems.length, 1);
  assert.match(t.problems[0]!, /orchestration-overhead: cannot read goal 3's rounds/);
});

void test('issue 15 targets: goal 3 with localActivities gets rows of its own when the record prints them, with its rounds', () => {
  const targets = 'targets (issue 15, goal 3): ragomics/bare handoff 1.30 ≤ 1.10: missed; fan throughput 0.350 of the pool ≥ 0.40: missed (baseline checkout: 1.32 and 0.340)';
  const local = 'targets (issue 15, goal 3, localActivities: true): ragomics/bare handoff 0.95 ≤ 1.10: met; fan throughput 0.650 of the pool ≥ 0.40: met';
  const localRounds = "per round, localActivities: true (each round's own medians and rates): ragomics handoff ratio 0.80–1.07 (≤ 1.10 in 3 of 3), fan share 0.626–0.678 (≥ 0.40 in 3 of 3)";
  let t = issue15Targets(records({ 'orchestration-overhead': [targets, local, localRounds] }));
  assert.deepEqual(t.problems, []);
  assert.equal(row(t.rows, '3', /^ragomics\/bare handoff/).result, 'missed', 'the default mode keeps its own row and verdict');
  const ratio = row(t.rows, '3', /localActivities: true`: handoff/);
  assert.deepEqual([ratio.before, ratio.after, ratio.result], ['baseline-3b9395e: 1.32', 'this checkout: 0.95', 'met (target held in 3 of 3 rounds, 0.80–1.07)']);
  assert.equal(row(t.rows, '3', /localActivities: true`: fan/).result, 'met (target held in 3 of 3 rounds, 0.626–0.678)');
  // Records from before the option: no such rows, and no problem.
  t = issue15Targets(records({ 'orchestration-overhead': [targets] }));
  assert.equal(t.rows.filter((r) => /localActivities/.test(r.target)).length, 0);
  // A local line of another shape is a problem.
  t = issue15Targets(records({ 'orchestration-overhead': [targets, 'targets (issue 15, goal 3, localActivities: true): handoff 0.95'] }));
  assert.match(t.problems.join('\n'), /cannot read goal 3's localActivities targets/);
});

void test('issue 15 targets: goal 3\'s measured floor gets two rows when the record prints it, none before', () => {
  const targets = 'targets (issue 15, goal 3): ragomics/bare handoff 1.30 ≤ 1.10: missed; fan throughput 0.350 of the pool ≥ 0.40: missed';
  const floor = "floor (issue 15, goal 3, same run, measured): bare Temporal with the pool's activity per node: chain handoff 15.0 ms, a ratio to bare of 1.25 (≤ 1.10 in 1 of 5 rounds); fan 166.4 nodes/s, 0.362 of the pool (≥ 0.40 in 2 of 5 rounds); ragomics over this floor: handoff 0.90, fan throughput 1.044";
  let t = issue15Targets(records({ 'orchestration-overhead': [targets, floor] }));
  assert.deepEqual(t.problems, []);
  const ratio = row(t.rows, '3', /^floor, measured: bare Temporal/);
  assert.deepEqual([ratio.after, ratio.result], ['floor: 1.25; ragomics/floor: 0.90', 'beyond reach of the floor (held in 1 of 5 rounds)']);
  const fan = row(t.rows, '3', /^floor, measured: the same, fan/);
  assert.deepEqual([fan.target, fan.after, fan.result], ['floor, measured: the same, fan throughput ≥ 0.40 of the pool', 'floor: 0.362; ragomics/floor: 1.044', 'beyond reach of the floor (held in 2 of 5 rounds)']);
  t = issue15Targets(records({ 'orchestration-overhead': [targets, floor.replace('0.362', '0.410')] }));
  assert.equal(row(t.rows, '3', /^floor, measured: the same, fan/).result, 'within reach of the floor (held in 2 of 5 rounds)');
  // Records from before the floor was measured: no such rows, and no problem.
  t = issue15Targets(records({ 'orchestration-overhead': [targets] }));
  assert.deepEqual([t.rows.filter((r) => /^floor/.test(r.target)).length, t.problems], [0, []]);
  // A floor line of another shape is a problem.
  t = issue15Targets(records({ 'orchestration-overhead': [targets, 'floor (issue 15, goal 3, same run, measured): fan 0.36'] }));
  assert.match(t.problems.join('\n'), /cannot read goal 3's measured floor/);
});

void test('issue 15 targets: a missing record or a target line of another shape is a problem with a row saying so', () => {
  let t = issue15Targets(records({ peers: null }));
  assert.deepEqual(t.problems, ['peers: no docs/records/bench/peers.json']);
  assert.equal(t.rows.find((r) => r.record === 'peers')?.result, '**not recorded**');
  const cases: [string, string[], RegExp][] = [
    ['orchestration-overhead', ['targets (issue 15, goal 3): ragomics/bare handoff 1.33 <= 1.10: missed'], /orchestration-overhead: cannot read goal 3's targets/],
    ['orchestration-overhead', ['targets: median overhead 16.0 ms ≤ 30 ms: met'], /orchestration-overhead: no line starting "targets \(issue 15, goal 3\):"/],
    ['container-cost', LINES['container-cost']!.filter((l) => !l.includes('docker-warm')), /container-cost: no "docker-warm: non-compute overhead" line/],
    ['container-cost', ['           docker-warm: non-compute overhead 136 ms median (docker 794 ms, 5.9× less); target ≤ 300 ms: met'], /names its block/],
    ['container-cost', ['sleep      docker/local 1.12', 'docker-warm: non-compute overhead 136 ms (docker 794 ms)'], /cannot read the docker-warm target/],
    ['warm-chain', ['| (a) chain of 10 `sleep 0.5` nodes | 13.0 s | 6.2 s | 0.48 |', '| (b) `sleep 0` node: executor run() call, start to return | 788 ms | 90 ms | 0.11 | ≤ 300 ms: met |'], /warm-chain: cannot read "chain of ten 0.5 s nodes/],
    ['warm-chain', ['| (a) chain of 10 `sleep 0.5` nodes | 13.0 s | 6.2 s | 0.48 | ≤ 1.2 × floor: missed |'], /warm-chain: no line starting "\| \(b\) `sleep 0` node/],
    ['warm-trees', ['| tree | nodes | runs | cold | warm | cold/warm |', '|---|---|---|---|---|---|', '| PBMC | 9 | 1 | n/a | 14.1 | – |'], /warm-trees: cannot read the row/],
    ['warm-trees', ['nothing'], /warm-trees: no "\| tree \| nodes/],
    ['cli-startup', ['target: `ragomics run` adds ≤ 500 ms over the SDK: 343 ms, met.'], /cli-startup: cannot read goal 2's target/],
    ['first-run', ['Goal: at most 240 s.'], /first-run: cannot read goal 4's total/],
    ['peers', LINES.peers!.filter((l) => !l.startsWith('where')), /peers: no line starting "where ragomics loses"/],
    ['peers', LINES.peers!.filter((l) => !l.includes('Luigi') && !l.includes('ragomics |')), /peers: the "Ten sequential…" table has no engine rows/],
    ['peers', LINES.peers!.filter((l) => !l.startsWith('### A fan')), /peers: no "### A fan of…" table/],
  ];
  for (const [name, lines, re] of cases) {
    t = issue15Targets(records({ [name]: lines }));
    assert.equal(t.problems.length, 1, `${name}: ${JSON.stringify(lines)} → ${JSON.stringify(t.problems)}`);
    assert.match(t.problems[0]!, re);
    assert.equal(t.rows.find((r) => r.record === name)?.result, '**unreadable target line**');
  }
});

void test('issue 15 table: says whether goals 1, 2, 3 and 5 came from one run, and lists the problems', () => {
  let t = issue15Table(records());
  assert.deepEqual(t.problems, []);
  assert.match(t.text, /Goals 1, 2, 3 and 5: every row from one run, `R1`\. Goal 4 \(`first-run`\) comes from a run of its own/);
  assert.match(t.text, /\| 3 \| ragomics\/bare handoff ratio in a chain ≤ 1\.10 \| baseline-3b9395e: 1\.42 \| this checkout: 1\.33 \| missed \| `orchestration-overhead`, run `R1` \|/);
  t = issue15Table(records({}, (name) => (name === 'peers' ? 'R2' : name === 'cli-startup' ? undefined : 'R1')), (name) => `section of ${name}`);
  assert.match(t.text, /do NOT come from one run: `R1`: `container-cost`, `warm-chain`, `warm-trees`, `orchestration-overhead`; `cli-startup` at abc1234 without a run id; `R2`: `peers`/);
  assert.match(t.text, /\| section of peers, run `R2` \|/);
  assert.match(t.text, /\| section of cli-startup, no run id \|/);
  t = issue15Table(records({ 'warm-trees': null }));
  assert.match(t.text, /\*\*Not readable at this commit\*\*: warm-trees: no docs\/records\/bench\/warm-trees\.json\./);
});

void test('issue 15 table: a first run recorded in the same run as the others (ONLY=issue15) is said to be from that one run', () => {
  const recs = records({ 'first-run': ['Goal: at most 240 s. abc1234: 201.0 s; 3b9395e: 400.0 s (1.99x).'] });
  recs.set('first-run', { ...recs.get('first-run')!, run: 'R1' });
  let t = issue15Table(recs);
  assert.match(t.text, /Goals 1 to 5: every row from one run, `R1`/);
  assert.match(t.text, /\| 4 \| .* \| 3b9395e: 400\.0 s \| abc1234: 201\.0 s \| met \| `first-run`, run `R1` \|/);
  // Same first run, but goal 3's record from another run: not one run, and goal 4 is not claimed to share it.
  recs.set('orchestration-overhead', { ...recs.get('orchestration-overhead')!, run: 'R2' });
  t = issue15Table(recs);
  assert.doesNotMatch(t.text, /Goals 1 to 5/);
  assert.match(t.text, /do NOT come from one run: .*\. Goal 4 \(`first-run`\): run `R1`\./);
});

void test('issue 15 targets: warm-chain with more variants (warm-before): cold, warm and target found by the header', () => {
  const { rows, problems } = issue15Targets(records({
    'warm-chain': [
      '| figure | cold (warmPool 0) | warm-before | warm | warm / cold | warm / warm-before | target |', '|---|---|---|---|---|---|---|',
      '| (a) chain of 10 `sleep 0.5` nodes, startTree to result() (floor 5.0 s) | 13.45 s (2.69 × floor) | 6.25 s (1.25 × floor) | 5.87 s (1.17 × floor) | 0.44 | 0.94 | ≤ 1.2 × floor: met |',
      '| (b) `sleep 0` node: executor run() call, start to return | 812 ms | 95 ms | 51 ms | 0.06 | 0.54 | ≤ 300 ms: met |',
    ],
  }));
  assert.deepEqual(problems, []);
  const chain = row(rows, '1 (local)', /^chain/);
  assert.deepEqual([chain.before, chain.after, chain.result], ['cold: 13.45 s (2.69 × floor)', 'fork server: 5.87 s (1.17 × floor)', 'met']);
  assert.deepEqual([row(rows, '1 (local)', /^`sleep 0`/).before, row(rows, '1 (local)', /^`sleep 0`/).after], ['cold: 812 ms', 'fork server: 51 ms']);
  const bad = issue15Targets(records({ 'warm-chain': ['| figure | cold (warmPool 0) | hot | target |', '| (b) `sleep 0` node: executor run() call | 1 | 2 | ≤ 300 ms: met |'] }));
  assert.match(bad.problems.join('\n'), /warm-chain: the table header .* has no "cold…", "warm" or last "target" column/);
});
