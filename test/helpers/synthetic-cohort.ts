/**
 * A real synthetic cohort for tests, made the way a user makes one: `scripts/make-synthetic-cohort.sh`
 * (the generator `ragomics_runner.synthetic --cohort` in a sandboxed container of the blocks
 * image), pointed at a temporary data folder so nothing under the checkout's `.data/` is needed
 * or changed. And a copy of `examples/cohort.yaml` whose `samples` names that sheet, so a test
 * runs or validates the example itself rather than a spec written for the test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { repoRoot } from '../../activities/executors/repo-root';

/** A generated cohort in a temporary folder; {@link SyntheticCohort.remove} deletes it. */
export interface SyntheticCohort {
  /** The temporary data folder (RAGOMICS_DATA_DIR of the script). */
  dir: string;
  /** Absolute path of the cohort's samplesheet.csv. */
  sheet: string;
  /** Wall time of the script, in ms (generation inside the image). */
  tookMs: number;
  remove: () => void;
}

/** Bound on the script (seconds on a healthy machine): a hung engine fails the test instead of hanging it. */
const GENERATE_TIMEOUT_MS = 180_000;

/**
 * Runs `scripts/make-synthetic-cohort.sh SAMPLES CELLS` into a fresh temporary folder.
 * @throws when the script fails (its stderr is in the error), e.g. no Docker engine or no image.
 */
export function makeSyntheticCohort(samples: number, cells: number): SyntheticCohort {
  const root = repoRoot();
  const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-cohort-'));
  const t0 = Date.now();
  try {
    const out = execFileSync('bash', [path.join(root, 'scripts', 'make-synthetic-cohort.sh'), String(samples), String(cells)], {
      cwd: root, encoding: 'utf8', timeout: GENERATE_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RAGOMICS_DATA_DIR: dir, RAGOMICS_QUIET: '1' },
    });
    const sheet = out.trim().split('\n').pop() ?? '';
    return { dir, sheet, tookMs: Date.now() - t0, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Writes a copy of `examples/cohort.yaml` into `dir` with `samples` set to `sheet` (absolute) and
 * returns its path. Everything else (comments, templates, parameters) is the example's own.
 */
export function cohortExampleCopy(dir: string, sheet: string, id?: string): string {
  const doc = parseDocument(readFileSync(path.join(repoRoot(), 'examples', 'cohort.yaml'), 'utf8'));
  if (!doc.has('samples')) throw new Error('examples/cohort.yaml has no samples field');
  doc.set('samples', sheet);
  if (id !== undefined) doc.set('id', id);
  const file = path.join(dir, 'cohort.yaml');
  writeFileSync(file, doc.toString());
  return file;
}
