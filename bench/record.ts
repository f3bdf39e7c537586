/**
 * What a benchmark prints is what BENCHMARKS.md shows: each bench script logs its result lines
 * (markdown tables and sentences) through a {@link BenchRecord}, which prints them and, at the
 * end, writes them with the commit, the date, the command and the machine's load to
 * `.data/bench/<name>.json` (RAGOMICS_BENCH_DIR). `node scripts/render-records.js bench` copies
 * those files to docs/records/bench/ and renders the sections of BENCHMARKS.md from them, so no
 * figure in the document is typed by hand.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The JSON one bench run leaves (read by scripts/render-records.js). */
export interface BenchRecordFile {
  /** The bench script's name, e.g. `schedule-quality` (its section in BENCHMARKS.md). */
  name: string;
  /** How it was run: `node dist/bench/<name>.js <args>`. */
  command: string;
  /** `git rev-parse --short HEAD`, `+dirty` with uncommitted changes to tracked files. */
  commit: string;
  startedAt: string;
  endedAt: string;
  machine: { cores: number; memGiB: number; node: string; loadAtStart: number[]; loadAtEnd: number[] };
  /** The result lines, as printed. */
  lines: string[];
}

const REPO = path.resolve(__dirname, '..', '..');

function commitOfCheckout(): string {
  try {
    const sha = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

const load = () => os.loadavg().map((l) => Number(l.toFixed(2)));

/** Collects one bench run's result lines; create it when the run starts (the start load is taken then). */
export class BenchRecord {
  private readonly lines: string[] = [];
  private readonly startedAt = new Date().toISOString();
  private readonly loadAtStart = load();

  /** `name`: the bench script's file name without extension. */
  constructor(readonly name: string) {}

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
      command: ['node', `dist/bench/${this.name}.js`, ...process.argv.slice(2)].join(' '),
      commit: commitOfCheckout(),
      startedAt: this.startedAt,
      endedAt: new Date().toISOString(),
      machine: { cores: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAtStart: this.loadAtStart, loadAtEnd: load() },
      lines: this.lines,
    };
    writeFileSync(file, `${JSON.stringify(rec, null, 2)}\n`);
    console.log(`# recorded in ${path.relative(process.cwd(), file)}`);
    return file;
  }
}
