/**
 * What a benchmark prints is what BENCHMARKS.md shows: each bench script logs its result lines
 * (markdown tables and sentences) through a {@link BenchRecord}, which prints them and, at the
 * end, writes them with the commit, the date, the command and the machine's load to
 * `.data/bench/<name>.json` (RAGOMICS_BENCH_DIR). `node scripts/render-records.js bench` copies
 * those files to docs/records/bench/ and renders the sections of BENCHMARKS.md from them, so no
 * figure in the document is typed by hand.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkoutCommit, repoRoot } from '../activities/executors/repo-root';

/** The JSON one bench run leaves (read by scripts/render-records.js). */
export interface BenchRecordFile {
  /** The bench script's name, e.g. `schedule-quality` (its section in BENCHMARKS.md). */
  name: string;
  /** How it was run: `node dist/bench/<name>.js <args>`. */
  command: string;
  /**
   * `git rev-parse --short HEAD` when the run started, `+dirty` with uncommitted changes to
   * tracked files; followed by `, checkout moved to <commit> during the run` when HEAD changed
   * before the record was written (the code that ran is the start's, built before the run).
   */
  commit: string;
  /**
   * The `npm run bench` run this record came from: scripts/bench.sh exports one
   * `RAGOMICS_BENCH_RUN=<UTC start>-<short commit>` to every bench it starts, so records of one
   * run share it (BENCHMARKS.md says which sections came from which run). Absent when the bench
   * was started by hand, outside scripts/bench.sh.
   */
  run?: string;
  /** What that run was asked for: scripts/bench.sh's `ONLY` (or `all`) and its BASELINE, if any (RAGOMICS_BENCH_SET). */
  runSet?: string;
  startedAt: string;
  endedAt: string;
  machine: { cores: number; memGiB: number; node: string; loadAtStart: number[]; loadAtEnd: number[] };
  /** The result lines, as printed. */
  lines: string[];
  /**
   * Checks of the run that failed ({@link BenchRecord.fail}); absent when none did. A record with
   * problems is kept for inspection, but `render-records.js bench` refuses to copy it into
   * docs/records/, so BENCHMARKS.md never shows a run whose own checks failed.
   */
  problems?: string[];
}

const REPO = repoRoot();

/** The run id scripts/bench.sh exported (RAGOMICS_BENCH_RUN), or undefined when empty or unset. */
const benchRun = (): string | undefined => process.env.RAGOMICS_BENCH_RUN?.trim() || undefined;

const load = () => os.loadavg().map((l) => Number(l.toFixed(2)));

/** Collects one bench run's result lines; create it when the run starts (the start load is taken then). */
export class BenchRecord {
  private readonly lines: string[] = [];
  private readonly startedAt = new Date().toISOString();
  private readonly loadAtStart = load();
  private readonly commitAtStart = checkoutCommit();

  /**
   * `name`: the bench script's file name without extension. `command`: how the run was started,
   * when another script ran this one (default `node dist/bench/<name>.js <this process's args>`).
   */
  constructor(readonly name: string, private readonly command?: string) {}

  private readonly problems: string[] = [];

  /**
   * Notes a failed check of the run (printed at once, saved with the record, exit code 1). Call
   * it where the check fails, before {@link save}; the lines logged so far are kept as they are.
   */
  fail(problem: string): void {
    console.error(`${this.name}: check failed: ${problem}`);
    this.problems.push(problem);
    process.exitCode = 1;
  }

  /** Prints a result line (may hold several lines) and keeps it for the record. */
  log(text: string): void {
    console.log(text);
    this.lines.push(...text.split('\n'));
  }

  /** Writes `<RAGOMICS_BENCH_DIR or .data/bench>/<name>.json`; returns its path. */
  save(): string {
    const dir = process.env.RAGOMICS_BENCH_DIR ?? path.join(REPO, '.data', 'bench');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${this.name}.json`);
    const rec: BenchRecordFile = {
      name: this.name,
      command: this.command ?? ['node', `dist/bench/${this.name}.js`, ...process.argv.slice(2)].join(' '),
      commit: this.commitAtEnd(),
      ...(benchRun() ? { run: benchRun(), runSet: process.env.RAGOMICS_BENCH_SET?.trim() || undefined } : {}),
      startedAt: this.startedAt,
      endedAt: new Date().toISOString(),
      machine: { cores: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAtStart: this.loadAtStart, loadAtEnd: load() },
      lines: this.lines,
      ...(this.problems.length > 0 ? { problems: [...this.problems] } : {}),
    };
    writeFileSync(file, `${JSON.stringify(rec, null, 2)}\n`);
    console.log(`# recorded in ${path.relative(process.cwd(), file)}${this.problems.length > 0 ? ` with ${this.problems.length} failed check(s): not for BENCHMARKS.md` : ''}`);
    return file;
  }

  private commitAtEnd(): string {
    const end = checkoutCommit();
    return end === this.commitAtStart ? end : `${this.commitAtStart}, checkout moved to ${end} during the run`;
  }
}
