/**
 * Structured JSON logs: one JSON object per line on stderr, with the tree and node ids the SDK
 * attaches to activity and workflow log entries (`workflowId` is the tree id) lifted to
 * top-level `treeId` / `nodeId` fields, so a log shipper can filter one tree or one node.
 */
import { DefaultLogger, type LogEntry, type Logger, type LogLevel } from '@temporalio/worker';

export type { Logger };

/** Turns one SDK log entry into the JSON line we print. Exported for tests. */
export function formatLogEntry(entry: LogEntry): string {
  const meta = (entry.meta ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {
    ts: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
    level: entry.level,
    msg: entry.message,
  };
  const treeId = meta.treeId ?? meta.workflowId;
  if (treeId !== undefined) out.treeId = treeId;
  for (const [k, v] of Object.entries(meta)) if (!(k in out)) out[k] = v instanceof Error ? v.message : v;
  return JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** A logger printing JSON lines to stderr at `level` and above. */
export function createJsonLogger(level: LogLevel = 'INFO', write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger {
  return new DefaultLogger(level, (entry) => write(formatLogEntry(entry)));
}
