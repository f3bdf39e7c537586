/**
 * Every Temporal attempt of one workflow attempt of a node, read back from the workspace.
 *
 * Temporal retries an activity by itself (`maxRetries`, `retryDelay`), so the workflow only sees
 * the last attempt's result or failure. Each attempt leaves a folder `attempts/<run>-<k>/` with
 * its `job.json` (a local activity's run: `attempts/<run>-<k>-<tag>/`, workspace.ts
 * attemptFolderName) and, when it ended on its own terms, an `outcome.json`; a folder without an
 * outcome belongs to a worker that died mid-attempt (LOST). Returning this list with the result
 * (or in the failure details) gives the timeline one bar per attempt.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { AttemptOutcomeRecordSchema, formatZodError, type ActivityAttempt } from '../common/schemas';
import { nodeDir, parseAttemptFolder, type AttemptFolder, type AttemptRecord } from './workspace';
import { RunnerNames } from '../common/runner-contract';

const OUTCOMES: Record<AttemptRecord['status'], ActivityAttempt['outcome']> = {
  succeeded: 'COMPLETED',
  failed: 'FAILED',
  timeout: 'TIMEOUT',
  cancelled: 'CANCELLED',
};

/** The attempts of workflow attempt `run` of a node, oldest first; [] when there are none. */
export async function readAttemptHistory(root: string, treeId: string, nodeId: string, run: number): Promise<ActivityAttempt[]> {
  const dir = path.join(nodeDir(root, treeId, nodeId), 'attempts');
  const names = (await readdir(dir).catch(() => [] as string[]))
    .map((name) => ({ name, f: parseAttemptFolder(name) }))
    .filter((x): x is { name: string; f: AttemptFolder } => x.f !== null && x.f.attempt === run);
  const out: ActivityAttempt[] = [];
  for (const { name, f } of names) {
    const folder = path.join(dir, name);
    const rec = await readOutcome(path.join(folder, 'outcome.json'));
    if ('record' in rec) {
      out.push(historyEntry(rec.record));
    } else {
      // No outcome: the worker vanished mid-attempt, or wrote one that cannot be read back (say
      // which: an attempt that ended is not a lost worker). Its start is when the job file was written.
      const started = await stat(path.join(folder, RunnerNames.jobFile)).then((s) => s.mtime.toISOString()).catch(() => null);
      const error = rec.problem ?? 'no outcome recorded: the worker was lost mid-attempt';
      if (started) out.push({ attempt: f.activityAttempt, startedAt: started, endedAt: null, outcome: 'LOST', worker: 'unknown', error });
    }
  }
  // By attempt, then by start: a local activity's runs on two workers can share attempt numbers.
  return out.sort((a, b) => a.attempt - b.attempt || a.startedAt.localeCompare(b.startedAt));
}

/**
 * An attempt's `outcome.json`: its record, or why there is none (`problem` null: no file, the
 * worker never wrote one; else what is wrong with the file, in one line).
 */
async function readOutcome(file: string): Promise<{ record: AttemptRecord } | { problem: string | null }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? null : `outcome.json cannot be read (${code ?? (e as Error).message})` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problem: 'outcome.json is not JSON (a partial write?)' };
  }
  const parsed = AttemptOutcomeRecordSchema.safeParse(raw);
  return parsed.success ? { record: parsed.data } : { problem: `outcome.json is not an attempt record: ${formatZodError(parsed.error).replace(/\n/g, '; ')}` };
}

/** How an attempt's `outcome.json` record appears in the attempt history. */
export function historyEntry(rec: AttemptRecord): ActivityAttempt {
  return {
    attempt: rec.activityAttempt, startedAt: rec.startedAt, endedAt: rec.endedAt, outcome: OUTCOMES[rec.status] ?? 'FAILED',
    worker: rec.worker ?? 'unknown', ...(rec.failureType ? { errorType: rec.failureType } : {}),
    ...(rec.exitCode !== null && rec.exitCode !== undefined ? { exitCode: rec.exitCode } : {}), memoryMB: rec.memoryMB,
  };
}
