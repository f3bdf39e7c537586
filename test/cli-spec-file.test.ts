/**
 * Spec and nodes files (YAML or JSON) as the CLI reads them: both shapes of a nodes file,
 * YAML features, and error lines that name file, line, column and field path.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readNodesFile, readSpecFile } from '../client/spec-file';
import { InvalidInputError } from '../client/errors';

const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-spec-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const problems = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidInputError, String(err));
    return err.problems;
  }
  assert.fail('expected InvalidInputError');
};

void test('YAML spec with anchors; JSON spec; defaults filled in', () => {
  const y = readSpecFile(file('a.yaml', 'maxParallelJobs: 2\nnodes:\n  - id: a\n    block: &s { name: sleep, parameters: { seconds: 1 } }\n  - { id: b, parentId: a, block: *s }\n'));
  assert.equal(y.maxParallelJobs, 2);
  assert.deepEqual(y.nodes.map((n) => n.id), ['a', 'b']);
  assert.equal(y.priorityStrategy, 'depth_first');
  const j = readSpecFile(file('a.json', JSON.stringify({ nodes: [{ id: 'a', block: { name: 'sleep' } }] })));
  assert.equal(j.nodes[0]?.id, 'a');
});

void test('a shape error and block parameter errors in one file: all named in one pass, each at its line', () => {
  const spec = file('both.yaml', [
    'inputDataPath: /data/pbmc.h5ad',
    'nodes:',
    '  - id: qc',
    '    block: { name: quality_control, parameters: { min_gene: 200 } }',
    '  - id: norm',
    '    parentId: qc',
    '    colour: blue',
    '    block: { name: normalize }',
  ].join('\n'));
  assert.deepEqual(problems(() => readSpecFile(spec)), [
    `${spec}:7:5: nodes[1].colour: unknown field`,
    `${spec}:4:51: nodes[0].block.parameters.min_gene: unknown parameter of quality_control (did you mean min_genes?); it takes min_genes, max_genes, min_cells, max_pct_mito, mito_prefix`,
  ]);
});

void test('nodes file: a list, or { nodes: [...] }', () => {
  assert.deepEqual(readNodesFile(file('l.yaml', '- { id: x, parentId: a, block: { name: sleep } }\n')).map((n) => n.id), ['x']);
  assert.deepEqual(readNodesFile(file('m.json', JSON.stringify({ nodes: [{ id: 'y', block: { name: 'sleep' } }] }))).map((n) => n.id), ['y']);
  assert.match(problems(() => readNodesFile(file('e.yaml', 'nodes: []\n')))[0] ?? '', /e\.yaml:1:1: nodes: must hold at least one node/);
  // Built-in blocks' parameters, in both shapes, in the same pass as a shape error.
  assert.deepEqual(problems(() => readNodesFile(file('p.yaml', '- { id: x, parentId: a, block: { name: pca, parameters: { n_comps: 1 } } }\n- { id: y, parentId: a, color: red, block: { name: sleep } }\n'))), [
    `${path.join(dir, 'p.yaml')}:2:25: nodes[1].color: unknown field`,
    `${path.join(dir, 'p.yaml')}:1:59: nodes[0].block.parameters.n_comps: Too small: expected number to be >=2`,
  ]);
  assert.match(problems(() => readNodesFile(file('q.yaml', 'nodes:\n  - { id: x, parentId: a, block: { name: pca, parameters: { n_comp: 5 } } }\n')))[0] ?? '', /q\.yaml:2:\d+: nodes\[0\]\.block\.parameters\.n_comp: unknown parameter of pca \(did you mean n_comps\?\)/);
  assert.match(problems(() => readNodesFile(file('k.yaml', 'nodes:\n  - { id: y, block: { name: sleep } }\nextra: 1\n')))[0] ?? '', /k\.yaml:3:1: extra: unknown field/);
});

void test('errors name file:line:col and the field path, one line each', () => {
  const spec = file('bad.yaml', [
    'nodes:',
    '  - id: a',
    '    block: { name: sleep }',
    '  - id: b',
    '    parentId: a',
    '    dependencies: [a, pca]',
    '    block: { name: sleep, parameters: { seconds: "long" } }',
  ].join('\n'));
  const lines = problems(() => readSpecFile(spec));
  assert.ok(lines.some((l) => /bad\.yaml:6:23: nodes\[1\]\.dependencies\[1\]: unknown node "pca"$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /bad\.yaml:7:\d+: nodes\[1\]\.block\.parameters\.seconds: /.test(l)), lines.join('\n'));
  assert.match(problems(() => readSpecFile(path.join(dir, 'none.yaml')))[0] ?? '', /none\.yaml: no such file$/);
  assert.match(problems(() => readSpecFile(dir))[0] ?? '', /is a folder, not a file$/);
  assert.match(problems(() => readSpecFile(file('empty.yaml', '\n')))[0] ?? '', /the file is empty$/);
  assert.match(problems(() => readSpecFile(file('scalar.yaml', '42\n')))[0] ?? '', /expected a mapping of spec fields, found number$/);
});
