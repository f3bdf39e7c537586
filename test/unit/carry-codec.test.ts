/** Round trips of the compact continue-as-new encoding (v2, and v1 still decoding), and its size per node. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TreeSpecSchema } from '../../common/schemas';
import { decodeNodes, decodeStringSet, encodeNodes, encodeStringSet, utf8Length, type EncodedNodes } from '../../workflows/carry-codec';
import type { AttemptRecord, NodeOutput, NodeRecord } from '../../workflows/node-record';
import { realisticTree } from '../helpers/realistic-tree';

const T = 1_764_300_000_000;
const LIMIT = 2 * 1024 * 1024;
const MAX_NODES = (TreeSpecSchema.shape.maxNodes.unwrap() as unknown as { maxValue: number }).maxValue;

/** What the workflow carries goes through JSON (undefined-valued keys vanish). */
const json = <X>(x: X): X => JSON.parse(JSON.stringify(x)) as X;
const roundTrip = (nodes: NodeRecord[]) => decodeNodes(json(encodeNodes(nodes)));

const sha = (i: number) => createHash('sha256').update(String(i)).digest('hex');

function completed(i: number, parent: string | null = i === 0 ? null : `n${Math.floor((i - 1) / 3)}`, depth = parent === null ? 0 : Math.floor(Math.log(2 * i + 1) / Math.log(3))): NodeRecord {
  const dir = `/data/ws/trees/big-1.abcd1234/nodes/n${i}/published/attempt-1`;
  return {
    id: `n${i}`, parentId: parent, dependencies: parent === null ? [] : [parent],
    priority: 0, depth, block: { name: 'sleep', parameters: { seconds: 0, fail: false, memoryMB: 0 } }, source: 'spec', state: 'COMPLETED',
    queuedAt: T + i, transitions: [['PENDING', T + i], ['WAITING', T + i], ['READY', T + i + 5], ['RUNNING', T + i + 9], ['COMPLETED', T + i + 40]],
    attempts: [{ n: 1, runIndex: 1, scheduledAt: T + i + 9, startedAt: T + i + 12, endedAt: T + i + 38, state: 'COMPLETED', worker: 'host-123' }],
    output: { outputDir: dir, outputPath: `${dir}/_node_anndata.h5ad`, sha256: sha(i), shape: [700, 765], summary: 'slept 0 s', figures: [], metrics: {}, imageDigest: 'sha256:abc' },
    repairs: 0, oomRetries: 0, lostRetries: 0,
  };
}

/** Depth of node i in the 3-ary tree of `completed` (root 0). */
function depth3(i: number): number {
  let d = 0;
  while (i > 0) { i = Math.floor((i - 1) / 3); d++; }
  return d;
}

function failedNode(): NodeRecord {
  const rec: NodeRecord = {
    ...completed(5, 'n1', 2), id: 'bad', dependencies: ['n1', 'n0'], state: 'FAILED', error: 'boom', repairs: 1, lostRetries: 2,
    timeout: 10, resources: { memoryMB: 512, memoryGrowthFactor: 2 }, patchedCode: 'def run(adata=None): return adata', taskQueue: 'bigmem', priority: -3,
    transitions: [['PENDING', T], ['WAITING', T], ['READY', T + 1], ['RUNNING', T + 2], ['RUNNING', T + 3, 'repair 1: patched code received'], ['FAILED', T + 9, 'boom']],
    attempts: [
      { n: 1, runIndex: 1, scheduledAt: T + 2, startedAt: T + 3, endedAt: null, state: 'LOST', worker: 'w1' },
      { n: 2, runIndex: 2, scheduledAt: T + 4, startedAt: T + 5, endedAt: T + 9, state: 'FAILED', worker: 'w2', error: 'boom', errorType: 'BlockCrashedError', exitCode: 70, memoryMB: 1024 },
      { n: 3, runIndex: 2, scheduledAt: T + 4, startedAt: null, endedAt: null, state: 'RUNNING', memoryMB: 1024 },
    ],
  };
  delete rec.output;
  return rec;
}

function cancelledNode(parent: string, depth: number): NodeRecord {
  const rec: NodeRecord = {
    ...completed(7, parent, depth), id: 'c', state: 'CANCELLED', attempts: [], error: 'dependency "bad" FAILED',
    transitions: [['PENDING', T], ['WAITING', T], ['CANCELLED', T + 9, 'dependency "bad" FAILED']],
  };
  delete rec.output;
  return rec;
}

test('v2: completed nodes round-trip exactly (metrics and figures are left on disk)', () => {
  const nodes = Array.from({ length: 40 }, (_, i) => completed(i, i === 0 ? null : `n${Math.floor((i - 1) / 3)}`, depth3(i)));
  const e = encodeNodes(nodes);
  assert.equal(e.v, 2);
  assert.ok(!e.ints.includes('"'), 'no JSON escaping needed');
  assert.deepEqual(roundTrip(nodes), nodes);
});

test('v2: failed, cancelled, repaired, running and waiting nodes keep errors, reasons, extras and every attempt', () => {
  const waiting: NodeRecord = { ...completed(9, 'bad', 3), id: 'w', state: 'WAITING', attempts: [], transitions: [['PENDING', T + 20], ['WAITING', T + 20]], queuedAt: T + 20, expectedDuration: 2.5 };
  delete waiting.output;
  const fresh: NodeRecord = { ...waiting, id: 'p', state: 'PENDING', transitions: [] };
  const noOutputFile: NodeRecord = completed(4, 'n1', 2);
  noOutputFile.output = { ...noOutputFile.output!, outputPath: '', sha256: '', shape: null, summary: '', imageDigest: null };
  const movedOutput: NodeRecord = completed(8, 'n2', 2);
  movedOutput.output = { ...movedOutput.output!, outputDir: '/elsewhere/x', outputPath: '/elsewhere/x/out.h5ad', sha256: 'not-a-sha' };
  const nodes = [completed(0), completed(1, 'n0', 1), completed(2, 'n0', 1), failedNode(), cancelledNode('bad', 3), waiting, fresh, noOutputFile, movedOutput];
  assert.deepEqual(roundTrip(nodes), json(nodes));
});

test('v2: a node the compact form cannot hold is carried whole (fractional time, inconsistent depth, unknown parent)', () => {
  const fractional = { ...completed(2, 'n0', 1), queuedAt: T + 0.5 };
  const wrongDepth = completed(3, 'n0', 7);
  const orphan = completed(4, 'nowhere', 1);
  const nodes = [completed(0), fractional, wrongDepth, orphan, completed(5, 'n1', 2)];
  assert.deepEqual(roundTrip(nodes), json(nodes));
});

/** True when the node travels whole (the fallback), not in the columns. */
const carriedWhole = (e: EncodedNodes, rec: NodeRecord) => e.v === 2 && e.strings.includes(JSON.stringify(rec));

test('adding a field is one edit: every field of a node, an attempt and an output round-trips, known or not, and the node stays compact', () => {
  // Required<...> makes this sample name every field the types have: a new field must be set here, and is then checked.
  const attempt: Required<AttemptRecord> = {
    n: 1, runIndex: 1, scheduledAt: T + 2, startedAt: T + 3, endedAt: T + 9, state: 'FAILED', worker: 'w1', error: 'boom', errorType: 'BlockCrashed',
    exitCode: 70, memoryMB: 1024, peakMemoryMB: 900, reused: false,
  };
  const output: Required<NodeOutput> = { ...completed(1, 'n0', 1).output!, figures: [], metrics: {} };
  const full: Required<NodeRecord> = {
    ...completed(1, 'n0', 1), dependencies: ['n0'], priority: 2, timeout: 10, maxRetries: 3, resources: { memoryMB: 512, cpus: 1.5 }, expectedDuration: 2.5, taskQueue: 'bigmem',
    source: 'client', sample: 'S1', inputs: ['n0'], gather: 'n_{sample}', error: 'boom', patchedCode: 'def run(adata=None): return adata', repairs: 1, oomRetries: 2, lostRetries: 3, output,
    attempts: [attempt, { ...attempt, n: 2, state: 'COMPLETED', reused: true }],
  };
  // Fields the types do not have yet (what a future edit of node-record.ts adds) travel the same way.
  const future = {
    ...completed(2, 'n0', 1), somethingNew: { x: 1 }, flag: false,
    attempts: [{ ...completed(2).attempts[0]!, newAttemptField: 'x' }],
    output: { ...completed(2).output!, newOutputField: [1, 2] },
  } as unknown as NodeRecord;
  const nodes = [completed(0), full, future];
  const e = encodeNodes(nodes);
  assert.deepEqual(roundTrip(nodes), json(nodes));
  for (const rec of nodes) assert.ok(!carriedWhole(e, rec), `${rec.id} is carried in the columns`);
  for (const k of Object.keys(full)) assert.notEqual((full as Record<string, unknown>)[k], undefined, `sample sets ${k}`);
});

test('v2: summaries are cut at 300 characters, and left out in lean mode', () => {
  const long = completed(1, 'n0', 1);
  long.output!.summary = 'x'.repeat(1000);
  const [, back] = roundTrip([completed(0), long]);
  assert.equal(back!.output!.summary, 'x'.repeat(300));
  const lean = decodeNodes(json(encodeNodes([completed(0), long], { lean: true })));
  assert.equal(lean[1]!.output!.summary, '');
  assert.equal(lean[1]!.output!.sha256, long.output!.sha256);
});

test('v2: empty table', () => {
  assert.deepEqual(roundTrip([]), []);
});

/** Produced by the v1 encoder (before v2) for [completed(0), completed(1), failed, cancelled] of its test. */
const V1_PAYLOAD = JSON.parse(String.raw`{"v":1,"base":1764300000000,"strings":["COMPLETED","host-123","PENDING","WAITING","READY","RUNNING","/data/ws/trees/big-1/nodes/","sha256:abc","{\"name\":\"sleep\",\"parameters\":{\"seconds\":0,\"fail\":false,\"memoryMB\":0}}","spec","LOST","w1","FAILED","w2","CANCELLED"],"nodes":[["n0",0,[],0,0,8,9,0,0,[2,0,3,0,4,5,5,9,0,40],[[1,9,12,38,0,1,0]],[0,6,"n0/published/attempt-1","aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",[700,765],"slept 0 s",7],0],["n1","n0",0,0,0,8,9,0,1,[2,0,3,0,4,5,5,9,0,40],[[1,10,13,39,0,1,0]],[0,6,"n1/published/attempt-1","aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",[700,765],"slept 0 s",7],0],["bad","n1",["n1","n0"],0,0,8,9,12,5,[2,-5,3,-5,4,-4,5,-3,5,-2,"repair 1: patched code received",12,4,"boom"],[[1,2,3,null,10,11,0],[2,4,5,9,12,13,{"error":"boom","errorType":"BlockCrashedError","exitCode":70,"memoryMB":1024}]],0,{"timeout":10,"resources":{"memoryMB":512,"memoryGrowthFactor":2},"taskQueue":"bigmem","patchedCode":"def run(adata=None): return adata","error":"boom","repairs":1,"lostRetries":2}],["c","n2",0,0,0,8,9,14,7,[2,-7,3,-7,14,2,"dependency \"bad\" FAILED"],[],0,{"error":"dependency \"bad\" FAILED"}]]}`) as EncodedNodes;

test('v1 payloads (carried by trees that continued as new under the previous code) still decode', () => {
  const v1 = (i: number): NodeRecord => {
    const rec = completed(i, i === 0 ? null : `n${Math.floor((i - 1) / 3)}`, 0);
    const dir = `/data/ws/trees/big-1/nodes/n${i}/published/attempt-1`;
    rec.output = { ...rec.output!, outputDir: dir, outputPath: `${dir}/_node_anndata.h5ad`, sha256: 'a'.repeat(64) };
    return rec;
  };
  const failed = failedNode();
  failed.priority = 0;
  failed.depth = 0;
  failed.attempts.pop();
  const cancelled = cancelledNode('n2', 0);
  assert.deepEqual(decodeNodes(V1_PAYLOAD), [v1(0), v1(1), failed, cancelled]);
  // And a decoded v1 table encodes as v2 and back unchanged (the next continue-as-new).
  assert.deepEqual(roundTrip(decodeNodes(V1_PAYLOAD)), decodeNodes(V1_PAYLOAD));
});

test('request ids encode as a front-coded sorted set', () => {
  const ids = ['spec', 'result:n1', 'result:n10', 'rule:n1:0', 'policy:n1', 'client "x"\n\u00e9\u{1F600}', 'result:n100'];
  assert.deepEqual(decodeStringSet(encodeStringSet(ids)), [...ids].sort());
  assert.deepEqual(decodeStringSet(encodeStringSet([])), []);
  assert.equal(utf8Length('a\u00e9\u20ac\u{1F600}'), 1 + 2 + 3 + 4);
});

test(`a realistic tree at the maxNodes cap (${MAX_NODES}) encodes comfortably under the 2 MB payload limit`, () => {
  const nodes = realisticTree(MAX_NODES);
  const failed = nodes.filter((x) => x.state === 'FAILED').length, cancelled = nodes.filter((x) => x.state === 'CANCELLED').length;
  const retried = nodes.filter((x) => x.attempts.length > 1).length;
  const plain = utf8Length(JSON.stringify(nodes));
  const v2 = utf8Length(JSON.stringify(encodeNodes(nodes)));
  const v1Table = encodeV1(nodes);
  const v1 = utf8Length(JSON.stringify(v1Table));
  const e = encodeNodes(nodes);
  const part = (x: unknown) => (utf8Length(JSON.stringify(x)) / MAX_NODES).toFixed(1);
  console.log(
    `# ${MAX_NODES} nodes (${failed} failed, ${cancelled} cancelled, ${retried} with several attempts): plain JSON ${(plain / 1024).toFixed(0)} KiB, ` +
    `v1 ${(v1 / 1024).toFixed(0)} KiB (${(v1 / MAX_NODES).toFixed(0)} B/node), v2 ${(v2 / 1024).toFixed(0)} KiB (${(v2 / MAX_NODES).toFixed(1)} B/node; ` +
    `per node: ids ${part(e.ids)}, ints ${part(e.ints)}, sha ${part(e.sha)}, strings ${part(e.strings)}); ${((100 * v2) / LIMIT).toFixed(0)} % of 2 MB`,
  );
  const expected = nodes.map((x) => (x.output ? { ...x, output: { ...x.output, metrics: {} } } : x));
  assert.deepEqual(roundTrip(nodes), expected);
  assert.deepEqual(decodeNodes(json(v1Table)), expected, 'the v1 decoder reads a big v1 table');
  assert.ok(v2 < 0.8 * LIMIT, `encoded ${v2} bytes: at most 80 % of the limit at the cap`);
  assert.ok(v2 / MAX_NODES < 85, `${(v2 / MAX_NODES).toFixed(1)} B/node`);
});

/** The v1 encoder as it was before v2 (verbatim but for names), to print v1 sizes and test the v1 decoder on big tables. */
function encodeV1(nodes: readonly NodeRecord[]): EncodedNodes {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const id = (s: string) => {
    let i = index.get(s);
    if (i === undefined) { i = strings.length; strings.push(s); index.set(s, i); }
    return i;
  };
  const splitDir = (p: string): [string, string] => {
    const k = p.lastIndexOf('/nodes/');
    const cut = k >= 0 ? k + '/nodes/'.length : p.lastIndexOf('/') + 1;
    return [p.slice(0, cut), p.slice(cut)];
  };
  const base = nodes[0]?.queuedAt ?? 0;
  const rel = (ms: number | null) => (ms == null ? null : ms - base);
  const encoded = nodes.map((n) => {
    const attempts = n.attempts.map((a) => {
      const extra: Record<string, unknown> = {};
      for (const k of ['error', 'errorType', 'exitCode', 'memoryMB', 'peakMemoryMB', 'reused'] as const) if (a[k] !== undefined && a[k] !== false) extra[k] = a[k];
      return [a.runIndex, rel(a.scheduledAt), rel(a.startedAt), rel(a.endedAt), id(a.state), a.worker === undefined ? -1 : id(a.worker), Object.keys(extra).length ? extra : 0];
    });
    const transitions = n.transitions.flatMap(([state, at, reason]) => (reason === undefined ? [id(state), at - n.queuedAt] : [id(state), at - n.queuedAt, reason]));
    const o = n.output;
    const output = o
      ? [o.outputPath === o.outputDir + '/_node_anndata.h5ad' ? 0 : o.outputPath, id(splitDir(o.outputDir)[0]), splitDir(o.outputDir)[1], o.sha256, o.shape ?? 0, o.summary.slice(0, 300), o.imageDigest === null ? -1 : id(o.imageDigest)]
      : 0;
    const extras: Record<string, unknown> = {};
    for (const k of ['timeout', 'maxRetries', 'resources', 'expectedDuration', 'taskQueue', 'patchedCode', 'error'] as const) if (n[k] !== undefined) extras[k] = n[k];
    for (const k of ['repairs', 'oomRetries', 'lostRetries'] as const) if (n[k] !== 0) extras[k] = n[k];
    const onlyParent = n.parentId !== null && n.dependencies.length === 1 && n.dependencies[0] === n.parentId;
    return [
      n.id, n.parentId ?? 0, onlyParent ? 0 : n.dependencies, n.priority, n.depth, id(JSON.stringify(n.block)), id(n.source), id(n.state),
      n.queuedAt - base, transitions, attempts, output, Object.keys(extras).length ? extras : 0,
    ];
  });
  return { v: 1, base, strings, nodes: encoded };
}
