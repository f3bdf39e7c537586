// The "Targets of issue 15" table of BENCHMARKS.md, read from the bench records' own result lines
// (bench/record.ts): each row's before, after and met/missed are parsed from what the bench
// printed, never recomputed or typed here. A record that is missing, or a line that no longer has
// the expected shape, is a problem (scripts/render-records.js then exits 1, so `npm test` fails)
// rather than a row that silently disappears.
//
// Used by scripts/render-records.js; exported for test/unit/render-records.test.ts.
'use strict';
const path = require('node:path');

/** A record's line could not be read as the target line it should be; `reason` says which. */
class TargetParseError extends Error {}

const lineStarting = (rec, prefix) => rec.lines.map((l) => l.trim()).find((l) => l.startsWith(prefix));
const need = (rec, prefix, what) => {
  const line = lineStarting(rec, prefix);
  if (line === undefined) throw new TargetParseError(`${rec.name}: no line starting "${prefix}" (${what})`);
  return line;
};
const match = (rec, line, re, what) => {
  const m = re.exec(line);
  if (!m) throw new TargetParseError(`${rec.name}: cannot read ${what} from "${line}"`);
  return m;
};
const cells = (row) => row.split('|').slice(1, -1).map((c) => c.trim());
/** The folder name after `--baseline` in the record's command, e.g. `baseline-3b9395e`, else undefined. */
const baselineName = (rec) => {
  const m = /--baseline\s+(\S+)/.exec(rec.command ?? '');
  return m ? path.basename(m[1]) : undefined;
};
const verdict = (word) => (word === 'met' ? 'met' : 'missed');

/**
 * Goal 1, Docker: container-cost's `docker-warm: non-compute overhead W ms median (docker C ms, …);
 * target ≤ T ms: met|NOT met` lines, one per block, the block named by the `BLOCK docker/local …`
 * line before it.
 */
function dockerRows(rec) {
  const rows = [];
  let block;
  for (const raw of rec.lines) {
    const line = raw.trim();
    const b = /^(\S+)\s+docker\/local\s/.exec(line);
    if (b) block = b[1];
    if (!line.startsWith('docker-warm: non-compute overhead')) continue;
    const m = match(rec, line, /^docker-warm: non-compute overhead (\d+) ms median \(docker (\d+) ms, [\d.]+× less\); target ≤ (\d+) ms: (met|NOT met)$/, 'the docker-warm target');
    if (!block) throw new TargetParseError(`${rec.name}: a docker-warm line before any "BLOCK docker/local" line names its block`);
    rows.push({ goal: '1 (Docker)', target: `\`${block}\` node: median non-compute overhead ≤ ${m[3]} ms`, before: `cold container: ${m[2]} ms`, after: `warm pool: ${m[1]} ms`, result: verdict(m[4]) });
  }
  if (rows.length === 0) throw new TargetParseError(`${rec.name}: no "docker-warm: non-compute overhead" line (run container-cost with its warm variants)`);
  return rows;
}

/**
 * Goal 1, local: warm-chain's table rows (a) chain and (b) `sleep 0` run() call. With the table's
 * header (`| figure | cold … | … | warm | … | target |`) the cold, warm and target cells are found
 * by their column (the bench may print more variants, e.g. warm-before); without one, the first
 * shape: figure | cold | warm | ratio | target: met|missed.
 */
function localRows(rec) {
  const header = rec.lines.map((l) => l.trim()).find((l) => l.startsWith('| figure |'));
  const names = header ? cells(header) : null;
  const cold = names ? names.findIndex((n) => n.startsWith('cold')) : 1;
  const warm = names ? names.indexOf('warm') : 2;
  const width = names ? names.length : 5;
  if (cold < 0 || warm < 0 || (names && names[width - 1] !== 'target')) {
    throw new TargetParseError(`${rec.name}: the table header "${header}" has no "cold…", "warm" or last "target" column`);
  }
  const row = (prefix, target) => {
    const c = cells(need(rec, prefix, target));
    const t = c.length === width ? /^(.+): (met|missed)$/.exec(c[width - 1]) : null;
    if (!t) throw new TargetParseError(`${rec.name}: cannot read "${target}" from the row "${prefix}…" (expected ${width} cells, the last "<target>: met|missed")`);
    return { goal: '1 (local)', target: `${target} ${t[1]}`, before: `cold: ${c[cold]}`, after: `fork server: ${c[warm]}`, result: verdict(t[2]) };
  };
  return [
    row('| (b) `sleep 0` node: executor run() call', '`sleep 0` node, executor run() call:'),
    row('| (a) chain of', 'chain of ten 0.5 s nodes, end to end:'),
  ];
}

/** Goal 1's effect on trees (no target): warm-trees' table rows tree | nodes | runs | cold | warm | cold/warm | …. */
function treeRows(rec) {
  const header = rec.lines.findIndex((l) => l.trim().startsWith('| tree | nodes | runs | cold | warm |'));
  if (header < 0) throw new TargetParseError(`${rec.name}: no "| tree | nodes | runs | cold | warm |" table`);
  const rows = [];
  for (const raw of rec.lines.slice(header + 2)) {
    const line = raw.trim();
    if (!line.startsWith('|')) break;
    const c = cells(line);
    if (c.length < 6 || !/^[\d.]+$/.test(c[3]) || !/^[\d.]+$/.test(c[4])) throw new TargetParseError(`${rec.name}: cannot read the row "${line}"`);
    rows.push({ goal: '1 (trees)', target: `makespan of ${c[0]}, ${c[1]} nodes, Docker (no target: the effect shown)`, before: `cold: ${c[3]} s`, after: `warm pool: ${c[4]} s`, result: 'shown' });
  }
  if (rows.length === 0) throw new TargetParseError(`${rec.name}: the tree table has no rows`);
  return rows;
}

/** Goal 2: cli-startup's `target: \`ragomics run\` adds ≤ T ms (head plus tail) over the SDK: A ms, met|missed by D ms (baseline: B ms).` */
function cliRows(rec) {
  const line = need(rec, 'target: `ragomics run` adds', 'goal 2');
  const m = match(rec, line, /^target: `ragomics run` adds ≤ (\d+) ms \(head plus tail\) over the SDK: (-?\d+) ms, (met|missed by -?\d+ ms)(?: \(baseline: (-?\d+) ms\))?\.$/, 'goal 2\'s target');
  const base = baselineName(rec);
  return [{
    goal: '2', target: `\`ragomics run\` adds ≤ ${m[1]} ms (head + tail) over the SDK`,
    before: m[4] !== undefined ? `${base ?? 'baseline'}: ${m[4]} ms` : '— (run without BASELINE)', after: `this checkout: ${m[2]} ms`, result: m[3] === 'met' ? 'met' : 'missed',
  }];
}

/** A goal-3 verdict with the rounds it held in (`r` from {@link perRound}), or the verdict alone. */
const inRounds = (verdictWord, r) => (r ? `${verdictWord} (target held in ${r.held} of ${r.of} rounds, ${r.range})` : verdictWord);

/** Goal 3: orchestration-overhead's `targets (issue 15, goal 3): ragomics/bare handoff R ≤ B: met|missed; fan throughput S of the pool ≥ F: met|missed (baseline checkout: R0 and S0)`. */
function handoffRows(rec) {
  const line = need(rec, 'targets (issue 15, goal 3):', 'goal 3');
  const m = match(rec, line, /^targets \(issue 15, goal 3\): ragomics\/bare handoff ([\d.]+) ≤ ([\d.]+): (met|missed); fan throughput ([\d.]+) of the pool ≥ ([\d.]+): (met|missed)(?: \(baseline checkout: ([\d.]+) and ([\d.]+)\))?$/, 'goal 3\'s targets');
  const base = baselineName(rec) ?? 'baseline';
  const before = (x) => (x !== undefined ? `${base}: ${x}` : '— (run without BASELINE)');
  // Records from before the bench printed its rounds have no `per round` line: the verdict stands alone.
  const rounds = perRound(rec);
  return [
    { goal: '3', target: `ragomics/bare handoff ratio in a chain ≤ ${m[2]}`, before: before(m[7]), after: `this checkout: ${m[1]}`, result: inRounds(m[3], rounds?.ratio) },
    { goal: '3', target: `wide-fan throughput ≥ ${m[5]} of the in-process pool`, before: before(m[8]), after: `this checkout: ${m[4]}`, result: inRounds(m[6], rounds?.share) },
    ...localHandoffRows(rec, before(m[7]), before(m[8])),
    ...floorRows(rec),
  ];
}

/**
 * Goal 3's floor, measured: orchestration-overhead's `floor (issue 15, goal 3, same run, measured):
 * bare Temporal with the pool's activity per node: chain handoff H ms, a ratio to bare of R (≤ T in
 * K of N rounds); fan X nodes/s, S of the pool (≥ F in K of N rounds); ragomics over this floor:
 * handoff Q, fan throughput P`. Its rows hold the same targets against the floor (what any design
 * that runs the pool's work as one activity per node reaches in that run) and say how far ragomics
 * is from it. None for records from before the bench measured it.
 */
function floorRows(rec) {
  const line = lineStarting(rec, 'floor (issue 15, goal 3, same run, measured):');
  if (line === undefined) return [];
  const m = match(rec, line, /^floor \(issue 15, goal 3, same run, measured\): bare Temporal with the pool's activity per node: chain handoff [\d.]+ ms, a ratio to bare of ([\d.]+) \(≤ ([\d.]+) in (\d+) of (\d+) rounds\); fan [\d.]+ nodes\/s, ([\d.]+) of the pool \(≥ ([\d.]+) in (\d+) of (\d+) rounds\); ragomics over this floor: handoff ([\d.]+), fan throughput ([\d.]+)$/, 'goal 3\'s measured floor');
  const verdict = (met, held, of) => `${met ? 'within' : 'beyond'} reach of the floor (held in ${held} of ${of} rounds)`;
  return [
    { goal: '3', target: `floor, measured: bare Temporal with the pool's activity per node, handoff ratio ≤ ${m[2]}`, before: '—', after: `floor: ${m[1]}; ragomics/floor: ${m[9]}`, result: verdict(Number(m[1]) <= Number(m[2]), m[3], m[4]) },
    { goal: '3', target: `floor, measured: the same, fan throughput ≥ ${m[6]} of the pool`, before: '—', after: `floor: ${m[5]}; ragomics/floor: ${m[10]}`, result: verdict(Number(m[5]) >= Number(m[6]), m[7], m[8]) },
  ];
}

/**
 * Goal 3 for trees with `localActivities: true`: orchestration-overhead's `targets (issue 15, goal 3,
 * localActivities: true): …` line (same shape, no baseline part) and its `per round, localActivities:
 * true (…): ragomics …` line. None for records from before the option existed; `before` is the default
 * mode's baseline figure, the same code path the option replaces.
 */
function localHandoffRows(rec, beforeRatio, beforeShare) {
  const line = lineStarting(rec, 'targets (issue 15, goal 3, localActivities: true):');
  if (line === undefined) return [];
  const m = match(rec, line, /^targets \(issue 15, goal 3, localActivities: true\): ragomics\/bare handoff ([\d.]+) ≤ ([\d.]+): (met|missed); fan throughput ([\d.]+) of the pool ≥ ([\d.]+): (met|missed)$/, 'goal 3\'s localActivities targets');
  const rounds = perRound(rec, 'per round, localActivities: true (');
  return [
    { goal: '3', target: `… with \`localActivities: true\`: handoff ratio ≤ ${m[2]}`, before: beforeRatio, after: `this checkout: ${m[1]}`, result: inRounds(m[3], rounds?.ratio) },
    { goal: '3', target: `… with \`localActivities: true\`: fan throughput ≥ ${m[5]} of the pool`, before: beforeShare, after: `this checkout: ${m[4]}`, result: inRounds(m[6], rounds?.share) },
  ];
}

/**
 * Goal 3 round by round: orchestration-overhead's `per round (…): ragomics handoff ratio A–B (≤ 1.10 in
 * K of N), fan share C–D (≥ 0.40 in K of N)[; baseline checkout …]`, or undefined when the record
 * has no such line (recorded before the bench printed it). A line that is there but unreadable is a
 * problem, like any target line.
 */
function perRound(rec, prefix = 'per round (') {
  const line = lineStarting(rec, prefix);
  if (line === undefined) return undefined;
  const m = match(rec, line, /^per round(?:, localActivities: true)? \([^)]*\): ragomics handoff ratio ([\d.]+–[\d.]+) \(≤ [\d.]+ in (\d+) of (\d+)\), fan share ([\d.]+–[\d.]+) \(≥ [\d.]+ in (\d+) of (\d+)\)/, 'goal 3\'s rounds');
  return { ratio: { range: m[1], held: Number(m[2]), of: Number(m[3]) }, share: { range: m[4], held: Number(m[5]), of: Number(m[6]) } };
}

/** Goal 4: first-run's `Goal: at most T s. AFTER_COMMIT: A s[; BEFORE_COMMIT: B s (Rx)].` (it prints no verdict: A and T, both printed, are compared). */
function firstRunRows(rec) {
  const line = need(rec, 'Goal: at most', 'goal 4');
  const m = match(rec, line, /^Goal: at most ([\d.]+) s\. (\S+): ([\d.]+) s(?:; (\S+): ([\d.]+) s \([\d.]+x\))?\.$/, 'goal 4\'s total');
  return [{
    goal: '4', target: `\`npm run demo\` on a new machine ≤ ${m[1]} s (steps: section 12)`,
    before: m[5] !== undefined ? `${m[4]}: ${m[5]} s` : '— (run without --baseline)', after: `${m[2]}: ${m[3]} s`, result: Number(m[3]) <= Number(m[1]) ? 'met' : 'missed',
  }];
}

/** Goal 5: peers' three workload tables (`### Ten sequential…`, `### The reference tree…`, `### A fan of…`), each with rows, and its "where ragomics loses" line. */
function peersRows(rec) {
  const tables = [['Ten sequential', 'ten sequential tasks'], ['The reference tree', 'the reference tree'], ['A fan of', 'the fan']].map(([head, name]) => {
    const at = rec.lines.findIndex((l) => /^#+\s/.test(l.trim()) && l.trim().replace(/^#+\s*/, '').startsWith(head));
    if (at < 0) throw new TargetParseError(`${rec.name}: no "### ${head}…" table`);
    const rows = [];
    for (const l of rec.lines.slice(at + 1).map((x) => x.trim())) {
      if (l === '') continue;
      if (!l.startsWith('|')) break;
      rows.push(l);
    }
    if (rows.length < 3) throw new TargetParseError(`${rec.name}: the "${head}…" table has no engine rows`);
    return `${name} (${rows.length - 2} rows)`;
  });
  need(rec, 'where ragomics loses', 'goal 5');
  return [{ goal: '5', target: 'peers side by side: the three workloads, medians and ratios, where ragomics loses', before: '—', after: `tables: ${tables.join(', ')}`, result: 'present' }];
}

/** The records the table reads, in goal order: record name → its row parser. */
const SOURCES = [
  ['container-cost', dockerRows],
  ['warm-chain', localRows],
  ['warm-trees', treeRows],
  ['cli-startup', cliRows],
  ['orchestration-overhead', handoffRows],
  ['first-run', firstRunRows],
  ['peers', peersRows],
];

/**
 * Reads issue 15's target rows from `records` (name → record). Returns `{ rows, problems }`: a
 * missing record or an unreadable line adds one problem (and a row saying so) instead of throwing.
 */
function issue15Targets(records) {
  const rows = [];
  const problems = [];
  for (const [name, parse] of SOURCES) {
    const rec = records.get(name);
    if (!rec) {
      problems.push(`${name}: no docs/records/bench/${name}.json`);
      rows.push({ goal: '?', target: `(${name})`, before: '—', after: '—', result: '**not recorded**', record: name });
      continue;
    }
    try {
      for (const r of parse(rec)) rows.push({ ...r, record: name, run: rec.run });
    } catch (e) {
      if (!(e instanceof TargetParseError)) throw e;
      problems.push(e.message);
      rows.push({ goal: '?', target: `(${name})`, before: '—', after: '—', result: '**unreadable target line**', record: name, run: rec.run });
    }
  }
  return { rows, problems };
}

/**
 * The table's markdown (and a sentence on which runs the rows came from) and the problems of
 * {@link issue15Targets}. `label(name)` names a record's section (default: the record's name).
 */
function issue15Table(records, label = (name) => `\`${name}\``) {
  const { rows, problems } = issue15Targets(records);
  const cell = (s) => String(s).replace(/\|/g, '/');
  const out = [
    'Rendered by `node scripts/render-records.js` from the records\' own target lines (`scripts/issue15-targets.js`: parsed, never recomputed).',
    'Before: goal 1 the cold variant of the same run, goals 2 and 3 the baseline checkout of the same run (`BASELINE`), goal 4 a `--baseline` clone if the first-run record has one.',
    '',
    '| goal | target | before | after | result | record, run |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.goal} | ${cell(r.target)} | ${cell(r.before)} | ${cell(r.after)} | ${r.result} | ${label(r.record)}, ${r.run ? `run \`${r.run}\`` : 'no run id'} |`),
  ];
  // Which runs the rows of goals 1, 2, 3 and 5 came from (goal 4 may have a run of its own: `ONLY=first-run`).
  const included = SOURCES.map(([name]) => records.get(name)).filter((r) => r && r.name !== 'first-run');
  const runs = new Map();
  for (const r of included) {
    const key = r.run ? `\`${r.run}\`` : `\`${r.name}\` at ${r.commit} without a run id`;
    runs.set(key, [...(runs.get(key) ?? []), `\`${r.name}\``]);
  }
  const oneRun = included.length === SOURCES.length - 1 && included.every((r) => r.run && r.run === included[0].run);
  // `ONLY=issue15` names first-run too: then goal 4 comes from the same run as the others.
  const firstRun = records.get('first-run');
  out.push('');
  out.push(oneRun && firstRun?.run && firstRun.run === included[0].run
    ? `Goals 1 to 5: every row from one run, \`${included[0].run}\` (goal 4's \`first-run\` on private empty Docker engines within it).`
    : oneRun
    ? `Goals 1, 2, 3 and 5: every row from one run, \`${included[0].run}\`. Goal 4 (\`first-run\`) comes from a run of its own (a private empty Docker engine, minutes).`
    : `Goals 1, 2, 3 and 5 do NOT come from one run: ${[...runs].map(([k, v]) => (k.endsWith('without a run id') ? k : `${k}: ${v.join(', ')}`)).join('; ')}. Goal 4 (\`first-run\`): ${firstRun?.run ? `run \`${firstRun.run}\`` : 'no run id'}.`);
  if (problems.length) out.push('', `**Not readable at this commit**: ${problems.map(cell).join('; ')}.`);
  return { text: out.join('\n'), problems };
}

module.exports = { issue15Targets, issue15Table, TargetParseError, SOURCES };
