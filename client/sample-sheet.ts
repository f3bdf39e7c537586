/**
 * Sample sheets on the user's machine (issue 12): reads a CSV/TSV sheet (nf-core convention: a
 * `sample` column, a `path` column, any further columns), resolves each `.h5ad` path to an
 * absolute one, and checks every file exists and is readable before anything starts. Every
 * problem is one line naming the file, the row and the column, e.g.
 * `cohort.csv:4: row 3, column "path": no readable .h5ad file at "/data/s3.h5ad"`.
 *
 * Parsing is csv-parse's (quoted fields, embedded delimiters and newlines, BOMs, CRLF): a sheet
 * written by a spreadsheet program is not something to parse by splitting on commas.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { CsvError, parse } from 'csv-parse/sync';
import { inlineRowLocator, samplesFromRows, type RowLocator, type Sample } from '../common/cohort';
import type { SampleRow } from '../common/schemas';
import { InvalidInputError } from './errors';
import { readInputFile } from './read-input-file';

/** Rows read from a sheet (paths absolute), and how to name a row and column of it in messages. */
export interface LoadedSamples {
  rows: SampleRow[];
  where: RowLocator;
}

/** Columns every sheet needs. */
const REQUIRED_COLUMNS = ['sample', 'path'] as const;

/**
 * Reads a CSV or TSV sample sheet (tab-separated when the name ends in `.tsv`/`.tab`, or when the
 * header holds a tab and no comma). Relative `path` values are resolved against the sheet's own
 * folder, so a sheet and its data can move together. Rows are checked ({@link samplesFromRows}:
 * missing values, bad ids, duplicates, non-`.h5ad` paths) but the files are not: see
 * {@link checkSampleFiles}.
 * @throws InvalidInputError with one line per problem; nothing is started.
 */
export function readSampleSheet(file: string): LoadedSamples {
  const text = readInputFile(file, 'sample sheet');
  const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
  const tabs = /\.(tsv|tab)$/i.test(file) || (firstLine.includes('\t') && !firstLine.includes(','));
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { delimiter: tabs ? '\t' : ',', bom: true, info: true, skip_empty_lines: true, trim: true }) as unknown as typeof records;
  } catch (err) {
    if (err instanceof CsvError) {
      const line = typeof err.lines === 'number' ? `:${err.lines}` : '';
      throw new InvalidInputError(`${file}${line}: malformed sample sheet: ${err.message.replace(/ on line \d+$/, '')}`);
    }
    throw err;
  }
  const [header, ...data] = records;
  if (!header) throw new InvalidInputError(`${file}: the sample sheet is empty (it needs a header with "sample" and "path" columns)`);
  const problems: string[] = [];
  const names = header.record;
  names.forEach((name, i) => {
    if (name === '') problems.push(`${file}:${header.info.lines}: header: column ${i + 1} has no name`);
    else if (names.indexOf(name) !== i) problems.push(`${file}:${header.info.lines}: header: column "${name}" appears twice`);
  });
  for (const c of REQUIRED_COLUMNS) {
    if (!names.includes(c)) problems.push(`${file}:${header.info.lines}: header: missing column "${c}" (a sample sheet needs "sample" and "path" columns; found ${names.map((n) => `"${n}"`).join(', ')})`);
  }
  if (problems.length > 0) throw new InvalidInputError(problems);
  if (data.length === 0) throw new InvalidInputError(`${file}: the sample sheet has a header but no samples`);

  const where: RowLocator = (row, column) => `${file}:${data[row]?.info.lines ?? '?'}: row ${row + 1}, column "${column}"`;
  const raw = data.map(({ record }) => Object.fromEntries(names.map((n, i) => [n, record[i] ?? ''])));
  const checked = samplesFromRows(raw, where);
  if (!checked.ok) throw new InvalidInputError(checked.errors);
  const folder = path.dirname(path.resolve(file));
  return { rows: raw.map((r) => ({ ...r, path: path.resolve(folder, r.path as string) }) as SampleRow), where };
}

/**
 * Turns a spec's `samples:` into inline rows with absolute paths: a sheet path (relative to the
 * spec file) is read with {@link readSampleSheet}; inline rows get their relative paths resolved
 * against the spec file's folder. Returns the rows and a locator for later messages, or null when
 * the spec has no `samples:`. Malformed inline rows are left for the schema to report.
 * @throws InvalidInputError for sheet problems.
 */
export function loadSpecSamples(samples: unknown, specFile: string): LoadedSamples | null {
  const folder = path.dirname(path.resolve(specFile));
  if (typeof samples === 'string' && samples !== '') {
    const sheet = path.resolve(folder, samples);
    // Name the spec and the field too: the sheet's path alone does not say where it came from.
    if (!existsSync(sheet)) throw new InvalidInputError(`samples: no sample sheet at "${sheet}" (from "${samples}" in ${specFile}, relative to the spec file)`);
    return readSampleSheet(sheet);
  }
  if (!Array.isArray(samples)) return null;
  const rows = samples.map((r: unknown) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return r;
    // YAML reads `batch: 1` as a number: sheet columns are strings, as they are from a CSV.
    const row = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' || typeof v === 'boolean' ? String(v) : v]));
    if (typeof row.path === 'string' && row.path !== '') row.path = path.resolve(folder, row.path);
    return row;
  }) as SampleRow[];
  return { rows, where: inlineRowLocator('samples') };
}

/**
 * Checks that every sample's `.h5ad` exists, is a file and is readable.
 * @throws InvalidInputError with one line per missing or unreadable file, naming row and column.
 */
export function checkSampleFiles(samples: ReadonlyArray<Pick<Sample, 'path'>>, where: RowLocator): void {
  const problems: string[] = [];
  samples.forEach((s, i) => {
    try {
      if (!statSync(s.path).isFile()) throw new Error('not a file');
      accessSync(s.path, constants.R_OK);
    } catch {
      problems.push(`${where(i, 'path')}: no readable .h5ad file at "${s.path}"`);
    }
  });
  if (problems.length > 0) throw new InvalidInputError(problems);
}

/**
 * Reads the samples file of `ragomics add-samples`: a CSV/TSV sheet, or a YAML/JSON file holding a
 * list of rows or `{ samples: [...] }` (paths relative to that file). Rows and files are checked.
 * @throws InvalidInputError
 */
export function readSamplesFile(file: string, loadStructured: (file: string) => unknown): SampleRow[] {
  let loaded: LoadedSamples;
  if (/\.(csv|tsv|tab|txt)$/i.test(file)) {
    loaded = readSampleSheet(file);
  } else {
    const data = loadStructured(file);
    const list = Array.isArray(data) ? data : (data as { samples?: unknown }).samples;
    if (!Array.isArray(list) || list.length === 0) throw new InvalidInputError(`${file}: expected a list of samples ({sample, path, ...columns}) or { samples: [...] }`);
    loaded = loadSpecSamples(list, file) as LoadedSamples;
    const checked = samplesFromRows(loaded.rows, loaded.where);
    if (!checked.ok) throw new InvalidInputError(checked.errors.map((e) => `${file}: ${e}`));
  }
  checkSampleFiles(loaded.rows, loaded.where);
  return loaded.rows;
}
