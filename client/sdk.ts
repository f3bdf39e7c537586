/**
 * The typed SDK other services import to start, grow, steer and watch analysis trees. Outside
 * the checkout it comes from the installed package, `import { RagomicsClient } from 'ragomics'`
 * (the package's one entry, client/index.ts, re-exports this module with the errors and types;
 * docs/cli.md, "From another service").
 *
 * ```ts
 * const rc = await RagomicsClient.connect();            // env: TEMPORAL_ADDRESS, ...
 * const tree = await rc.startTree(spec);                 // validated before anything starts
 * for await (const s of tree.watch()) console.log(s.counts);
 * const result = await tree.result();
 * ```
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { isAbsolute } from 'node:path';
import {
  WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError,
  type Client, type Connection, type WorkflowHandle,
} from '@temporalio/client';
import { AddNodesRequestSchema, AddSamplesRequestSchema, SPEC_REQUEST_ID, TreeSpecSchema, formatZodError, reservedRequestIdError, type TreeSpec, type NodeSpecInput, type SampleRow, type TreeSpecInput } from '../common/schemas';
import * as SA from '../common/search-attributes';
import { blockParameterErrors, validateTreeSpec } from '../common/tree-validation';
import {
  addNodesSignal, addNodesUpdate, addSamplesUpdate, cancelNodeUpdate, cancelTreeSignal, closeTreeSignal, metricsQuery, setMaxParallelJobsUpdate,
  setPausedSignal, statusQuery, summaryQuery, timelineQuery, type AddNodesResult, type AddSamplesResult, type StatusQueryOptions, type TreeLoading,
} from '../workflows/messages';
import type { AnalysisTreeInput, TreeResult } from '../workflows/analysis-tree';
import type { TimelineEntry, TreeMetrics, TreeSummary } from '../workflows/views';
import { openClient, resolveConnection, type ConnectOptions } from './connection';
import type { ExportCrateOptions, ExportCrateResult } from './crate';
import { InvalidInputError, NoWorkerError, RagomicsError, TreeFinishedError, TreeIdTakenError, TreeNotFoundError } from './errors';
import { forkTree, type ForkedTree, type ForkOptions, type ForkSpecInput } from './fork';
import { GrpcStatus, grpcStatusOf, toRagomicsError, wrapServiceError } from './service-errors';
import { hasPollers } from './task-queue-pollers';
import { describeNodeActivities, mergeNodeActivityViews, type LiveTreeStatus } from './slot-wait';

export type { LiveNodeStatus, LiveTreeStatus, NodeWait } from './slot-wait';
export type { ForkedTree, ForkOptions, ForkSpecInput } from './fork';

/** Options of {@link TreeHandle.status}. */
export type StatusOptions = Omit<StatusQueryOptions, 'offset' | 'limit'> & {
  /** Merge in which dispatched nodes wait for a worker (one `describe()` call more). @default true */
  nodeWaits?: boolean;
  /** Cancels the calls (the status then rejects); see {@link TreeHandle.summary}. */
  signal?: AbortSignal;
};

/** Options of {@link TreeHandle.addNodes} and {@link TreeHandle.addNodesAsync}. */
export interface AddNodesOptions {
  /** Makes the call idempotent. @default a random UUID */
  requestId?: string;
  /** A label for who asks (`cli`, `agent`, ...); it prefixes the identity in the nodes' provenance. @default 'client' */
  source?: string;
  /** Identity recorded in the added nodes' provenance (at most 200 characters). @default {@link clientIdentity}() */
  client?: string;
}

/**
 * This process as a caller: `user@host pid N` (the user is left out where the OS cannot name
 * it, e.g. a container running as an unnamed uid).
 */
export function clientIdentity(): string {
  let user: string | null = null;
  try {
    user = userInfo().username;
  } catch {
    user = null; // no passwd entry for this uid
  }
  return `${user ? `${user}@` : ''}${hostname()} pid ${process.pid}`;
}

/** Workflow type name of an analysis tree. */
export const TREE_WORKFLOW_TYPE = 'analysisTree';

/**
 * Longest wait for a tree that answers queries with "loading" (its first workflow task after a
 * continue-as-new reads the state: well under a second at 20,000 nodes, BENCHMARKS.md 4b; the
 * margin is for a loaded machine and a worker that restarts mid-load).
 */
const QUERY_LOADING_WAIT_MS = 60_000;


/** Options of {@link RagomicsClient.startTree}. */
export interface StartTreeOptions {
  /** Task queue of the workers. @default the client's task queue */
  taskQueue?: string;
  /** Continue as new after this many history events (tests of big trees). */
  continueAsNewAfterEvents?: number;
  /**
   * When a tree with `spec.id` already exists: `attach` returns the running tree (a closed one's
   * id is used again); `fail` throws {@link TreeIdTakenError} for any tree Temporal still knows,
   * running or closed (a fork asks for a fresh tree). @default 'attach'
   */
  ifIdTaken?: 'attach' | 'fail';
}

/**
 * Data paths that are not absolute, one line each. The workers open them, on their own hosts
 * and from their own folders, so a relative path would mean another file there, or none. (The
 * CLI resolves a spec's or a sheet's paths against that file before they get here.)
 */
function relativeDataPaths(inputDataPath: string | undefined, samples: readonly SampleRow[], samplesField: string): string[] {
  const problems: string[] = [];
  const why = 'is relative; give the path as the workers see it (absolute)';
  if (inputDataPath !== undefined && !isAbsolute(inputDataPath)) problems.push(`inputDataPath: "${inputDataPath}" ${why}`);
  samples.forEach((row, i) => {
    if (!isAbsolute(row.path)) problems.push(`${samplesField}[${i}].path: "${row.path}" ${why}`);
  });
  return problems;
}

/** Parses and validates a spec exactly as the workflow will; throws {@link InvalidInputError} naming each bad field. */
export function validateSpec(spec: unknown): ReturnType<typeof TreeSpecSchema.parse> {
  const parsed = TreeSpecSchema.safeParse(spec);
  // The block parameters of the nodes that parse are named in the same pass as the shape errors.
  if (!parsed.success) throw new InvalidInputError([...formatZodError(parsed.error).split('\n'), ...blockParameterErrors(spec)]);
  const graph = validateTreeSpec(parsed.data);
  if (!graph.ok) throw new InvalidInputError(graph.errors);
  return parsed.data;
}

/** Connection to a Temporal cluster running ragomics workers. */
export class RagomicsClient {
  private constructor(readonly client: Client, private readonly connection: Connection, readonly taskQueue: string, readonly address: string) {}

  /** Connects (options override environment). Throws {@link ServiceUnavailableError} when the server does not answer. */
  static async connect(options: ConnectOptions = {}): Promise<RagomicsClient> {
    const resolved = resolveConnection(options);
    const { client, connection } = await openClient(resolved);
    return new RagomicsClient(client, connection, resolved.taskQueue, resolved.address);
  }

  /**
   * Validates `spec` and starts its tree. With a caller-chosen `spec.id`, starting again while
   * that tree runs returns the running tree instead of a second one (idempotent; the handle's
   * `attached` is then true, and this `spec` was not used). A tree with that id that has ended
   * is started again as a new run. With `options.ifIdTaken: 'fail'`, any tree Temporal knows
   * under that id is refused instead.
   * @throws InvalidInputError when the spec is invalid (nothing is started); TreeIdTakenError
   *   with `ifIdTaken: 'fail'`, or when the id is held by a running workflow that is not a tree;
   *   ServiceUnavailableError when the server does not answer.
   */
  async startTree(spec: TreeSpecInput, options: StartTreeOptions = {}): Promise<TreeHandle> {
    const parsed = validateSpec(spec);
    const relative = relativeDataPaths(parsed.inputDataPath, Array.isArray(parsed.samples) ? parsed.samples : [], 'samples');
    if (relative.length > 0) throw new InvalidInputError(relative);
    checkSomethingToRun(parsed);
    const id = parsed.id ?? `tree-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomUUID().slice(0, 8)}`;
    const input: AnalysisTreeInput = { spec: { ...spec, id }, continueAsNewAfterEvents: options.continueAsNewAfterEvents };
    const nodes = parsed.nodes.length;
    try {
      const handle = await this.client.workflow.start(TREE_WORKFLOW_TYPE, {
        args: [input],
        taskQueue: options.taskQueue ?? this.taskQueue,
        workflowId: id,
        // A running tree with this id is never started twice. Refused here rather than followed
        // (USE_EXISTING) so the caller learns it attached (below); an ended one is started anew.
        workflowIdConflictPolicy: 'FAIL' as const,
        ...(options.ifIdTaken === 'fail' ? { workflowIdReusePolicy: 'REJECT_DUPLICATE' as const } : {}),
        staticSummary: `Analysis tree ${id}: ${parsed.userRequest ? parsed.userRequest.slice(0, 120) : `${nodes} node(s)`}`,
        staticDetails: [
          `**User request:** ${parsed.userRequest || '(none)'}`,
          `**Input:** ${parsed.inputDataPath ?? (Array.isArray(parsed.samples) ? `${parsed.samples.length} samples` : '(none)')}`,
          `**Nodes at start:** ${nodes} · **maxParallelJobs:** ${parsed.maxParallelJobs} · **strategy:** ${parsed.priorityStrategy}`,
          `**Limits:** maxNodes ${parsed.maxNodes}, maxChildrenPerNode ${parsed.maxChildrenPerNode}, jobTimeout ${parsed.jobTimeout}s, maxRetries ${parsed.maxRetries}`,
          ...(parsed.origin ? [`**Forked from:** tree ${parsed.origin.treeId}, node ${parsed.origin.nodeId} (sha256 ${parsed.origin.outputSha256.slice(0, 12)}…)`] : []),
        ].join('\n\n'),
        typedSearchAttributes: [
          { key: SA.TreeIdKey, value: id },
          { key: SA.TreeStateKey, value: 'RUNNING' },
          { key: SA.NodesTotalKey, value: nodes },
        ],
      });
      return new TreeHandle(handle);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        if (options.ifIdTaken === 'fail') throw await this.idTaken(id, err);
        // Only a tree is followed: the id may be held by another kind of workflow.
        const running = this.client.workflow.getHandle(id);
        const type = await running.describe().then((d) => d.type, (e: unknown) => { throw wrapServiceError(e); });
        if (type !== TREE_WORKFLOW_TYPE) throw new TreeIdTakenError(`id: "${id}" is taken by a running workflow of type ${type}, not a tree; choose another id`, { cause: err });
        return new TreeHandle(running, true);
      }
      throw wrapServiceError(err);
    }
  }

  /**
   * Starts a new tree from the published output of node `nodeId` of tree `treeId` (running, or
   * finished while Temporal still knows it): the node must be COMPLETED with an AnnData output,
   * whose sha256 is checked (unless `options.verifyOutput` is false). The new tree's
   * `inputDataPath` is that output and its spec records `origin`. `spec` holds the new tree's
   * nodes (roots read the forked output) and any other spec field; without nodes, the source
   * node's descendants are copied with its children as roots. Runs on the source tree's task
   * queue unless `options.taskQueue` says otherwise. See client/fork.ts.
   * @throws TreeNotFoundError unknown source tree; ForkSourceError (`problem` says which:
   *   unknown node, not completed, no output, output unreadable or changed, nothing to copy);
   *   TreeIdTakenError when `spec.id` names a tree Temporal knows; InvalidInputError for an
   *   invalid spec. Nothing is started in any of these cases.
   */
  async forkTree(treeId: string, nodeId: string, spec: ForkSpecInput = {}, options: ForkOptions = {}): Promise<ForkedTree> {
    return forkTree(this, treeId, nodeId, spec, options);
  }

  /** The error for a start refused because `id` is taken, naming the holder's status. */
  private async idTaken(id: string, cause: unknown): Promise<TreeIdTakenError> {
    const status = await this.client.workflow.getHandle(id).describe().then((d) => `its workflow is ${d.status.name}`, () => 'Temporal knows it');
    return new TreeIdTakenError(`id: tree id "${id}" is taken (a tree with that id exists: ${status}); choose another`, { cause });
  }

  /** A handle to an existing tree (no server call until used). */
  getTree(treeId: string): TreeHandle {
    return new TreeHandle(this.client.workflow.getHandle(treeId));
  }

  /**
   * Lists trees through visibility, newest first. `query` is a Temporal list filter over the
   * search attributes, e.g. `RagomicsTreeState = "RUNNING"`.
   */
  async listTrees(query?: string, limit = 100): Promise<{ treeId: string; status: string; state?: string; startTime: Date; nodesTotal?: number; nodesCompleted?: number }[]> {
    const filter = [`WorkflowType = '${TREE_WORKFLOW_TYPE}'`, query ? `(${query})` : ''].filter(Boolean).join(' AND ');
    const out = [];
    try {
      for await (const wf of this.client.workflow.list({ query: filter })) {
        const sa = wf.typedSearchAttributes;
        out.push({
          treeId: wf.workflowId, status: wf.status.name, state: sa.get(SA.TreeStateKey), startTime: wf.startTime,
          nodesTotal: sa.get(SA.NodesTotalKey), nodesCompleted: sa.get(SA.NodesCompletedKey),
        });
        if (out.length >= limit) break;
      }
    } catch (err) {
      throw wrapServiceError(err);
    }
    return out;
  }

  /**
   * Exports a tree as a Workflow Run RO-Crate (Provenance Run Crate profile; docs/crate.md): a
   * zip when `file` ends in `.zip`, else a folder. The tree's queries are answered by a worker
   * (one must poll its task queue) and its workspace must be readable from here. A running tree
   * is exported as an unfinished run (`incomplete: true`). Written atomically: on any failure
   * nothing is left at `file`.
   * @throws InvalidInputError (bad option, `file` exists without `force`), TreeNotFoundError,
   *   WorkspaceMissingError (its files are gone or elsewhere: `workspace` names another root).
   */
  async exportCrate(treeId: string, file: string, options: ExportCrateOptions = {}): Promise<ExportCrateResult> {
    // Loaded here, not with the SDK: the crate writer (and its zip library) only serves this call.
    const { exportCrate } = await import('./crate/index.js');
    return exportCrate(this, treeId, file, options);
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** One tree: grow it, steer it, read it, wait for it. */
export class TreeHandle {
  /**
   * @param workflow the tree's workflow (its latest run).
   * @param attached true when {@link RagomicsClient.startTree} found this tree already running
   *   under the spec's id and returned it instead of starting one (the spec it was given unused).
   */
  constructor(readonly workflow: WorkflowHandle, readonly attached = false) {}

  get treeId(): string {
    return this.workflow.workflowId;
  }

  /**
   * Whether a worker polls this tree's task queue (one that polled within the last 90 s).
   * Changes made by update (`addNodes`, `addSamples`, `cancelNode`, `setMaxParallelJobs`) are
   * applied by a worker: with none polling they wait until one comes, as Temporal updates do (so
   * a change made while the workers restart is applied when they are back), and queries
   * (`status`, `metrics`, `timeline`) fail with NoWorkerError after about 30 s. A service that
   * would rather fail fast asks first, as the CLI does. Only a hint: a server that cannot list
   * pollers answers true.
   * @throws TreeNotFoundError for an unknown id; ServiceUnavailableError when the server does not answer.
   */
  async hasWorker(): Promise<boolean> {
    const d = await this.call(() => this.workflow.describe());
    return hasPollers(this.workflow.client, d.taskQueue);
  }

  /**
   * Adds nodes and waits until the tree accepted them (they are scheduled at once). Waits for a
   * worker when none polls the tree's task queue ({@link hasWorker}).
   * `requestId` makes the call idempotent (a random one is used when omitted); the request id and
   * `client` identity become the nodes' provenance.
   * @throws InvalidInputError naming the offending id; the tree is unchanged.
   */
  async addNodes(nodes: NodeSpecInput[], options: AddNodesOptions = {}): Promise<AddNodesResult> {
    checkRequestId(options.requestId);
    const request = { requestId: options.requestId ?? randomUUID(), nodes, source: options.source ?? 'client', client: options.client ?? clientIdentity() };
    const parsed = AddNodesRequestSchema.safeParse(request);
    if (!parsed.success) throw new InvalidInputError(formatZodError(parsed.error).split('\n'));
    return this.call(() => this.workflow.executeUpdate(addNodesUpdate, { args: [parsed.data] }));
  }

  /**
   * Adds samples to a running cohort (rows `{ sample, path, ...columns }`, paths absolute as the
   * workers see them; `readAddSamplesFile` in client/spec-file.ts reads a sheet): the tree expands
   * its `forEachSample` templates for them and adds their nodes to every gather over a template.
   * All or nothing; `requestId` makes it idempotent (a random one is used when omitted).
   * @throws InvalidInputError naming the row and column, or the gather node that has already
   *   started and its state; the tree is unchanged.
   */
  async addSamples(samples: SampleRow[], options: { requestId?: string } = {}): Promise<AddSamplesResult> {
    checkRequestId(options.requestId);
    const parsed = AddSamplesRequestSchema.safeParse({ requestId: options.requestId ?? randomUUID(), samples });
    if (!parsed.success) throw new InvalidInputError(formatZodError(parsed.error).split('\n'));
    const relative = relativeDataPaths(undefined, parsed.data.samples, 'samples');
    if (relative.length > 0) throw new InvalidInputError(relative);
    return this.call(() => this.workflow.executeUpdate(addSamplesUpdate, { args: [parsed.data] }));
  }

  /** Fire-and-forget form of {@link addNodes}: invalid additions show up in `status().rejected`. */
  async addNodesAsync(nodes: NodeSpecInput[], options: AddNodesOptions = {}): Promise<void> {
    checkRequestId(options.requestId);
    const request = { requestId: options.requestId ?? randomUUID(), nodes, source: options.source ?? 'client', client: options.client ?? clientIdentity() };
    await this.call(() => this.workflow.signal(addNodesSignal, request as never));
  }

  /** Cancels one node (a running container is stopped) and its dependents; returns the ids cancelled. Waits for a worker ({@link hasWorker}). */
  async cancelNode(nodeId: string, reason?: string): Promise<string[]> {
    const res = await this.call(() => this.workflow.executeUpdate(cancelNodeUpdate, { args: [{ nodeId, reason }] }));
    return res.cancelled;
  }

  /** Cancels the whole tree: running containers stop, nothing new starts. */
  async cancel(reason?: string): Promise<void> {
    await this.call(() => this.workflow.signal(cancelTreeSignal, { reason }));
  }

  /** Stops starting new nodes (running ones go on). */
  async pause(): Promise<void> {
    await this.call(() => this.workflow.signal(setPausedSignal, true));
  }

  /** Resumes starting nodes. */
  async resume(): Promise<void> {
    await this.call(() => this.workflow.signal(setPausedSignal, false));
  }

  /** Closes a tree kept open for an external agent. */
  async close(): Promise<void> {
    await this.call(() => this.workflow.signal(closeTreeSignal));
  }

  /** Changes `maxParallelJobs` while the tree runs. Waits for a worker ({@link hasWorker}). */
  async setMaxParallelJobs(n: number): Promise<{ previous: number; current: number }> {
    return this.call(() => this.workflow.executeUpdate(setMaxParallelJobsUpdate, { args: [n] }));
  }

  /**
   * Status with every node (pages through big trees). Unless `nodeWaits` is false, the server's
   * view of the dispatched nodes is merged in (one `describe()` call): a RUNNING node that no
   * worker has started yet carries `waitingFor` (e.g. every worker slot on its task queue is
   * busy) and `startedAt: null`; `waitingForWorkerSlot` counts them. See client/slot-wait.ts.
   */
  async status(options: StatusOptions = {}): Promise<LiveTreeStatus> {
    const { nodeWaits = true, signal, ...query } = options;
    if (signal) return this.workflow.client.withAbortSignal(signal, () => this.status({ ...query, nodeWaits }));
    const [first, views] = await Promise.all([
      this.query(() => this.workflow.query(statusQuery, { ...query, offset: 0, limit: 1000 })),
      nodeWaits ? this.call(() => describeNodeActivities(this.workflow)) : null,
    ]);
    while (first.nodes.length < first.totalNodes) {
      const page = await this.query(() => this.workflow.query(statusQuery, { ...query, offset: first.nodes.length, limit: 1000 }));
      if (page.nodes.length === 0) break;
      first.nodes.push(...page.nodes);
    }
    return views ? mergeNodeActivityViews(first, views) : first;
  }

  /** The seed's metrics and more. */
  async metrics(): Promise<TreeMetrics> {
    return this.query(() => this.workflow.query(metricsQuery));
  }

  /**
   * Cheap summary with a version number that changes whenever the tree changes. `signal` cancels
   * the call (it then rejects), e.g. once the tree's result is in: the server answers a query of
   * a closed workflow only after a worker replayed its history.
   */
  async summary(options: { signal?: AbortSignal } = {}): Promise<TreeSummary> {
    if (options.signal) return this.workflow.client.withAbortSignal(options.signal, () => this.summary());
    return this.query(() => this.workflow.query(summaryQuery));
  }

  /** Every attempt of every node (pages through big trees). */
  async timeline(): Promise<TimelineEntry[]> {
    const entries: TimelineEntry[] = [];
    for (;;) {
      const page = await this.query(() => this.workflow.query(timelineQuery, { offset: entries.length, limit: 2000 }));
      entries.push(...page.entries);
      if (page.entries.length === 0 || entries.length >= page.total) return entries;
    }
  }

  /** Waits for the tree to finish and returns its result (failures listed, state COMPLETED/FAILED/CANCELLED). */
  async result(): Promise<TreeResult> {
    return this.call(() => this.workflow.result() as Promise<TreeResult>);
  }

  /** True while the tree's workflow is running. */
  async isRunning(): Promise<boolean> {
    const d = await this.call(() => this.workflow.describe());
    return d.status.name === 'RUNNING' || d.status.name === 'CONTINUED_AS_NEW';
  }

  /**
   * Yields a summary whenever the tree changes (polling a cheap query every `intervalMs`),
   * and a last one when it ends.
   */
  async *watch(intervalMs = 1000): AsyncGenerator<TreeSummary> {
    let version = -1;
    for (;;) {
      const s = await this.summary();
      if (s.version !== version) {
        version = s.version;
        yield s;
      }
      if (s.state !== 'RUNNING') return;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /**
   * Runs a query, asking again while the tree answers {@link TreeLoading} (a new run reading its
   * state after continue-as-new: a fraction of a second; given up after `QUERY_LOADING_WAIT_MS`).
   */
  private async query<T extends object>(fn: () => Promise<T | TreeLoading>): Promise<T> {
    const end = Date.now() + QUERY_LOADING_WAIT_MS;
    for (;;) {
      const answer = await this.call(fn, 'query').catch((err: unknown) => this.retryDroppedQuery(err, fn));
      if (!('loading' in answer && answer.loading === true)) return answer as T;
      if (Date.now() > end) throw new RagomicsError(`tree "${this.treeId}" was still loading its state from its previous run after ${QUERY_LOADING_WAIT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * A query to a tree that has just closed can be lost by the worker: the Temporal SDK evicts the
   * closed run from its cache and drops a query task buffered for it ("There were leftover
   * buffered tasks when evicting run" in the worker's log), and the server gives up after its
   * ~30 s deadline. Seen with two queries sent at once right after a tree's `result()`
   * (issue 14's lease and crate work). The next query replays the closed run from its history and
   * is answered, so a DEADLINE_EXCEEDED on a closed tree is asked once more; any other failure,
   * or a tree still running (a worker that really is missing or busy), is rethrown as it came.
   */
  private async retryDroppedQuery<T>(err: unknown, fn: () => Promise<T>): Promise<T> {
    const dropped = err instanceof NoWorkerError && grpcStatusOf(err.cause) === GrpcStatus.DEADLINE_EXCEEDED;
    if (!dropped) throw err;
    const closed = await this.workflow.describe().then((d) => d.status.name !== 'RUNNING', () => false);
    if (!closed) throw err;
    return this.call(fn, 'query');
  }

  /**
   * Runs one server call, mapping its failure to the SDK's error classes. `query` marks calls
   * a worker must answer: only their FAILED_PRECONDITION / DEADLINE_EXCEEDED mean "no worker".
   */
  private async call<T>(fn: () => Promise<T>, kind: 'query' | 'other' = 'other'): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw await this.notFoundOrFinished(err);
      // The server answers a query nobody polls for with FAILED_PRECONDITION when the queue's
      // pollers went away, and with DEADLINE_EXCEEDED after ~30 s when none ever came or all are busy.
      const code = grpcStatusOf(err);
      if (kind === 'query' && (code === GrpcStatus.FAILED_PRECONDITION || code === GrpcStatus.DEADLINE_EXCEEDED)) {
        // Named, so the way out is exact (one more call, on this failure path only).
        const queue = await this.workflow.describe().then((d) => d.taskQueue, () => null);
        const on = queue === null ? 'the tree\'s task queue' : `task queue "${queue}"`;
        throw new NoWorkerError(`no worker answered (none polls ${on}, or none took the query in time); start one with \`ragomics worker${queue === null ? '' : ` --task-queue ${queue}`}\` (or \`ragomics dev\`)`, { cause: err });
      }
      throw wrapServiceError(err);
    }
  }

  /**
   * Signals and updates to a closed tree fail with NOT_FOUND, like those to a tree that never
   * existed; the server's record of the run tells the two apart.
   */
  private async notFoundOrFinished(err: WorkflowNotFoundError): Promise<RagomicsError> {
    try {
      const d = await this.workflow.describe();
      if (d.status.name !== 'RUNNING') return TreeFinishedError.of(this.treeId, { cause: err });
    } catch (describeErr) {
      if (!(describeErr instanceof WorkflowNotFoundError)) return toRagomicsError(describeErr) ?? new TreeNotFoundError(`no tree with id "${this.treeId}"`, { cause: err });
    }
    return new TreeNotFoundError(`no tree with id "${this.treeId}"`, { cause: err });
  }
}

/**
 * Refuses the request id a tree keeps for its own nodes ({@link SPEC_REQUEST_ID}): a request
 * under it would be taken for a duplicate and change nothing. @throws InvalidInputError
 */
export function checkRequestId(requestId: string | undefined): void {
  if (requestId === SPEC_REQUEST_ID) throw new InvalidInputError(reservedRequestIdError());
}

/**
 * Refuses a spec with nothing to run and nothing to wait for: it would end at once, COMPLETED and
 * empty. `startTree` checks it; the CLI checks it before connecting. @throws InvalidInputError
 */
export function checkSomethingToRun(spec: Pick<TreeSpec, 'nodes' | 'forEachSample' | 'expansion'>): void {
  if (spec.nodes.length === 0 && spec.forEachSample.length === 0 && (spec.expansion?.idleTimeout ?? 0) === 0) {
    throw new InvalidInputError('nodes: the tree has nothing to run (no nodes, no forEachSample templates); add nodes, or keep it open for additions with expansion.idleTimeout');
  }
}
