/**
 * Supervises one executor run: heartbeats (which is also how Temporal delivers cancellation),
 * the attempt's timeout, and cancellation, all turned into one abort of the executor.
 */
import type { BlockExecutor, ExecJob, ExecOutcome, ExecProgress } from './executors/types';

/** What each heartbeat carries; small, and enough to find the attempt from the Temporal UI. */
export interface HeartbeatDetails {
  containerId: string | null;
  pid: number | null;
  progress: ExecProgress | null;
  attemptDir: string;
}

/** Options of {@link superviseAttempt}. */
export interface SuperviseOptions {
  /** Fires when the activity is cancelled (Temporal's `ctx.cancellationSignal`). */
  cancellation: AbortSignal;
  /** Kill the attempt after this long. */
  timeoutMs: number;
  heartbeat(details: HeartbeatDetails): void;
  /**
   * Heartbeat this often. Progress lines only update what the next heartbeat carries: each
   * heartbeat is one server write, so this interval sets the write rate and how fast a
   * cancellation reaches the attempt (BENCHMARKS.md, failover). @default 2000
   */
  heartbeatIntervalMs?: number;
  /**
   * No heartbeat before the attempt has run this long. Each heartbeat the worker sends is a
   * server write; a node that ends sooner has nothing to report, and cancellation still reaches
   * it (the activity's own cancellation, and the first heartbeat after this delay).
   * @default the smaller of 1000 and `heartbeatIntervalMs`
   */
  firstHeartbeatAfterMs?: number;
}

/** The executor's outcome, and why it was aborted when it was. */
export interface SupervisedOutcome {
  outcome: ExecOutcome;
  abortedBy: 'timeout' | 'cancelled' | null;
}

/**
 * Runs `job` on `executor`; aborts it on cancellation or when `timeoutMs` passes. Heartbeats
 * once the attempt has run `firstHeartbeatAfterMs`, then every `heartbeatIntervalMs`, each with
 * the latest progress line and the container or process running the block (and once more when
 * that container or process starts after the first heartbeat).
 */
export async function superviseAttempt(executor: BlockExecutor, job: ExecJob, opts: SuperviseOptions): Promise<SupervisedOutcome> {
  const controller = new AbortController();
  let abortedBy: SupervisedOutcome['abortedBy'] = null;
  const abort = (why: 'timeout' | 'cancelled'): void => {
    abortedBy ??= why;
    controller.abort(why);
  };
  const details: HeartbeatDetails = { containerId: null, pid: null, progress: null, attemptDir: job.paths.dir };
  const beat = (): void => opts.heartbeat({ ...details });
  let armed = false;
  const onCancel = (): void => abort('cancelled');
  opts.cancellation.addEventListener('abort', onCancel, { once: true });
  if (opts.cancellation.aborted) onCancel();
  const timer = setTimeout(() => abort('timeout'), opts.timeoutMs);
  const interval = opts.heartbeatIntervalMs ?? 2000;
  let ticker: NodeJS.Timeout | undefined;
  const arm = setTimeout(() => {
    armed = true;
    beat();
    ticker = setInterval(beat, interval);
  }, opts.firstHeartbeatAfterMs ?? Math.min(1000, interval));
  try {
    const outcome = await executor.run(job, {
      signal: controller.signal,
      onProgress: (p) => {
        details.progress = p;
      },
      onStarted: (info) => {
        details.containerId = info.containerId ?? null;
        details.pid = info.pid ?? null;
        // Once per attempt: where the block runs reaches the server at once (after the first
        // heartbeat's delay, whose beat carries it otherwise).
        if (armed) beat();
      },
    });
    return { outcome, abortedBy: outcome.status === 'aborted' ? abortedBy : null };
  } finally {
    clearTimeout(timer);
    clearTimeout(arm);
    clearInterval(ticker);
    opts.cancellation.removeEventListener('abort', onCancel);
  }
}
