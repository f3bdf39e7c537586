/**
 * A battery of bad inputs through the CLI, the SDK and updates. Each one must be refused with a
 * clear message naming what is wrong, exit code 2 (CLI) or InvalidInputError (SDK), no stack
 * trace, and nothing started or changed: no workflow exists for a refused spec, and a running
 * tree's node list is unchanged after a refused update.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidInputError } from '../client/errors';
import { RagomicsClient } from '../client/sdk';
import { TEMPORAL_ADDRESS, sleepNode, uid, withWorker } from './helpers/harness';
import { repoRoot } from '../activities/executors/repo-root';

const BIN = path.join(repoRoot(), 'bin', 'ragomics.js');
let dir: string;
let client: RagomicsClient;
let refused = 0;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ragomics-bad-'));
  client = await RagomicsClient.connect({ address: TEMPORAL_ADDRESS });
});
after(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`# bad inputs refused: ${refused}`);
});

function cli(args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS, RAGOMICS_TASK_QUEUE: uid('nobody') }, timeout: 60_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

async function neverStarted(id: string): Promise<void> {
  await assert.rejects(client.getTree(id).workflow.describe(), /not found/i, `no workflow "${id}" was started`);
}

/** A spec file case: run it through `ragomics run`, expect exit 2, the message, no stack trace, nothing started. */
function specCase(name: string, content: string, message: RegExp, ext = 'yaml'): void {
  test(`CLI refuses ${name}`, async () => {
    const id = uid('bad');
    const file = path.join(dir, `${id}.${ext}`);
    writeFileSync(file, content.replaceAll('$ID', id));
    const r = cli(['run', file]);
    assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
    await neverStarted(id);
    refused++;
  });
}

const node = (extra = '') => `  - { id: a, block: { name: sleep, parameters: { seconds: 0 } } ${extra}}`;
const spec = (body: string, nodes = node()) => `id: $ID\n${body}\nnodes:\n${nodes}\n`;

specCase('malformed YAML', 'id: $ID\nnodes: [ { id: a, block: { name: sleep }\n', /YAML|line \d+/i);
specCase('malformed JSON', '{ "id": "$ID", "nodes": [ }', /JSON|position|line/i, 'json');
specCase('an unknown top-level field', spec('maxParalelJobs: 3'), /maxParalelJobs/);
specCase('an unknown node field', spec('', `  - { id: a, parnt: b, block: { name: sleep } }`), /nodes\[0\].*parnt/);
specCase('a wrong type', spec('maxParallelJobs: three'), /maxParallelJobs/);
specCase('a cycle', spec('', `  - { id: a, dependencies: [b], block: { name: sleep } }\n  - { id: b, dependencies: [a], block: { name: sleep } }`), /cycle/);
specCase('a self-dependency', spec('', `  - { id: a, dependencies: [a], block: { name: sleep } }`), /depends on itself/);
specCase('an unknown dependency', spec('', `${node()}\n  - { id: b, dependencies: [pca], block: { name: sleep } }`), /nodes\[1\]\.dependencies\[0\]: unknown node "pca"/);
specCase('an unknown parent', spec('', `  - { id: b, parentId: ghost, block: { name: sleep } }`), /nodes\[0\]\.parentId: unknown node "ghost"/);
specCase('duplicate ids', spec('', `${node()}\n${node()}`), /duplicate id "a"/);
specCase('an id with "/"', spec('', `  - { id: "a/b", block: { name: sleep } }`), /nodes\[0\]\.id/);
specCase('an id with ".."', spec('', `  - { id: "a..b", block: { name: sleep } }`), /nodes\[0\]\.id.*\.\./);
specCase('an id with a control character', spec('', `  - { id: "a\\u0007", block: { name: sleep } }`), /nodes\[0\]\.id/);
specCase('maxParallelJobs 0', spec('maxParallelJobs: 0'), /maxParallelJobs: must be at least 1/);
specCase('a negative maxParallelJobs', spec('maxParallelJobs: -2'), /maxParallelJobs/);
specCase('an absurd maxNodes', spec('maxNodes: 1000000000'), /maxNodes: must be at most/);
specCase('a negative jobTimeout', spec('jobTimeout: -1'), /jobTimeout/);
specCase('an absurd maxRetries', spec('maxRetries: 1000'), /maxRetries/);
specCase('an unknown priority strategy', spec('priorityStrategy: random'), /priorityStrategy/);
specCase('parameters over the payload limit', spec('', `  - { id: a, block: { code: "def run(adata=None, **p): return adata", parameters: { blob: "${'x'.repeat(70_000)}" } } }`), /parameters must serialise to at most/);
specCase('a non-.h5ad input', spec('inputDataPath: /tmp/data.csv'), /inputDataPath: must be an .h5ad file/);
specCase('a missing input file', spec('inputDataPath: ./no-such-sample.h5ad'), /inputDataPath: no readable \.h5ad file at ".*no-such-sample\.h5ad"/);
specCase('inline code with a syntax error', spec('', `  - id: a\n    block:\n      code: "def run(adata=None, **p)\\n    return adata\\n"`), /nodes\[0\]\.block\.code: node "a" has a Python syntax error: .*line 1/);
specCase('an unknown block', spec('', `  - { id: a, block: { name: tsne } }`), /unknown block "tsne"/);
specCase('a bad parameter value', spec('', `  - { id: a, block: { name: leiden, parameters: { resolution: -1 } } }`), /nodes\[0\]\.block\.parameters\.resolution/);
specCase('an unknown parameter', spec('', `  - { id: a, block: { name: pca, parameters: { n_compz: 3 } } }`), /n_compz/);
specCase('a root whose block needs an input, without inputDataPath', spec('', `  - { id: a, block: { name: quality_control } }`), /nodes\[0\]\.block: node "a": block "quality_control" needs an input AnnData .*inputDataPath/);
specCase('a too small memory request', spec('', `  - { id: a, block: { name: sleep }, resources: { memoryMB: 10 } }`), /resources\.memoryMB/);
specCase('memory growth without a base memory', spec('', `  - { id: a, block: { name: sleep }, resources: { memoryGrowthFactor: 2 } }`), /memoryGrowthFactor needs memoryMB/);
specCase('more children than maxChildrenPerNode', spec('maxChildrenPerNode: 1', `${node()}\n  - { id: b, parentId: a, block: { name: sleep } }\n  - { id: c, parentId: a, block: { name: sleep } }`), /maxChildrenPerNode 1/);

test('CLI refuses a missing spec file', () => {
  const r = cli(['run', path.join(dir, 'nope.yaml')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /nope\.yaml/);
  refused++;
});

test('SDK refuses an invalid spec before starting anything', async () => {
  const id = uid('bad-sdk');
  await assert.rejects(client.startTree({ id, maxParallelJobs: 0, nodes: [sleepNode('a', 0)] }), (err: unknown) => err instanceof InvalidInputError && /maxParallelJobs: must be at least 1/.test(err.message));
  await assert.rejects(client.startTree({ id, nodes: [sleepNode('a', 0), sleepNode('b', 0, { dependencies: ['zzz'] })] }), (err: unknown) => err instanceof InvalidInputError && /nodes\[1\]\.dependencies\[0\]: unknown node "zzz"/.test(err.message));
  // Relative data paths would be opened from each worker's own folder: refused, naming the field.
  await assert.rejects(client.startTree({ id, inputDataPath: 'data/pbmc.h5ad', nodes: [sleepNode('a', 0)] }), (err: unknown) => err instanceof InvalidInputError && /^inputDataPath: "data\/pbmc\.h5ad" is relative; give the path as the workers see it \(absolute\)$/.test(err.message));
  await assert.rejects(client.startTree({ id, samples: [{ sample: 'S1', path: 's1.h5ad' }], forEachSample: [sleepNode('a_{sample}', 0)] }), (err: unknown) => err instanceof InvalidInputError && /samples\[0\]\.path: "s1\.h5ad" is relative/.test(err.message));
  await assert.rejects(client.startTree({ id, nodes: [] }), (err: unknown) => err instanceof InvalidInputError && /^nodes: the tree has nothing to run .*expansion\.idleTimeout$/.test(err.message));
  await neverStarted(id);
  refused += 5;
});

test('updates and the CLI refuse bad additions to a running tree, which stays unchanged', async () => {
  await withWorker({}, async ({ client: c, taskQueue }) => {
    const tree = await c.startTree({ id: uid('bad-update'), maxChildrenPerNode: 1, nodes: [sleepNode('root', 0.1), sleepNode('keeper', 600)] });
    const ids = async () => (await tree.status()).nodes.map((n) => n.id).join(',');
    const before = await ids();
    const cases: Array<[unknown[], RegExp]> = [
      [[sleepNode('root', 0)], /duplicate id "root"/],
      [[sleepNode('x', 0, { parentId: 'ghost' })], /unknown node "ghost"/],
      [[sleepNode('x', 0, { dependencies: ['y'] }), sleepNode('y', 0, { dependencies: ['x'] })], /cycle/],
      [[sleepNode('x', 0, { parentId: 'root' }), sleepNode('y', 0, { parentId: 'root' })], /maxChildrenPerNode 1/],
      [[{ id: 'x', block: { code: '' } }], /inline code must not be empty/],
      // A root with nothing to read: the tree has no inputDataPath and the node no sample.
      [[{ id: 'orphan', block: { name: 'normalize', parameters: {} } }], /^nodes\[0\]\.block: node "orphan": block "normalize" needs an input AnnData and the node has none: this tree has no inputDataPath: give the node a parentId, or one of the tree's samples \(sample\)$/],
    ];
    for (const [nodes, message] of cases) {
      await assert.rejects(tree.addNodes(nodes as never), (e: unknown) => e instanceof InvalidInputError && message.test(e.message));
      refused++;
    }
    // The same root by signal: refused by the tree, recorded under `rejected`.
    await tree.addNodesAsync([{ id: 'orphan', block: { name: 'normalize', parameters: {} } }], { requestId: 'orphan-signal' });
    let rejected;
    while (!(rejected = (await tree.status()).rejected.find((r) => r.requestId === 'orphan-signal'))) await new Promise((r) => setTimeout(r, 100));
    assert.match(rejected.errors.join('\n'), /node "orphan": block "normalize" needs an input AnnData/);
    refused++;
    const nodesFile = path.join(dir, 'add.yaml');
    writeFileSync(nodesFile, '- { id: z, dependencies: [nowhere], block: { name: sleep } }\n');
    // Asynchronously: the worker in this process must keep running to answer the update.
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'add', tree.treeId, nodesFile], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS, RAGOMICS_TASK_QUEUE: taskQueue } }, (err, _out, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
      });
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /unknown node "nowhere"/);
    refused++;
    assert.equal(await ids(), before, 'the tree is unchanged');
    await tree.cancel('done');
    await tree.result();
  });
});
