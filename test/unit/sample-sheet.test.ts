/**
 * Unit tests of the client's sample-sheet reading (client/sample-sheet.ts, client/spec-file.ts):
 * CSV and TSV, quoting, BOMs, relative paths, and one line per problem naming file, row and
 * column. No server: these run before anything starts.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidInputError } from '../../client/errors';
import { readSampleSheet } from '../../client/sample-sheet';
import { readAddSamplesFile, readSpecFile } from '../../client/spec-file';
import { TemplateNodeSchema } from '../../common/schemas';

const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-sheet-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(path.join(dir, 'data'));
for (const f of ['a', 'b']) writeFileSync(path.join(dir, 'data', `${f}.h5ad`), 'x');

function write(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`);
    return err.problems;
  }
  return assert.fail('expected an InvalidInputError');
}

void describe('readSampleSheet', () => {
  void test('CSV with quotes, a BOM, CRLF and blank lines; paths resolved against the sheet folder', () => {
    const file = write('data/s.csv', '\uFEFFsample,path,condition,note\r\nA,a.h5ad,ctrl,"x, y"\r\n\r\nB,/abs/b.h5ad,stim,""\r\n');
    const { rows } = readSampleSheet(file);
    assert.deepEqual(rows, [
      { sample: 'A', path: path.join(dir, 'data', 'a.h5ad'), condition: 'ctrl', note: 'x, y' },
      { sample: 'B', path: '/abs/b.h5ad', condition: 'stim', note: '' },
    ]);
  });

  void test('TSV by extension, and by a tab-separated header', () => {
    assert.equal(readSampleSheet(write('t.tsv', 'sample\tpath\nA\ta.h5ad\n')).rows[0]?.sample, 'A');
    assert.equal(readSampleSheet(write('t.txt', 'sample\tpath\nA\ta.h5ad\n')).rows[0]?.sample, 'A');
  });

  void test('header problems: missing, duplicate and unnamed columns', () => {
    const file = write('h.csv', 'sample,sample,,x\nA,A,1,2\n');
    assert.deepEqual(problems(() => readSampleSheet(file)), [
      `${file}:1: header: column "sample" appears twice`,
      `${file}:1: header: column 3 has no name`,
      `${file}:1: header: missing column "path" (a sample sheet needs "sample" and "path" columns; found "sample", "sample", "", "x")`,
    ]);
  });

  void test('row problems name file, line, row and column', () => {
    const file = write('r.csv', 'sample,path\nA,a.h5ad\n,b.h5ad\nC,\nA,c.h5ad\nd d,d.h5ad\nE,e.txt\n');
    assert.deepEqual(problems(() => readSampleSheet(file)), [
      `${file}:3: row 2, column "sample": missing (every row needs a "sample" value)`,
      `${file}:4: row 3, column "path": missing (every row needs a "path" value)`,
      `${file}:5: row 4, column "sample": duplicate sample id "A" (also ${file}:2: row 1, column "sample")`,
      `${file}:6: row 5, column "sample": may hold only letters, digits, "-", "_" and "." and must not start with "." or "-"`,
      `${file}:7: row 6, column "path": must be an .h5ad file`,
    ]);
  });

  void test('malformed CSV, an empty sheet, a header without rows, a missing file', () => {
    const bad = write('m.csv', 'sample,path\nA,a.h5ad,extra\n');
    assert.match(problems(() => readSampleSheet(bad))[0] ?? '', /m\.csv:2: malformed sample sheet: Invalid Record Length: expect 2, got 3/);
    assert.match(problems(() => readSampleSheet(write('e.csv', '')))[0] ?? '', /e\.csv: the sample sheet is empty/);
    assert.match(problems(() => readSampleSheet(write('n.csv', 'sample,path\n')))[0] ?? '', /n\.csv: the sample sheet has a header but no samples/);
    assert.deepEqual(problems(() => readSampleSheet(path.join(dir, 'none.csv'))), [`${path.join(dir, 'none.csv')}: sample sheet: no such file`]);
  });
});

void describe('readSpecFile and readAddSamplesFile with samples', () => {
  const tmpl = 'forEachSample:\n  - { id: "qc_{sample}", block: { name: sleep, parameters: { seconds: 0 } } }\n';

  void test('a sheet path relative to the spec; inline rows relative to the spec; every file checked, one line each', () => {
    write('data/ok.csv', 'sample,path\nA,a.h5ad\nB,b.h5ad\n');
    const spec = readSpecFile(write('ok.yaml', `samples: data/ok.csv\n${tmpl}`));
    assert.deepEqual(spec.samples, [{ sample: 'A', path: path.join(dir, 'data', 'a.h5ad') }, { sample: 'B', path: path.join(dir, 'data', 'b.h5ad') }]);
    const inline = readSpecFile(write('inline.yaml', `samples:\n  - { sample: A, path: data/a.h5ad, batch: 1, paired: true }\n${tmpl}`));
    assert.deepEqual(inline.samples, [{ sample: 'A', path: path.join(dir, 'data', 'a.h5ad'), batch: '1', paired: 'true' }]);
    const missing = write('missing.yaml', `samples:\n  - { sample: A, path: data/a.h5ad }\n  - { sample: B, path: data/zz.h5ad }\n  - { sample: C, path: data/yy.h5ad }\n${tmpl}`);
    assert.deepEqual(problems(() => readSpecFile(missing)), [
      `samples[1].path: no readable .h5ad file at "${path.join(dir, 'data', 'zz.h5ad')}"`,
      `samples[2].path: no readable .h5ad file at "${path.join(dir, 'data', 'yy.h5ad')}"`,
    ]);
  });

  void test('add-samples files: a sheet, or a YAML list of rows', () => {
    assert.equal(readAddSamplesFile(write('data/more.csv', 'sample,path\nC,a.h5ad\n'))[0]?.sample, 'C');
    const rows = readAddSamplesFile(write('more.yaml', 'samples:\n  - { sample: D, path: data/b.h5ad, condition: stim }\n'));
    assert.deepEqual(rows, [{ sample: 'D', path: path.join(dir, 'data', 'b.h5ad'), condition: 'stim' }]);
    assert.match(problems(() => readAddSamplesFile(write('dup.yaml', '- { sample: D, path: data/b.h5ad }\n- { sample: D, path: data/a.h5ad }\n')))[0] ?? '', /dup\.yaml: samples\[1\]\.sample: duplicate sample id "D"/);
  });

  void test('templates take no inputs (a gather lives in nodes)', () => {
    const r = TemplateNodeSchema.safeParse({ id: 'x_{sample}', inputs: ['a'], block: { name: 'sleep' } });
    assert.equal(r.success, false);
  });
});
