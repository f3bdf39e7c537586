/**
 * The seed's `JobPool`, done right, in one process and without Temporal: the baseline the
 * benchmarks compare the workflow against. It makes the same scheduling decisions as the
 * workflow (it drives the same pure {@link TreeScheduler}), starts a job the moment a slot is
 * free and its dependencies are done (no level barriers), and never runs more than
 * `maxParallelJobs` at once. What it lacks is everything durable: a crash loses the run.
 */
import { TreeScheduler, type RunOutcome } from '../../workflows/scheduler';
import type { PriorityStrategy } from '../../common/schemas';

/** One job of the pool. */
export interface PoolJob<R> {
  id: string;
  /** Ids that must complete first (the first one is the job's parent). */
  dependencies?: readonly string[];
  priority?: number;
  /** Expected seconds, for `critical_path`. */
  expectedDuration?: number;
  /** The work; its rejection makes the job FAILED and cancels its dependents. */
  run(results: ReadonlyMap<string, R>): Promise<R>;
}

/** Options of {@link runPool}. */
export interface PoolOptions {
  maxParallelJobs: number;
  strategy?: PriorityStrategy;
}

/** How each job ended. */
export interface PoolRun<R> {
  states: Map<string, RunOutcome | 'CANCELLED'>;
  results: Map<string, R>;
  /** Wall-clock start and end of each job (epoch ms, measured around `run`). */
  intervals: Map<string, { start: number; end: number }>;
}

/**
 * Runs the jobs to the end. Resolves when every job has ended (failures included); rejects only
 * for an invalid graph (unknown dependency, cycle), before anything runs.
 */
export async function runPool<R>(jobs: readonly PoolJob<R>[], options: PoolOptions): Promise<PoolRun<R>> {
  const scheduler = new TreeScheduler({ strategy: options.strategy ?? 'depth_first', usePriority: true, maxParallel: options.maxParallelJobs });
  scheduler.addNodes(jobs.map((j) => ({
    id: j.id, parentId: j.dependencies?.[0] ?? null, dependencies: j.dependencies ?? [], priority: j.priority ?? 0,
    blockKey: 'job', expectedDuration: j.expectedDuration,
  })));
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const run: PoolRun<R> = { states: new Map(), results: new Map(), intervals: new Map() };
  const running = new Set<string>();

  return new Promise<PoolRun<R>>((resolve) => {
    const pump = (): void => {
      for (const id of scheduler.next().start) launch(id);
      if (running.size === 0 && scheduler.isQuiescent()) {
        for (const n of scheduler.list()) run.states.set(n.id, n.state as RunOutcome);
        resolve(run);
      }
    };
    const launch = (id: string): void => {
      running.add(id);
      const start = Date.now();
      byId.get(id)!.run(run.results).then(
        (r) => end(id, start, 'COMPLETED', r),
        (e: unknown) => end(id, start, 'FAILED', undefined, e),
      );
    };
    const end = (id: string, start: number, outcome: RunOutcome, result?: R, error?: unknown): void => {
      run.intervals.set(id, { start, end: Date.now() });
      if (result !== undefined) run.results.set(id, result);
      running.delete(id);
      scheduler.finish(id, outcome, (Date.now() - start) / 1000, error === undefined ? undefined : String(error));
      pump();
    };
    pump();
  });
}
