/**
 * Every bad-input case of the command line exits with the contract's code and a one-line
 * message per problem naming the bad field or id, with no stack trace: 2 for invalid input
 * (nothing started or changed), 3 when the Temporal server cannot be reached.
 * File problems are caught before any connection: those cases point at an unreachable server
 * and still exit 2.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { uid, withWorker } from './helpers/harness';
import { ROOT, ragomics, type CliResult } from './helpers/cli';

const UNREACHABLE = '127.0.0.1:1';


/** The exit code, the number of stderr lines, each matching `patterns` in order; no stack trace; nothing on stdout. */
function assertFails(r: CliResult, code: number, patterns: RegExp[]): void {
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  assert.equal(lines.length, patterns.length, `one line per problem:\n${r.stderr}`);
  patterns.forEach((p, i) => assert.match(lines[i] ?? '', p));
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.equal(r.stdout, '');
}

const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-bad-'));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
after(() => rmSync(dir, { recursive: true, force: true }));

void describe('bad spec files: exit 2 before connecting', { concurrency: true }, () => {
  const offline = { TEMPORAL_ADDRESS: UNREACHABLE };
  void test('missing file', async () => {
    assertFails(await ragomics(['run', path.join(dir, 'nope.yaml')], offline), 2, [/nope\.yaml: no such file$/]);
  });
  void test('malformed YAML names line and column', async () => {
    const f = file('broken.yaml', 'nodes:\n  - id: a\n    block: {name: sleep\n');
    assertFails(await ragomics(['run', f], offline), 2, [/broken\.yaml:\d+:\d+: malformed YAML: /]);
  });
  void test('malformed JSON names line and column', async () => {
    const f = file('broken.json', '{\n  "nodes": [\n    {"id": "a",, }\n  ]\n}\n');
    assertFails(await ragomics(['run', f], offline), 2, [/broken\.json:3:16: malformed JSON: expected a property name in double quotes, found ","$/]);
  });
  void test('data or a sample sheet given as the spec: one line saying where it goes; a binary file is named as such', async () => {
    assertFails(await ragomics(['run', file('counts.h5ad', 'HDF')], offline), 2, [/counts\.h5ad: not a spec \(YAML or JSON\): an \.h5ad file is data: name it in a spec's `inputDataPath`/]);
    assertFails(await ragomics(['run', file('samples.csv', 'sample,path\na,/a.h5ad\n')], offline), 2, [/samples\.csv: not a spec .*sample sheet: name it in a spec's `samples:`/]);
    writeFileSync(path.join(dir, 'binary.yaml'), Buffer.from([0x89, 0x48, 0x44, 0x46, 0x00, 0x01, 0xff, 0x0a]));
    assertFails(await ragomics(['run', path.join(dir, 'binary.yaml')], offline), 2, [/binary\.yaml: not a spec \(YAML or JSON\): it is a binary file$/]);
    // A UTF-16 spec (as a PowerShell redirect writes one): named, with the fix.
    writeFileSync(path.join(dir, 'utf16.yaml'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('nodes: []\n', 'utf16le')]));
    assertFails(await ragomics(['run', path.join(dir, 'utf16.yaml')], offline), 2, [/utf16\.yaml: not a spec \(YAML or JSON\): it is UTF-16 text; save it as UTF-8$/]);
  });
  void test('a spec\'s missing sample sheet is named with the spec and the path as written', async () => {
    const f = file('cohort-nosheet.yaml', 'samples: sheets/missing.csv\nforEachSample:\n  - { id: "qc_{sample}", block: { name: sleep } }\n');
    assertFails(await ragomics(['run', f], offline), 2, [/^error: samples: no sample sheet at ".*sheets\/missing\.csv" \(from "sheets\/missing\.csv" in .*cohort-nosheet\.yaml, relative to the spec file\)$/]);
  });
  void test('a misspelt placeholder is named as one', async () => {
    const f = file('placeholder.yaml', 'samples:\n  - { sample: S1, path: /no/s1.h5ad }\nforEachSample:\n  - { id: "qc_{sample}", block: { name: sleep } }\n  - { id: "n_{sample}", parentId: "qc_{smaple}", block: { name: sleep } }\n');
    assertFails(await ragomics(['run', f], offline), 2, [/placeholder\.yaml:5:\d+: forEachSample\[1\]\.parentId: unknown placeholder \{smaple\}; only \{sample\} is substituted$/]);
  });
  void test('an unquoted {sample}: the first YAML error only, with the fix', async () => {
    const f = file('unquoted.yaml', 'forEachSample:\n  - id: qc\n    inputs: { gather: qc_{sample} }\n    block: { name: sleep }\n');
    assertFails(await ragomics(['run', f], offline), 2, [/unquoted\.yaml:3:\d+: malformed YAML: .*\(quote a value holding \{sample\}: "qc_\{sample\}"\)$/]);
  });
  void test('unknown field', async () => {
    const f = file('unknown-field.yaml', 'maxParallelJob: 2\nnodes:\n  - id: a\n    colour: red\n    block: { name: sleep }\n');
    const r = await ragomics(['run', f], offline);
    const lines = r.stderr.trimEnd().split('\n').sort();
    assertFails({ ...r, stderr: `${lines.join('\n')}\n` }, 2, [/unknown-field\.yaml:1:\d+: maxParallelJob: unknown field$/, /unknown-field\.yaml:4:\d+: nodes\[0\]\.colour: unknown field$/]);
  });
  void test('unknown node id in dependencies, and a bad parameter', async () => {
    const f = file('unknown-node.yaml', [
      'nodes:',
      '  - { id: a, block: { name: sleep } }',
      '  - { id: b, parentId: a, dependencies: [pca], block: { name: sleep, parameters: { seconds: -1 } } }',
    ].join('\n'));
    assertFails(await ragomics(['run', f], offline), 2, [
      /unknown-node\.yaml:3:\d+: nodes\[1\]\.dependencies\[0\]: unknown node "pca"$/,
      /unknown-node\.yaml:3:\d+: nodes\[1\]\.block\.parameters\.seconds: /,
    ]);
  });
  void test('unknown block', async () => {
    const f = file('unknown-block.json', JSON.stringify({ nodes: [{ id: 'a', block: { name: 'tsne' } }] }));
    assertFails(await ragomics(['run', f], offline), 2, [/nodes\[0\]\.block.*unknown block "tsne"/]);
  });
  void test('bad nodes file for add', async () => {
    const f = file('bad-nodes.yaml', 'nodes:\n  - id: x\n    block: { name: sleep }\n    extra: 1\n');
    assertFails(await ragomics(['add', 'some-tree', f], offline), 2, [/bad-nodes\.yaml:4:\d+: nodes\[0\]\.extra: unknown field$/]);
    // Inline code that does not compile: refused as a spec's is, before connecting.
    const code = file('bad-code.yaml', '- id: bad\n  parentId: a\n  block:\n    code: "def run(adata=None:\\n  pass"\n');
    assertFails(await ragomics(['add', 'some-tree', code], offline), 2, [/bad-code\.yaml:4:\d+: nodes\[0\]\.block\.code: node "bad" has a Python syntax error: .*line 1/]);
    // The tree's own request id would make the request a silent duplicate.
    const ok = file('ok-nodes.yaml', '- { id: b, parentId: a, block: { name: sleep } }\n');
    assertFails(await ragomics(['add', 'some-tree', ok, '--request-id', 'spec'], offline), 2, [/^error: requestId: "spec" names the tree's own nodes; choose another request id$/]);
  });
  void test('an unknown key with a dash is located too', async () => {
    const f = file('kebab.yaml', 'max-parallel-jobs: 3\nnodes:\n  - { id: a, block: { name: sleep } }\n');
    assertFails(await ragomics(['run', f], offline), 2, [/kebab\.yaml:1:1: max-parallel-jobs: unknown field$/]);
  });
  void test('bad arguments', async () => {
    assertFails(await ragomics(['parallelism', 'some-tree', 'lots'], offline), 2, [/^error: N: must be an integer/]);
    assertFails(await ragomics(['timeline', 'some-tree', '--format', 'pdf'], offline), 2, [/--format: must be one of html, svg, json, csv/]);
    assertFails(await ragomics(['status', 'bad id!'], offline), 2, [/TREE_ID: "bad id!"/]);
    assertFails(await ragomics(['frobnicate'], offline), 2, [/unknown command 'frobnicate'/]);
    // Commander's suggestion stays on the error's one line.
    assertFails(await ragomics(['status', 'some-tree', '--jsn'], offline), 2, [/^error: unknown option '--jsn' \(Did you mean --json\?\)$/]);
    assertFails(await ragomics(['stauts', 'some-tree'], offline), 2, [/^error: unknown command 'stauts' \(Did you mean status\?\)$/]);
    // dev --stop takes no worker flags: one given is refused, not ignored (nothing is stopped).
    assertFails(await ragomics(['dev', '--stop', '--executor', 'bogus'], offline), 2, [/^error: --stop: takes no worker flags \(got --executor\)$/]);
    for (const bad of ['abc', '0', '2.5', '10001']) assertFails(await ragomics(['list', '--limit', bad], offline), 2, [new RegExp(`^error: --limit: must be an integer from 1 to 10000, got "${bad}"$`)]);
    assertFails(await ragomics(['status', 'some-tree', '--transitions'], offline), 2, [/^error: --transitions: only with --json/]);
    assertFails(await ragomics(['dev'], { ...offline, RAGOMICS_EXECUTOR: 'bogus' }), 2, [/^error: RAGOMICS_EXECUTOR: must be one of docker, local, inprocess, got "bogus"$/]);
    // Found before connecting, like every other problem of the spec or the flags.
    assertFails(await ragomics(['run', file('empty.yaml', 'nodes: []\n')], offline), 2, [/^error: nodes: the tree has nothing to run/]);
    assertFails(await ragomics(['run', file('one.yaml', 'nodes:\n  - { id: a, block: { name: sleep } }\n'), '--id', ''], offline), 2, [/^error: --id: "" must not be empty$/]);
  });
});

void test('unreachable server: exit 3 naming the address, the reason and how to start one', async () => {
  const r = await ragomics(['run', path.join(ROOT, 'examples', 'quickstart-sleep.yaml')], { TEMPORAL_ADDRESS: UNREACHABLE });
  assertFails(r, 3, [/cannot reach the Temporal server at 127\.0\.0\.1:1 \(connect ECONNREFUSED 127\.0\.0\.1:1\).*ragomics dev/]);
});

void test('an address the client could never dial: exit 2 naming TEMPORAL_ADDRESS, before any connection', async () => {
  const quickstart = path.join(ROOT, 'examples', 'quickstart-sleep.yaml');
  assertFails(await ragomics(['run', quickstart], { TEMPORAL_ADDRESS: 'http://localhost:7233' }), 2, [/^error: TEMPORAL_ADDRESS: "http:\/\/localhost:7233" is not host:port \(drop the scheme: localhost:7233\)$/]);
  assertFails(await ragomics(['list'], { TEMPORAL_ADDRESS: 'localhost:99999' }), 2, [/^error: TEMPORAL_ADDRESS: "localhost:99999" is not host:port \(the port must be 1-65535\)$/]);
});

void test('a parameter typo names the parameter meant and the block\'s list; name and code together say so', async () => {
  const typo = file('typo.yaml', ['inputDataPath: /no/such/input.h5ad', 'nodes:', '  - { id: qc, block: { name: quality_control, parameters: { min_gene: 200 } } }'].join('\n'));
  assertFails(await ragomics(['run', typo], { TEMPORAL_ADDRESS: UNREACHABLE }), 2, [/typo\.yaml:3:\d+: nodes\[0\]\.block\.parameters\.min_gene: unknown parameter of quality_control \(did you mean min_genes\?\); it takes min_genes, max_genes, min_cells, max_pct_mito, mito_prefix$/]);
  const both = file('both.yaml', ['inputDataPath: /no/such/input.h5ad', 'nodes:', '  - { id: custom, block: { name: normalize, code: "def run(adata=None): return adata" } }'].join('\n'));
  assertFails(await ragomics(['run', both], { TEMPORAL_ADDRESS: UNREACHABLE }), 2, [/both\.yaml:3:\d+: nodes\[0\]\.block: a block has either `name` \(a built-in block\) or `code` \(inline Python\), not both$/]);
});

void test('a docker worker whose engine does not answer: exit 3 before it takes any node, naming the engine and the way out', async () => {
  // A socket path nothing listens on: the ping fails at once (no wait for a timeout).
  const r = await ragomics(['worker', '--executor', 'docker', '--task-queue', uid('tq-nodocker')], {
    // The default warm pool is created (and closed again when the start fails).
    DOCKER_HOST: `unix://${path.join(dir, 'no-engine.sock')}`, RAGOMICS_WORKSPACE: path.join(dir, 'ws-nodocker'),
  });
  assert.equal(r.code, 3, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0] ?? '', /^error: cannot start a worker with the docker executor: the Docker engine is not reachable \(.*no-engine\.sock.*\); .*DOCKER_HOST.*--executor local$/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
});

void test('ids the tree does not know: exit 2, the tree unchanged', async () => {
  await withWorker({}, async ({ client, taskQueue }) => {
    const env = { RAGOMICS_TASK_QUEUE: taskQueue };
    const id = uid('cli-bad');
    const tree = await client.startTree({ id, nodes: [{ id: 'hold', block: { name: 'sleep', parameters: { seconds: 600 } } }] });
    try {
      assertFails(await ragomics(['status', uid('no-such-tree')], env), 2, [/no tree with id "no-such-tree-/]);
      assertFails(await ragomics(['cancel', id, '--node', 'pca'], env), 2, [/pca/]);
      const nodes = file('orphan.yaml', '- { id: orphan, parentId: pca, block: { name: sleep } }\n');
      assertFails(await ragomics(['add', id, nodes], env), 2, [/nodes\[0\]\.parentId: unknown node "pca"/]);
      const status = await tree.status();
      assert.deepEqual(status.nodes.map((n) => n.id), ['hold'], 'nothing was added');
    } finally {
      await tree.cancel('test over');
    }
  });
});
