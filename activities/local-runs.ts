/**
 * The node runs a worker holds as Temporal *local* activities (trees with `localActivities`), so
 * that its shutdown can stop them after the grace period.
 *
 * Why this exists: on SIGTERM the SDK gives regular activities `shutdownGraceTime` and then
 * cancels them, but Temporal's core waits for local activities with no bound (seen: a worker
 * with a 3 s grace stayed STOPPING for the whole 300 s of a local `sleep` node; Temporal's
 * maintainers keep it so, sdk-rust issue 709). A supervisor would then SIGKILL the worker,
 * leaving its blocks running. With this registry the worker stops its local runs itself when
 * the grace period ends: each run kills its block and records its attempt as cancelled by the
 * shutdown, and its result is never reported, so its tree's workflow task moves to another
 * worker after the task timeout and the node runs again there, as after a crash. Stopping a
 * local run any other way would report it to its tree as a failed node.
 */

/** The reason a stopped local run's signal carries. */
export class WorkerShutdownError extends Error {
  override readonly name = 'WorkerShutdownError';
}

/** One local run's handle: its stop signal, and the call that says it has ended. */
export interface LocalRun {
  /** Aborted (reason: WorkerShutdownError) when the worker stops its local runs. */
  readonly signal: AbortSignal;
  /** The run has ended (its block stopped, its attempt recorded); call once, in every path. */
  done(): void;
}

/** The local runs of one worker (see the module's comment). */
export class LocalRuns {
  /** Each run in progress, with the promise of its end and what resolves it. */
  private readonly runs = new Map<AbortController, { ended: Promise<void>; end: () => void }>();
  private stopReason: WorkerShutdownError | null = null;

  /** How many local runs are in progress. */
  get size(): number {
    return this.runs.size;
  }

  /** Registers a local run. After {@link stopAll} a new run's signal is aborted at once. */
  start(): LocalRun {
    const controller = new AbortController();
    let end: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => { end = resolve; });
    this.runs.set(controller, { ended, end });
    if (this.stopReason) controller.abort(this.stopReason);
    return {
      signal: controller.signal,
      done: () => {
        this.runs.get(controller)?.end();
        this.runs.delete(controller);
      },
    };
  }

  /**
   * Stops every local run (and any started later): aborts each signal with a
   * WorkerShutdownError, then waits until each has called `done()`, or `timeoutMs` passed.
   * @returns how many runs were stopped, and how many had not ended when the wait gave up.
   */
  async stopAll(timeoutMs: number): Promise<{ stopped: number; notEnded: number }> {
    this.stopReason ??= new WorkerShutdownError('the worker is shutting down');
    const stopping = [...this.runs.entries()];
    for (const [controller] of stopping) controller.abort(this.stopReason);
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
    await Promise.race([Promise.all(stopping.map(([, run]) => run.ended)), gaveUp]);
    clearTimeout(timer);
    return { stopped: stopping.length, notEnded: stopping.filter(([controller]) => this.runs.has(controller)).length };
  }
}
