/**
 * The tree's state across continue-as-new in one form (workflows/carried-state.ts): plain JSON of
 * the node records, deflated, written to the workspace in chunks and read back
 * (activities/carried-state.ts); and the old encoded forms, still decoded (workflows/legacy-carry.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createCarryActivities, carriedFile } from '../../activities/carried-state';
import { CarriedStateErrors } from '../../common/failure-types';
import { CARRIED_CHUNK_BYTES, TreeSpecSchema, type CarriedRef } from '../../common/schemas';
import { decodeState, encodeState, joinChunks, splitChunks, type CarriedState } from '../../workflows/carried-state';
import { decodeNodes, fromLegacy, isLegacyCarried, type EncodedNodes, type LegacyCarriedState } from '../../workflows/legacy-carry';
import type { AttemptRecord, NodeOutput, NodeRecord } from '../../workflows/node-record';
import { TreeState } from '../../workflows/tree-state';
import { realisticTree } from '../helpers/realistic-tree';
import { repoRoot } from '../../activities/executors/repo-root';

const T = 1_764_300_000_000;
const LIMIT = 2 * 1024 * 1024;
const MAX_NODES = (TreeSpecSchema.shape.maxNodes.unwrap() as unknown as { maxValue: number }).maxValue;

/** What the workflow carries goes through JSON (undefined-valued keys vanish). */
const json = <X>(x: X): X => JSON.parse(JSON.stringify(x)) as X;

const stateOf = (nodes: NodeRecord[], over: Partial<CarriedState> = {}): CarriedState => ({
  nodes, durationStats: [{ blockKey: 'sleep', count: 2, total: 3.5 }], requests: ['spec', 'client "x"\n\u00e9\u{1F600}'],
  rejected: [{ requestId: 's1', source: 'signal', at: '2026-11-29T00:00:00.000Z', errors: ['nodes[0].parentId: unknown node "ghost"'] }],
  paused: true, maxParallelJobs: 7, closed: false, runs: 3, version: 42,
  samples: [{ sample: 'S1', path: '/data/s1.h5ad', columns: { condition: 'ctrl', batch: 'b "1"' } }], ...over,
});

/** Through the whole carry path but the server: deflate, chunks of `size`, join, inflate, check. */
const carried = (state: CarriedState, size?: number) => decodeState(joinChunks(splitChunks(encodeState(state), size)), 'test');

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

test('adding a field is one edit: every field of a node, an attempt and an output survives the carry path, known or not', () => {
  // Required<...> makes this sample name every field the types have: a new field must be set here, and is then checked.
  const attempt: Required<AttemptRecord> = {
    n: 1, runIndex: 1, scheduledAt: T + 2, startedAt: T + 3, endedAt: T + 9, state: 'FAILED', worker: 'w1', error: 'boom', errorType: 'BlockCrashed',
    exitCode: 70, memoryMB: 1024, peakMemoryMB: 900, reused: false, cached: false,
  };
  const output: Required<NodeOutput> = { ...completed(1, 'n0', 1).output!, figures: [], metrics: {} };
  const full: Required<NodeRecord> = {
    ...completed(1, 'n0', 1), dependencies: ['n0'], priority: 2, timeout: 10, maxRetries: 3, resources: { memoryMB: 512, cpus: 1.5 }, expectedDuration: 2.5, taskQueue: 'bigmem',
    source: 'client', sample: 'S1', inputs: ['n0'], gather: 'n_{sample}', error: 'boom', patchedCode: 'def run(adata=None): return adata', repairs: 1, oomRetries: 2, lostRetries: 3, output,
    provenance: { by: 'policy', at: '2026-11-29T00:00:01.000Z', requestId: 'policy:n0', url: 'http://agent/', reason: '7 clusters > 3', from: 'n0', client: 'x', rule: 'r' },
    events: [{ kind: 'repair', at: '2026-11-29T00:00:02.000Z', detail: 'gave up' }],
    noCache: true, cache: { key: 'k'.repeat(64), hit: true, from: { treeId: 't.abc', nodeId: 'n0', attempt: 1 }, waitedFor: { treeId: 't', nodeId: 'n0' } },
    sharedWait: { treeId: 't', nodeId: 'n0', since: T + 1 }, rootCause: { id: 'n0', state: 'FAILED' },
    attempts: [attempt, { ...attempt, n: 2, state: 'COMPLETED', reused: true }],
  };
  // Fields the types do not have yet (what a future edit of node-record.ts adds) travel the same way.
  const future = {
    ...completed(2, 'n0', 1), somethingNew: { x: 1 }, flag: false,
    attempts: [{ ...completed(2).attempts[0]!, newAttemptField: 'x' }],
    output: { ...completed(2).output!, newOutputField: [1, 2] },
  } as unknown as NodeRecord;
  const state = stateOf([completed(0), full, future]);
  // Small chunks, so the join is exercised too.
  assert.deepEqual(carried(state, 1000), json(state));
  for (const k of Object.keys(full)) assert.notEqual((full as Record<string, unknown>)[k], undefined, `sample sets ${k}`);
  // And through the tree: restored, then carried again (the next continue-as-new), unchanged.
  const spec = TreeSpecSchema.parse({ id: 't', nodes: [] });
  const tree = new TreeState(spec, carried(state));
  assert.deepEqual(json(tree.carry()), json({ ...state, runs: state.runs + 1 }));
  assert.equal(tree.scheduler.counts().COMPLETED, 3);
  assert.equal(tree.maxParallelJobs, 7);
});

test('unusual values survive: unicode, empty strings, huge and negative numbers, nulls, deep objects', () => {
  const odd = {
    ...completed(3, null, 0), id: 'n3', dependencies: [], error: '', priority: -1e9, expectedDuration: Number.MAX_SAFE_INTEGER,
    block: { name: 'custom', parameters: { s: '\u0000\u2028\u{1F9EC}"\\', deep: { a: [[[{ b: null }]]] }, big: 1.5e300, neg: -0.25 } },
    transitions: [['PENDING', T], ['RUNNING', T + 1.5, 'with a fractional time']],
  } as unknown as NodeRecord;
  const state = stateOf([odd]);
  assert.deepEqual(carried(state), json(state));
});

test('a corrupt or foreign state fails with CarriedStateCorruptError naming the file, never an empty tree', () => {
  // A flipped bit inside the stream may still inflate to valid JSON: that is what the sha256
  // check of the file (next tests) is for. These are what must never pass as a tree.
  const good = encodeState(stateOf([completed(0)]));
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['not deflate', new TextEncoder().encode('{"nodes": []}'), /carried state trees\/x\.y\/carried\/r\.json\.deflate does not inflate/],
    ['truncated', good.subarray(0, good.length - 10), /trees\/x\.y/],
    ['not a state', encodeState({ nodes: [{ id: 1 }] } as unknown as CarriedState), /is not a tree state:[\s\S]*nodes/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodeState(bytes, 'trees/x.y/carried/r.json.deflate'), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure, what);
      assert.equal(e.type, CarriedStateErrors.Corrupt, what);
      assert.equal(e.nonRetryable, true);
      assert.match(e.message, message, what);
      return true;
    });
  }
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
});

test('v2 payloads (carried under the codec, before the state moved to the workspace) still decode, lean ones too', () => {
  const f = JSON.parse(readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'carry', 'codec-v2.json'), 'utf8')) as {
    v2: { encoded: EncodedNodes; decoded: NodeRecord[] }; v2lean: { encoded: EncodedNodes; decoded: NodeRecord[] }; requests: { encoded: string; decoded: string[] };
  };
  assert.deepEqual(json(decodeNodes(f.v2.encoded)), f.v2.decoded);
  assert.deepEqual(json(decodeNodes(f.v2lean.encoded)), f.v2lean.decoded);
  assert.ok(f.v2.decoded.some((n) => n.state === 'FAILED') && f.v2.decoded.some((n) => n.attempts.length > 1), 'the fixture has failures and retries');
  const legacy = { nodes: f.v2.encoded, durationStats: [], requests: f.requests.encoded, rejected: [], paused: false, maxParallelJobs: 4, closed: false, runs: 2, version: 9 };
  assert.ok(isLegacyCarried(legacy));
  assert.ok(!isLegacyCarried({ format: 'workspace-deflate-json-v1' }));
  const state = fromLegacy(legacy as LegacyCarriedState);
  assert.deepEqual(state.requests, f.requests.decoded);
  // The one form from here on: the decoded legacy state goes through the new path unchanged.
  assert.deepEqual(carried(state), json(state));
  assert.deepEqual(fromLegacy({ ...legacy, requests: undefined, appliedRequests: ['a', 'b'] } as LegacyCarriedState).requests, ['a', 'b']);
});

test(`a realistic tree at the maxNodes cap (${MAX_NODES}) fits in chunks of at most 1 MiB`, () => {
  const nodes = realisticTree(MAX_NODES);
  const state = stateOf(nodes);
  const t0 = process.hrtime.bigint();
  const bytes = encodeState(state);
  const t1 = process.hrtime.bigint();
  const back = decodeState(bytes, 'test');
  const t2 = process.hrtime.bigint();
  const chunks = splitChunks(bytes);
  console.log(`# ${MAX_NODES} nodes: ${bytes.length} bytes deflated (${(bytes.length / MAX_NODES).toFixed(1)} B/node) in ${chunks.length} chunk(s); encode ${(Number(t1 - t0) / 1e6).toFixed(0)} ms, decode+check ${(Number(t2 - t1) / 1e6).toFixed(0)} ms`);
  assert.ok(chunks.every((c) => c.length <= CARRIED_CHUNK_BYTES && c.length < LIMIT));
  assert.equal(back.nodes.length, MAX_NODES);
  assert.deepEqual(back, json(state));
});

// ---- the activities, on a real folder ------------------------------------------------------

const file = { treeId: 'tree-1', runKey: 'abcd1234', runId: '0b7c7a4e-1111-4222-8333-944445555666' };

async function writeAll(acts: ReturnType<typeof createCarryActivities>, runId: string, bytes: Uint8Array, keep: string[] = []): Promise<CarriedRef> {
  const chunks = splitChunks(bytes, CARRIED_CHUNK_BYTES);
  for (const [index, chunk] of chunks.entries()) await acts.writeCarriedChunk({ ...file, runId, index }, chunk);
  const done = await acts.commitCarried({ ...file, runId, chunks: chunks.length, bytes: bytes.length, keep });
  return { format: 'workspace-deflate-json-v1', ...file, runId, ...done, chunks: chunks.length };
}

test('activities: chunks written, committed with sha256, read back; old runs pruned but the one loaded from', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'carry-'));
  try {
    const acts = createCarryActivities(root);
    // 2.5 MiB of incompressible bytes: three chunks.
    const bytes = new Uint8Array(Buffer.concat([createHash('sha256').update('x').digest(), Buffer.alloc(0)]));
    const big = new Uint8Array(Math.floor(2.5 * CARRIED_CHUNK_BYTES));
    for (let i = 0; i < big.length; i++) big[i] = bytes[i % 32]! ^ (i * 7919) & 0xff;
    const ref = await writeAll(acts, 'run-1', big);
    assert.equal(ref.chunks, 3);
    assert.equal(ref.sha256, createHash('sha256').update(big).digest('hex'));
    const back = [];
    for (let index = 0; index < ref.chunks; index++) back.push(await acts.readCarriedChunk({ ...ref, index }));
    assert.deepEqual(Buffer.from(joinChunks(back)), Buffer.from(big));
    // A commit retried after it renamed (the parts are gone) answers the same.
    assert.deepEqual(await acts.commitCarried({ ...file, runId: 'run-1', chunks: 3, bytes: big.length, keep: [] }), { sha256: ref.sha256, bytes: big.length });
    // Run 2 loaded from run 1 and continues: runs 1 (its input) and 3 stay, 2's older sibling goes.
    await writeAll(acts, 'run-2', big.subarray(0, 10));
    await writeAll(acts, 'run-3', big.subarray(0, 20), ['run-2']);
    assert.deepEqual(readdirSync(path.dirname(carriedFile(root, ref))).sort(), ['run-2.json.deflate', 'run-3.json.deflate']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('activities: a missing or altered file fails non-retryable, typed, naming the file', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'carry-'));
  try {
    const acts = createCarryActivities(root);
    const ref = await writeAll(acts, 'run-1', encodeState(stateOf([completed(0)])));
    const where = carriedFile(root, ref);
    const expectFailure = async (type: string) => {
      await assert.rejects(acts.readCarriedChunk({ ...ref, index: 0 }), (e: unknown) => {
        assert.ok(e instanceof ApplicationFailure);
        assert.equal(e.type, type);
        assert.equal(e.nonRetryable, true);
        assert.ok(e.message.includes(where), e.message);
        return true;
      });
    };
    const data = readFileSync(where);
    data[5]! ^= 1;
    writeFileSync(where, data);
    await expectFailure(CarriedStateErrors.Corrupt);
    rmSync(where);
    await expectFailure(CarriedStateErrors.Missing);
    // Ids that are not ids never become paths.
    await assert.rejects(acts.readCarriedChunk({ ...ref, treeId: '../etc', index: 0 }), (e: unknown) => e instanceof ApplicationFailure && e.type === CarriedStateErrors.Invalid);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('commit: chunks gone and no final file is Missing (non-retryable); a final file that cannot be read is its own error (retried)', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'carry-'));
  try {
    const acts = createCarryActivities(root);
    const commit = (runId: string) => acts.commitCarried({ ...file, runId, chunks: 1, bytes: 10, keep: [] });
    mkdirSync(path.dirname(carriedFile(root, { ...file, runId: 'gone' })), { recursive: true });
    await assert.rejects(commit('gone'), (e: unknown) => e instanceof ApplicationFailure && e.type === CarriedStateErrors.Missing && e.nonRetryable);
    // A folder where the final file should be: reading it fails with EISDIR, which is no proof
    // that the state is lost, so it is not Missing: the plain error lets Temporal retry.
    mkdirSync(carriedFile(root, { ...file, runId: 'unreadable' }));
    await assert.rejects(commit('unreadable'), (e: unknown) => !(e instanceof ApplicationFailure) && (e as NodeJS.ErrnoException).code === 'EISDIR');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the root cause of a cancelled chain survives continue-as-new: a node added under it later still names it', () => {
  const sleep = { name: 'sleep', parameters: {} };
  const spec = TreeSpecSchema.parse({ id: 't', nodes: [{ id: 'a', block: sleep }, { id: 'b', parentId: 'a', block: sleep }, { id: 'c', parentId: 'b', block: sleep }] });
  const addUnderC = (tree: TreeState) => {
    assert.equal(tree.addNodes({ requestId: 'late', nodes: [{ id: 'd', parentId: 'c', block: sleep }] }, { by: 'client' }, T + 20).ok, true);
    return tree.nodes.get('d')!.error;
  };
  const first = new TreeState(spec);
  assert.deepEqual(first.start(T), { ok: true });
  assert.deepEqual(first.scheduler.next().start, ['a']);
  first.apply(first.scheduler.finish('a', 'FAILED', 1, 'boom'), T + 10);
  assert.equal(first.nodes.get('c')!.state, 'CANCELLED');
  const next = new TreeState(TreeSpecSchema.parse({ id: 't', nodes: [] }), carried(first.carry()));
  const expected = 'dependency "c" CANCELLED (root cause: "a" FAILED)';
  // The same words in the run that saw it happen and in the run after continue-as-new.
  assert.equal(addUnderC(first), expected);
  assert.equal(addUnderC(next), expected);
  // Held by the scheduler, not twice: the restored records do not keep it.
  assert.equal(next.nodes.get('c')!.rootCause, undefined);
});
