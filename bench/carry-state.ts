/**
 * What continue-as-new costs for the tree's carried state, now that it goes through the workspace
 * (workflows/carried-state.ts, activities/carried-state.ts), at 10,000 and 20,000 nodes (a
 * realistic finished run with failures, retries, lost workers and cancellations:
 * test/helpers/realistic-tree.ts):
 *  - bytes: the state as plain JSON, the deflated file written to the workspace, its chunks, and
 *    the continue-as-new input (a reference to the file);
 *  - CPU (median of 5 runs, in this process): encode (JSON + deflate) and decode (inflate, parse,
 *    zod check) as the workflow does them, and the activities' write (chunks + commit with
 *    sha256) and read (every chunk, each checking the file's sha256) on a local folder;
 *  - with `--latency`, the time per continue-as-new against the Temporal server
 *    (bench/carry-latency/: load, save and continue as new, through the real local activities).
 * The figures of the columnar codec this replaced are in the record `carry-codec` (measured by
 * this script's previous version, at commit 6694cbd). Logs to bench/record.ts, name `carry-state`.
 *   npx tsc -p . && node dist/bench/carry-state.js [--latency]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCarryActivities } from '../activities/carried-state';
import { decodeState, encodeState, joinChunks, splitChunks, type CarriedState } from '../workflows/carried-state';
import { realisticTree } from '../test/helpers/realistic-tree';
import { measureLatency } from './carry-latency/run';
import { BenchRecord } from './record';
import { median } from '../test/helpers/timeline-checks';

/** Temporal's payload limit (its default `limit.blobSize.error`). */
const LIMIT = 2 * 1024 * 1024;
const SIZES = [10_000, 20_000] as const;
const RUNS = 5;

/** Median wall time (ms) of `RUNS` calls, after one warm-up call. */
async function timed<X>(f: () => X | Promise<X>): Promise<{ ms: number; value: X }> {
  let value = await f();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    value = await f();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(times), value };
}

/** The state a tree of `n` nodes carries (realistic node records; a few requests and a rejection). */
function stateOf(n: number): CarriedState {
  return {
    nodes: realisticTree(n), durationStats: [{ blockKey: 'sleep', count: n, total: n * 0.5 }], requests: ['spec', 'u1', 's1'],
    rejected: [{ requestId: 's1', source: 'signal', at: '2026-11-29T00:00:00.000Z', errors: ['nodes[0].parentId: unknown node "ghost"'] }],
    paused: false, maxParallelJobs: 40, closed: false, runs: 3, version: n * 6,
  };
}

interface Row { nodes: number; plain: number; file: number; chunks: number; largestChunk: number; encodeMs: number; decodeMs: number; writeMs: number; readMs: number }

async function measure(n: number, root: string): Promise<Row> {
  const state = stateOf(n);
  const plain = Buffer.byteLength(JSON.stringify(state));
  const encoded = await timed(() => encodeState(state));
  const bytes = encoded.value;
  const decoded = await timed(() => decodeState(bytes, 'bench'));
  if (decoded.value.nodes.length !== n) throw new Error(`decoded ${decoded.value.nodes.length} nodes of ${n}`);
  const acts = createCarryActivities(root);
  const chunks = splitChunks(bytes);
  const file = { treeId: `bench-${n}`, runKey: 'bench', runId: 'r1' };
  const written = await timed(async () => {
    for (const [index, chunk] of chunks.entries()) await acts.writeCarriedChunk({ ...file, index }, chunk);
    return acts.commitCarried({ ...file, chunks: chunks.length, bytes: bytes.length, keep: [] });
  });
  const ref = { format: 'workspace-deflate-json-v1' as const, ...file, ...written.value, chunks: chunks.length };
  const read = await timed(async () => {
    const back: Uint8Array[] = [];
    for (let index = 0; index < chunks.length; index++) back.push(await acts.readCarriedChunk({ ...ref, index }));
    return joinChunks(back);
  });
  if (!Buffer.from(read.value).equals(Buffer.from(bytes))) throw new Error(`read back ${read.value.length} bytes that differ from the ${bytes.length} written`);
  return { nodes: n, plain, file: bytes.length, chunks: chunks.length, largestChunk: Math.max(...chunks.map((c) => c.length)), encodeMs: encoded.ms, decodeMs: decoded.ms, writeMs: written.ms, readMs: read.ms };
}

/**
 * Logs the size and CPU table, and the latency table when `latency` (needs the Temporal server),
 * and writes them to `.data/bench/carry-state.json` (bench/record.ts). `command`: how the run was
 * started, for the record (default: this script's own command line).
 */
export async function carryState(latency: boolean, command?: string): Promise<void> {
  const rec = new BenchRecord('carry-state', command);
  const root = mkdtempSync(path.join(os.tmpdir(), 'carry-state-'));
  const rows: Row[] = [];
  try {
    for (const n of SIZES) rows.push(await measure(n, root));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  rec.log(`**Carried state through the workspace, realistic tree (failures, retries, lost workers, cancellations); medians of ${RUNS} runs in one process**`);
  rec.log('| nodes | plain JSON bytes | file bytes (deflated) | B/node | chunks | largest chunk, % of 2 MiB | encode ms (JSON + deflate) | decode ms (inflate + parse + zod) | write ms (chunks + commit) | read ms (chunks, sha256 each) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    rec.log(`| ${r.nodes} | ${r.plain} | ${r.file} | ${(r.file / r.nodes).toFixed(1)} | ${r.chunks} | ${((100 * r.largestChunk) / LIMIT).toFixed(1)} | ${r.encodeMs.toFixed(1)} | ${r.decodeMs.toFixed(1)} | ${r.writeMs.toFixed(1)} | ${r.readMs.toFixed(1)} |`);
  }
  if (latency) {
    const lat = await measureLatency(SIZES, stateOf);
    rec.log(`**Continue-as-new latency against the Temporal server (${lat[0]?.runs ?? 0} runs per size, start → result; each run loads the state through local activities, saves it again and continues as new)**`);
    rec.log('| nodes | continue-as-new input bytes | file bytes | chunks | ms per run |\n|---:|---:|---:|---:|---:|');
    for (const l of lat) rec.log(`| ${l.nodes} | ${l.inputBytes} | ${l.fileBytes} | ${l.chunks} | ${l.msPerRun} |`);
  }
  rec.save();
}

if (require.main === module) carryState(process.argv.includes('--latency')).catch((e) => { console.error(e); process.exit(1); });
