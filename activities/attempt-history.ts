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
import type { ActivityAttempt } from '../common/schemas';
import { nodeDir, parseAttemptFolder, type AttemptFolder, type AttemptRecord } from './workspace';

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
    const rec = await readFile(path.join(folder, 'outcome.json'), 'utf8').then((t) => JSON.parse(t) as AttemptRecord).catch(() => null);
    if (rec) {
      out.push(historyEntry(rec));
    } else {
      // No outcome: the worker vanished mid-attempt. Its start is when the job file was written.
      const started = await stat(path.join(folder, 'job.json')).then((s) => s.mtime.toISOString()).catch(() => null);
      if (started) out.push({ attempt: f.activityAttempt, startedAt: started, endedAt: null, outcome: 'LOST', worker: 'unknown', error: 'no outcome recorded: the worker was lost mid-attempt' });
    }
  }
  // By attempt, then by start: a local activity's runs on two workers can share attempt numbers.
  return out.sort((a, b) => a.attempt - b.attempt || a.startedAt.localeCompare(b.startedAt));
}

/** How an attempt's `outcome.json` record appears in the attempt history. */
export function historyEntry(rec: AttemptRecord): ActivityAttempt {
  return {
    attempt: rec.activityAttempt, startedAt: rec.startedAt, endedAt: rec.endedAt, outcome: OUTCOMES[rec.status] ?? 'FAILED',
    worker: rec.worker ?? 'unknown', ...(rec.failureType ? { errorType: rec.failureType } : {}),
    ...(rec.exitCode !== null && rec.exitCode !== undefined ? { exitCode: rec.exitCode } : {}), memoryMB: rec.memoryMB,
  };
}
