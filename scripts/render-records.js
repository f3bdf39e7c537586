#!/usr/bin/env node
// Renders the figures of RELIABILITY.md and BENCHMARKS.md from the JSON the runs wrote, so no
// figure in those sections is typed by hand. The committed records live in docs/records/:
//   reliability/case-<id>.json   one row per reliability case (test/helpers/ledger.ts runCase),
//                                written pass or fail, with the commit and date of its run;
//   bench/<name>.json            one bench script's result lines (bench/record.ts), with the
//                                command, commit, dates and machine load.
// Each document holds marked sections (<!-- reliability-figures:start/end -->,
// <!-- bench:<name>:start/end -->) that this script rewrites; the text around them is prose.
// BENCHMARKS.md also holds <!-- bench-runs --> (which sections came from which `npm run bench` run:
// the records' run ids, scripts/bench.sh) and <!-- issue15-targets --> (issue 15's targets, before
// and after, parsed from the records' target lines by scripts/issue15-targets.js); a missing record
// or an unreadable target line there makes `render` and `--check` exit 1.
//
// Usage:
//   node scripts/render-records.js reliability [--from DIR]  copy a run's rows (default
//        .data/reliability) into docs/records/reliability/ (same id: replaced), then render
//   node scripts/render-records.js bench [--from DIR]        copy a run's bench records (default
//        .data/bench) into docs/records/bench/, then render
//   node scripts/render-records.js render                     render both documents from docs/records/
//   node scripts/render-records.js --check                    exit 1 if a rendered section differs
//        from what docs/records/ gives (a hand edit of a figure, or records not rendered)
// Exit: 0 done / up to date, 1 out of date (--check) or issue 15's targets not readable from the
// records (render writes the documents, then exits 1), 2 bad usage or a document without its markers.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { issue15Table } = require('./issue15-targets');

const ROOT = path.join(__dirname, '..');
const RECORDS = path.join(ROOT, 'docs', 'records');
const EXPECTED_FILE = path.join(ROOT, 'test', 'fixtures', 'reliability', 'expected-cases.json');
const RELIABILITY_DOC = path.join(ROOT, 'RELIABILITY.md');
const BENCH_DOC = path.join(ROOT, 'BENCHMARKS.md');

class UsageError extends Error {}

const readJsonDir = (dir, re) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => re.test(f)).sort() : [])
  .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
const utc = (iso) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : '—');
const cell = (s) => String(s).replace(/\|/g, '/').replace(/\n/g, ' ');

// ---- reliability -------------------------------------------------------------------------

function reliabilitySection() {
  const byFile = JSON.parse(fs.readFileSync(EXPECTED_FILE, 'utf8'));
  const rows = new Map(readJsonDir(path.join(RECORDS, 'reliability'), /^case-.+\.json$/).map((r) => [String(r.id), r]));
  const expected = Object.values(byFile).flat();
  const out = [
    'Rendered by `node scripts/render-records.js` from `docs/records/reliability/`: one row per case,',
    'written by the case itself, pass or fail, with the commit and date of the run that wrote it.',
    '',
    '| case | result | commit | recorded (UTC) | time | faults injected | nodes re-executed | outputs lost | outputs re-hashed | what was measured |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const present = [];
  for (const id of expected) {
    const c = rows.get(id);
    if (!c) {
      out.push(`| ${id} | not yet recorded at this commit | — | — | — | — | — | — | — | — |`);
      continue;
    }
    present.push(c);
    const result = c.ok ? 'pass' : `**FAIL**: ${cell(c.error ?? '(no error recorded)')}`;
    out.push(`| ${id} | ${result} | ${c.commit ?? 'unknown'} | ${utc(c.finishedAt)} | ${(c.durationMs / 1000).toFixed(1)} s | ${c.faultsInjected} | ${c.nodesReExecuted} | ${c.outputsLost ?? 'not checked'} | ${c.outputsVerified} | ${cell(c.line)} |`);
  }
  for (const id of rows.keys()) if (!expected.includes(id)) throw new UsageError(`docs/records/reliability/case-${id}.json: case ${id} is not in ${path.relative(ROOT, EXPECTED_FILE)}`);
  const sum = (k) => present.reduce((s, c) => s + (Number(c[k]) || 0), 0);
  out.push(`| **recorded: ${present.length} of ${expected.length}** | ${present.filter((c) => c.ok).length} pass | | | ${sum('durationMs') === 0 ? '—' : `${(sum('durationMs') / 1000).toFixed(0)} s`} | **${sum('faultsInjected')}** | **${sum('nodesReExecuted')}** | **${sum('outputsLost')}**${unchecked(present)} | ${sum('outputsVerified')} | |`);
  return out.join('\n');
}

/** ` (not checked in 3b)`: the rows whose outputs were never checked (`outputsLost` null), so a total of 0 does not read as all checked. */
function unchecked(rows) {
  const ids = rows.filter((c) => c.outputsLost === null || c.outputsLost === undefined).map((c) => c.id);
  return ids.length === 0 ? '' : ` (not checked in ${ids.join(', ')})`;
}

// ---- benchmarks --------------------------------------------------------------------------

/** A bench record's printed lines as markdown: tables kept together, every other line a paragraph. */
function benchLines(lines) {
  const out = [];
  let inTable = false;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    const isTable = line.startsWith('|');
    if (!(isTable && inTable) && out.length) out.push('');
    out.push(line.startsWith('#') ? `**${line.replace(/^#+\s*/, '')}**` : line);
    inTable = isTable;
  }
  return out;
}

/** Every committed bench record, by name. */
const benchRecords = () => new Map(readJsonDir(path.join(RECORDS, 'bench'), /^[a-z0-9-]+\.json$/).map((r) => [r.name, r]));

/** `1 (`orchestration-overhead`)`: a record's section number in BENCHMARKS.md (its `##` heading before the marker), with its name. */
function sectionLabel(doc, name) {
  const at = doc.indexOf(`<!-- bench:${name}:start -->`);
  const heads = at < 0 ? [] : [...doc.slice(0, at).matchAll(/^#{2,3} (.*)$/gm)];
  const h = heads.length ? /^(\d+[a-z]?)\. /.exec(heads[heads.length - 1][1])?.[1] : null;
  return h ? `${h} (\`${name}\`)` : `\`${name}\``;
}

/** The sentence saying which run a section's record came from and which other sections share it. */
function runSentence(records, doc, r) {
  if (!r.run) return 'No run id (recorded before run ids, or not by `npm run bench`): a run of its own.';
  const others = [...records.values()].filter((o) => o.run === r.run && o.name !== r.name).map((o) => o.name)
    .sort((x, y) => doc.indexOf(`<!-- bench:${x}:start -->`) - doc.indexOf(`<!-- bench:${y}:start -->`)).map((n) => sectionLabel(doc, n));
  const set = r.runSet ? ` (\`ONLY=${r.runSet}\`)` : '';
  return others.length
    ? `Run \`${r.run}\`${set}, the same run as ${others.join(', ')}.`
    : `Run \`${r.run}\`${set}: no other section comes from this run.`;
}

function benchSection(records, doc, name) {
  const r = records.get(name);
  if (!r) return `_Not yet recorded by \`npm run bench\` at this commit (no \`docs/records/bench/${name}.json\`)._`;
  // A run whose own checks failed shows no figures (and fails render and --check: renderBench).
  if (failedChecks(r)) return `_Not rendered: in \`docs/records/bench/${name}.json\`, ${failedChecks(r)}._`;
  const m = r.machine;
  return [
    `Recorded by \`${r.command}\` at commit ${r.commit}, ${utc(r.startedAt)}–${utc(r.endedAt).slice(11)} UTC; ${m.cores} cores, ${m.memGiB} GiB, Node ${m.node}; load average ${m.loadAtStart[0]} at the start, ${m.loadAtEnd[0]} at the end. ${runSentence(records, doc, r)} Rendered by \`node scripts/render-records.js\` from \`docs/records/bench/${name}.json\`:`,
    '',
    ...benchLines(r.lines),
  ].join('\n');
}

/** The head of BENCHMARKS.md: one row per run (records sharing a run id; a record without one is its own run). */
function benchRunsSection(records, doc) {
  const runs = new Map();
  for (const r of [...records.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt))) {
    const key = r.run ?? `(none) ${r.name}`;
    runs.set(key, [...(runs.get(key) ?? []), r]);
  }
  const rows = [...runs.values()].map((rs) => {
    const first = rs[0];
    const commits = [...new Set(rs.map((r) => r.commit))].join('; ');
    const start = rs.map((r) => r.startedAt).sort()[0];
    const end = rs.map((r) => r.endedAt).sort().slice(-1)[0];
    const inDocOrder = rs.map((r) => r.name).sort((x, y) => doc.indexOf(`<!-- bench:${x}:start -->`) - doc.indexOf(`<!-- bench:${y}:start -->`));
    return `| ${first.run ? `\`${first.run}\`` : '— (no run id)'} | ${first.runSet ? `\`${cell(first.runSet)}\`` : '—'} | ${cell(commits)} | ${utc(start)}–${utc(end).slice(11)} | ${inDocOrder.map((n) => sectionLabel(doc, n)).join(', ')} |`;
  });
  const ided = [...runs.values()].filter((rs) => rs[0].run);
  return [
    `Rendered by \`node scripts/render-records.js\` from the records' run ids: the sections of this document come from ${runs.size} run${runs.size === 1 ? '' : 's'} (${ided.length} of \`npm run bench\` with a run id; a record without one is counted as a run of its own).`,
    '',
    '| run | asked for (ONLY, BASELINE) | commit | when (UTC) | sections |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

// ---- documents ---------------------------------------------------------------------------

/** Replaces the body of every `<!-- KEY:start -->`…`<!-- KEY:end -->` section by `render(KEY, text)`. */
function renderDoc(file, keyPattern, render) {
  const text = fs.readFileSync(file, 'utf8');
  const re = new RegExp(`(<!-- (${keyPattern}):start -->)\\n(?:[\\s\\S]*?\\n)?(<!-- \\2:end -->)`, 'g');
  let found = 0;
  const next = text.replace(re, (_all, start, key, end) => {
    found++;
    return `${start}\n${render(key, text)}\n${end}`;
  });
  if (found === 0) throw new UsageError(`${path.relative(ROOT, file)} has no <!-- ${keyPattern}:start --> … :end --> section`);
  return { text, next };
}

/** Problems found while rendering (issue 15's targets not readable from the records); reset per renderAll. */
let problems = [];

/** `the run's own checks failed: …` for a bench record saved with problems (bench/record.ts `fail`), else null. */
function failedChecks(r) {
  return Array.isArray(r.problems) && r.problems.length > 0 ? `the run's own checks failed: ${r.problems.join('; ')}` : null;
}

function renderBench(key, doc) {
  const records = benchRecords();
  for (const r of records.values()) {
    const failed = failedChecks(r) && `docs/records/bench/${r.name}.json: ${failedChecks(r)}`;
    if (failed && !problems.includes(failed)) problems.push(failed);
  }
  if (key === 'bench-runs') return benchRunsSection(records, doc);
  if (key === 'issue15-targets') {
    const t = issue15Table(records, (name) => `section ${sectionLabel(doc, name)}`);
    problems.push(...t.problems.map((p) => `issue 15 targets: ${p}`));
    return t.text;
  }
  return benchSection(records, doc, key.slice('bench:'.length));
}

const DOCS = [
  { file: RELIABILITY_DOC, key: 'reliability-figures', render: () => reliabilitySection() },
  { file: BENCH_DOC, key: 'bench:[a-z0-9-]+|bench-runs|issue15-targets', render: renderBench },
];

/** Renders every document (all before writing any, so a bad record changes nothing); returns the ones that differ and the problems found. */
function renderAll(write) {
  problems = [];
  const stale = DOCS.map((d) => ({ file: d.file, ...renderDoc(d.file, d.key, d.render) })).filter((r) => r.text !== r.next);
  if (write) for (const r of stale) fs.writeFileSync(r.file, r.next);
  return { stale: stale.map((r) => path.relative(ROOT, r.file)), problems };
}

/** Copies a run's records into docs/records/ after `validate` accepted every one (else nothing is copied). */
function copyRecords(from, to, re, validate) {
  if (!fs.existsSync(from)) throw new UsageError(`${from} does not exist (run the suite or the bench first)`);
  const names = fs.readdirSync(from).filter((f) => re.test(f));
  if (names.length === 0) throw new UsageError(`${from} holds no records`);
  for (const n of names) validate(n, JSON.parse(fs.readFileSync(path.join(from, n), 'utf8')));
  fs.mkdirSync(to, { recursive: true });
  for (const n of names) fs.copyFileSync(path.join(from, n), path.join(to, n));
  console.log(`render-records: ${names.length} record(s) from ${from} into ${path.relative(ROOT, to)}/: ${names.join(', ')}`);
}

function main(argv) {
  const [cmd, ...rest] = argv;
  const from = rest[0] === '--from' && rest[1] ? rest[1] : null;
  if (rest.length > 0 && !from) throw new UsageError(`unexpected ${JSON.stringify(rest.join(' '))}`);
  if (cmd === '--check') {
    const { stale, problems: found } = renderAll(false);
    for (const p of found) console.error(`render-records: ${p}`);
    if (stale.length === 0 && found.length === 0) {
      console.log('render-records: RELIABILITY.md and BENCHMARKS.md match docs/records/');
      return 0;
    }
    if (stale.length) console.error(`render-records: ${stale.join(', ')} differ from what docs/records/ renders (a figure edited by hand, or records not rendered): run \`node scripts/render-records.js render\` and commit, or restore the records`);
    return 1;
  }
  if (cmd === 'reliability') {
    const listed = Object.values(JSON.parse(fs.readFileSync(EXPECTED_FILE, 'utf8'))).flat();
    copyRecords(from ?? process.env.RAGOMICS_RELIABILITY_DIR ?? path.join(ROOT, '.data', 'reliability'), path.join(RECORDS, 'reliability'), /^case-.+\.json$/, (n, r) => {
      if (!listed.includes(String(r.id))) throw new UsageError(`${n}: case ${r.id} is not in ${path.relative(ROOT, EXPECTED_FILE)}`);
    });
  } else if (cmd === 'bench') {
    copyRecords(from ?? process.env.RAGOMICS_BENCH_DIR ?? path.join(ROOT, '.data', 'bench'), path.join(RECORDS, 'bench'), /^[a-z0-9-]+\.json$/, (n, r) => {
      if (`${r.name}.json` !== n || !Array.isArray(r.lines)) throw new UsageError(`${n}: not a bench record (bench/record.ts)`);
      if (failedChecks(r)) throw new UsageError(`${n}: ${failedChecks(r)}; nothing was copied (run it again, or copy the other records with --from a folder without it)`);
    });
  }
  else if (cmd !== 'render') throw new UsageError(`unknown command ${JSON.stringify(cmd ?? '')} (reliability [--from DIR] | bench [--from DIR] | render | --check)`);
  const { stale: changed, problems: found } = renderAll(true);
  console.log(`render-records: ${changed.length ? `rewrote ${changed.join(', ')}` : 'documents already up to date'}`);
  for (const p of found) console.error(`render-records: ${p}`);
  return found.length ? 1 : 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`render-records: ${e.message}`);
  process.exitCode = 2;
}
