/**
 * Reads a Temporal server's Prometheus metrics (`/metrics`, text format): the dev server's
 * `--metrics-port` and the production server's `global.metrics.prometheus` listener expose the
 * same names. Only counters are needed here: `persistence_requests` (one per persistence call,
 * labelled `operation`) and `service_requests` (one per RPC, labelled `operation`).
 */

/** One sample: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (comments and blank lines skipped; histogram buckets kept as samples). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const value = Number(m[4]);
    if (Number.isFinite(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Fetches and parses `url`; throws with the URL named when it does not answer with 200. */
export async function scrape(url: string): Promise<Sample[]> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new Error(`cannot read metrics at ${url}: ${(e as Error).message}`, { cause: e });
  }
  if (!res.ok) throw new Error(`metrics at ${url} answered HTTP ${res.status}`);
  return parsePrometheus(await res.text());
}

/**
 * Persistence operations that write (SQL INSERT/UPDATE/DELETE): creating and updating
 * executions, appending history, creating and completing tasks, shard and task-queue leases.
 */
export const WRITE_OPERATION = /^(Create|Update|Append|Delete|Complete|RangeComplete|RangeDelete|Put|Save|Upsert|Set|Lease|Renew|Trim|ForkHistoryBranch|ConflictResolve)/;

/** Sum of `persistence_requests` per operation (over every service and namespace). */
export function persistenceByOperation(samples: Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== 'persistence_requests') continue;
    const op = s.labels.operation ?? '?';
    out.set(op, (out.get(op) ?? 0) + s.value);
  }
  return out;
}

/** Sum of `service_requests` for one RPC `operation`, on the frontend when the label is there. */
export function rpcCount(samples: Sample[], operation: string): number {
  let any = 0, frontend = 0, sawService = false;
  for (const s of samples) {
    if (s.name !== 'service_requests' || s.labels.operation !== operation) continue;
    any += s.value;
    if (s.labels.service_name !== undefined) {
      sawService = true;
      if (s.labels.service_name === 'frontend') frontend += s.value;
    }
  }
  return sawService ? frontend : any;
}

/** Counters of interest at one moment. */
export interface WriteCounters {
  byOperation: Map<string, number>;
  heartbeatRpcs: number;
}

/** Reads the counters this benchmark compares (persistence calls by operation, heartbeat RPCs). */
export async function readCounters(url: string): Promise<WriteCounters> {
  const samples = await scrape(url);
  const byOperation = persistenceByOperation(samples);
  if (byOperation.size === 0) throw new Error(`metrics at ${url} have no persistence_requests counter: is this a Temporal server's /metrics?`);
  return { byOperation, heartbeatRpcs: rpcCount(samples, 'RecordActivityTaskHeartbeat') };
}

/** Increase of every counter from `a` to `b`. */
export function delta(a: WriteCounters, b: WriteCounters): WriteCounters {
  const byOperation = new Map<string, number>();
  for (const [op, v] of b.byOperation) {
    const d = v - (a.byOperation.get(op) ?? 0);
    if (d !== 0) byOperation.set(op, d);
  }
  return { byOperation, heartbeatRpcs: b.heartbeatRpcs - a.heartbeatRpcs };
}

/** Total of the write operations in `c`. */
export function writes(c: WriteCounters): number {
  let n = 0;
  for (const [op, v] of c.byOperation) if (WRITE_OPERATION.test(op)) n += v;
  return n;
}
