/**
 * What continue-as-new carries, two ways, at 10,000 and 20,000 nodes (a realistic finished run
 * with failures, retries, lost workers and cancellations: test/helpers/realistic-tree.ts):
 *  - `codec`: the columnar codec (workflows/carry-codec.ts, v2) that carried node records until
 *    issue 11, as JSON text;
 *  - `deflate`: the node records as plain JSON, UTF-8, deflated with fflate (level 6), carried as
 *    a binary payload; `deflate+base64` is the same bytes as a base64 string inside JSON.
 * Prints bytes, bytes/node, share of Temporal's 2 MiB payload limit, and encode/decode CPU (median
 * of 5 runs, in this process), and writes the figures to .data/bench/carry-state.json.
 * With `--latency` it also measures continue-as-new latency against the Temporal server
 * (bench/carry-latency/run.ts). bench/scale.ts runs this with `--only=carry`.
 *   npx tsc -p . && node dist/bench/carry-state.js [--latency]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync, inflateSync, strFromU8, strToU8 } from 'fflate';
import { decodeNodes, encodeNodes, utf8Length } from '../workflows/carry-codec';
import type { NodeRecord } from '../workflows/node-record';
import { realisticTree } from '../test/helpers/realistic-tree';
import { measureLatency, type LatencyRow } from './carry-latency/run';
import { median } from '../test/helpers/timeline-checks';

const LIMIT = 2 * 1024 * 1024;
const RUNS = 5;

/** Median wall time (ms) of `RUNS` calls, after one warm-up call. */
function timed<X>(f: () => X): { ms: number; value: X } {
  let value = f();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    value = f();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(times), value };
}

interface Row { nodes: number; form: string; bytes: number; bytesPerNode: number; shareOfLimit: number; encodeMs: number; decodeMs: number }

function measure(n: number): Row[] {
  const nodes = realisticTree(n);
  const row = (form: string, bytes: number, encodeMs: number, decodeMs: number): Row =>
    ({ nodes: n, form, bytes, bytesPerNode: +(bytes / n).toFixed(1), shareOfLimit: +(bytes / LIMIT).toFixed(3), encodeMs: +encodeMs.toFixed(1), decodeMs: +decodeMs.toFixed(1) });
  const plain = JSON.stringify(nodes);
  const codec = timed(() => JSON.stringify(encodeNodes(nodes)));
  const codecBack = timed(() => decodeNodes(JSON.parse(codec.value) as ReturnType<typeof encodeNodes>));
  const deflated = timed(() => deflateSync(strToU8(JSON.stringify(nodes)), { level: 6 }));
  const inflated = timed(() => JSON.parse(strFromU8(inflateSync(deflated.value))) as NodeRecord[]);
  const b64 = Buffer.from(deflated.value).toString('base64');
  const parse = timed(() => JSON.parse(plain) as NodeRecord[]);
  return [
    row('plain JSON', utf8Length(plain), timed(() => JSON.stringify(nodes)).ms, parse.ms),
    row('codec v2 (JSON text)', utf8Length(codec.value), codec.ms, codecBack.ms),
    row('JSON + deflate (binary payload)', deflated.value.length, deflated.ms, inflated.ms),
    row('JSON + deflate + base64 (in JSON)', b64.length, deflated.ms, inflated.ms),
  ];
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Prints the table, measures latency when asked, and writes .data/bench/carry-state.json. */
export async function carryState(latency: boolean): Promise<void> {
  const sizes = [10_000, 20_000];
  const rows = sizes.flatMap(measure);
  console.log('| nodes | form | bytes | B/node | % of 2 MiB | encode ms | decode ms |');
  console.log('|---:|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.nodes} | ${r.form} | ${r.bytes} | ${r.bytesPerNode} | ${(100 * r.shareOfLimit).toFixed(1)} | ${r.encodeMs} | ${r.decodeMs} |`);
  const out = path.join(__dirname, '..', '..', '.data', 'bench');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, 'carry-state.json');
  const continueAsNew: LatencyRow[] = latency ? await measureLatency(sizes) : [];
  const record = { name: 'carry-state', commit: commit(), date: new Date().toISOString(), node: process.version, limitBytes: LIMIT, rows, continueAsNew };
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  console.log(`# written to ${path.relative(process.cwd(), file)}`);
}

if (require.main === module) carryState(process.argv.includes('--latency')).catch((e) => { console.error(e); process.exit(1); });
