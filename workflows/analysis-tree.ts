/**
 * One analysis tree = one workflow. It keeps the node table, asks the pure scheduler what may
 * start, runs each node as an activity in its own cancellation scope (never more than
 * `maxParallelJobs` at once, no level barriers), grows the tree from updates, signals and
 * completions, and continues as new before the history gets too long.
 */
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  Trigger,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { CarriedStateErrors, FailureTypes } from '../common/failure-types';
import { CarriedRefSchema, SPEC_REQUEST_ID, TreeSpecSchema, formatZodError, reservedRequestIdError, type CarriedRef, type NodeResult, type TreeActivities, type TreeSpec, type TreeSpecInput } from '../common/schemas';
import { legacyRunKeyOf, runKeyOf } from '../common/run-key';
import * as SA from '../common/search-attributes';
import { classifyFailure } from './classify-failure';
import { installKeyGrantHandler } from './key-lease';
import { LEASE_HANDOVER_PATCH, LOST_BACKOFF_PATCH, NODE_ACTIVITY_ID_PATCH, NODE_CACHE_PATCH, NODE_SCOPE_WAITS_PATCH, createNodeRunner } from './node-runner';
import { requestFromSuggestions, requestsFromRules } from './expansion';
import {
  addNodesSignal, addNodesUpdate, addSamplesUpdate, cancelNodeUpdate, cancelTreeSignal, closeTreeSignal, metricsQuery,
  setMaxParallelJobsUpdate, setPausedSignal, statusQuery, summaryQuery, timelineQuery, type TreeLoading,
} from './messages';
import { blockLabel, type NodeRecord } from './node-record';
import { latestAdditions, type AdditionOrigin } from './provenance';
import { CARRY_IN_WORKSPACE_PATCH, loadState, saveState, type InlineCarried } from './carried-state';
import { fromLegacy, isLegacyCarried, type LegacyCarriedState } from './legacy-carry';
import { TreeState } from './tree-state';
import { FINAL_STATUS_MAX_NODES, computeMetrics, nodeStatus, statusForResult, timelineEntries, type TreeMetrics, type TreeState as TreeRunState, type TreeStatus } from './views';

/** Input of {@link analysisTree}. */
export interface AnalysisTreeInput {
  spec: TreeSpecInput;
  /**
   * State carried from the previous run of this logical tree (continue-as-new): a reference to
   * the file that run wrote in the workspace. The other two forms are only read: the encoded
   * node table runs of the previous code carried, and the inline state of a replayed history.
   */
  carried?: CarriedRef | LegacyCarriedState | InlineCarried;
  /** Continue as new after this many history events even before the server suggests it (tests). */
  continueAsNewAfterEvents?: number;
}

/** A node that did not complete. */
export interface NodeFailure {
  nodeId: string;
  state: 'FAILED' | 'TIMEOUT' | 'CANCELLED';
  error: string;
}

/** What a finished tree returns. */
export interface TreeResult {
  treeId: string;
  state: Exclude<TreeRunState, 'RUNNING'>;
  allSucceeded: boolean;
  counts: Record<string, number>;
  failures: NodeFailure[];
  metrics: TreeMetrics;
  runs: number;
  /**
   * The tree's final status, as the `status` query answers it with its defaults (every node, no
   * transitions or details), when it fits the budget of {@link statusForResult}; absent for
   * bigger trees (ask `status()`). Why:
   * a query of a closed workflow is answered by a worker replaying its whole history (40–90 ms
   * for one node, far more for a big tree), and a client that waited for the result needs
   * nothing else. Absent also in results of runs recorded before it.
   */
  status?: TreeStatus;
}

/**
 * Patch id of the spec's shorter default `heartbeatTimeout` (common/schemas.ts; chosen from
 * BENCHMARKS.md, failover). Runs recorded before it keep {@link LEGACY_HEARTBEAT_TIMEOUT_S}.
 */
export const HEARTBEAT_DEFAULT_PATCH = 'heartbeat-timeout-default';
/**
 * Patch id of run keys taken from the first run id's random tail (common/run-key.ts): before it,
 * the id's head, which two executions of one tree id started within ~65 s shared (UUIDv7 ids
 * start with a timestamp), and with it their workspace folder. An execution keeps the key it
 * started with: a continued run takes its carried state's.
 */
export const RUN_KEY_TAIL_PATCH = 'run-key-tail';
/** The spec's default `heartbeatTimeout` before {@link HEARTBEAT_DEFAULT_PATCH}, seconds. */
export const LEGACY_HEARTBEAT_TIMEOUT_S = 30;

/** Lines of "latest additions" in the Web UI's current details. */
const DETAILS_ADDITIONS = 5;

/** Text safe inside a Markdown list item (a policy's reason or a client name is free text). */
function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_[\]<>#|]/g, (c) => `\\${c}`).replace(/\s+/g, ' ');
}

/**
 * Patch id of the main loop's prompt wake-up: it waits on a Trigger that `wake()` resolves
 * instead of `condition(() => dirty)`. The condition cost the SDK one more call into the
 * workflow sandbox per activation (each call starts a watchdog thread); with the trigger the loop
 * runs in the same call, right after the event that woke it, so when several nodes end in one
 * activation the first dispatch may see only some of them (the rest are dispatched by the next
 * turn of the loop, in the same activation). Histories recorded before replay with the condition.
 */
export const PROMPT_WAKE_PATCH = 'prompt-wake';

/**
 * Patch id of the lean wake-up (taken only with PROMPT_WAKE_PATCH): the main loop waits on a
 * plain promise instead of a Trigger, the workflow scope's cancellation reaching it through one
 * listener set up once, and a node's runner reports its own end instead of a `then()` on its
 * promise. Every promise created in workflow code costs a stack capture in the SDK's promise
 * hook (about 30 µs here, BENCHMARKS.md section 1): a Trigger and its wait make about six, the
 * plain wait two, the `then()` one per node. The loop then runs a few microtasks earlier after
 * the event that woke it, so nodes ending in one activation may be dispatched in other turns of
 * the loop than before: histories recorded before replay with the Trigger.
 */
export const LEAN_WAKE_PATCH = 'lean-wake';

/**
 * Patch id: `addNodes` (update and signal) refuses a root with nothing to read (no sample, no tree
 * `inputDataPath`, a built-in block that needs an input; `TreeState.vet`'s `rootless`). Such
 * nodes were accepted before and failed when they ran: histories that added one replay as they
 * ran. `patched()` is called only for a request that has such a root, so others record no marker.
 */
export const ROOT_INPUT_PATCH = 'root-input';

/**
 * Patch id: the workflow cancelled through Temporal (the Web UI's Cancel, `temporal workflow
 * cancel`, `handle.cancel()`), not by the `cancelTree` signal, ends the way `cancelTree` does:
 * every node is cancelled, the running ones' containers are awaited, a key's owner releases its
 * lease, and only then does the workflow close as cancelled. Before, it closed at once, with its
 * nodes still RUNNING and the leases it owned unreleased (their waiters waited out the hold
 * limit). Asked only when such a cancellation arrives.
 */
export const WORKFLOW_CANCEL_PATCH = 'workflow-cancel';

/**
 * Patch id: once the main loop has ended, `addNodes` and `addSamples` are refused (by update and
 * by signal): the tree no longer runs anything, so the nodes would stay PENDING in a result that
 * then reads FAILED. Asked only for a request that arrives then.
 */
export const ENDED_ADDITIONS_PATCH = 'ended-additions';

/** Most failures listed in the result (the status query pages through all). */
const MAX_FAILURES_LISTED = 1000;
/** Least time between two search-attribute upserts (each one is a history event). */
const SEARCH_ATTRIBUTE_INTERVAL_MS = 5000;

/** The analysis-tree workflow. Fails with `InvalidTreeSpec` (non-retryable) when the spec is invalid. */
export async function analysisTree(input: AnalysisTreeInput): Promise<TreeResult> {
  const parsed = TreeSpecSchema.safeParse(input.spec);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`invalid tree spec:\n${formatZodError(parsed.error)}`, 'InvalidTreeSpec');
  const spec: TreeSpec = parsed.data;
  // A spec without its own heartbeatTimeout takes the default; histories recorded while the
  // default was 30 s replay with 30 s (their activities were scheduled with it). Called only for
  // such specs, first thing, before any command.
  if (input.spec.heartbeatTimeout === undefined && !patched(HEARTBEAT_DEFAULT_PATCH)) spec.heartbeatTimeout = LEGACY_HEARTBEAT_TIMEOUT_S;
  const treeId = workflowInfo().workflowId;
  const tree = new TreeState(spec);
  // A reference is read after the handlers are registered (reading takes activities); until
  // then handlers that need the tree wait for it and queries answer `TreeLoading`.
  const ref = carriedRef(input.carried);
  // A continued run keeps its chain's key (in its reference; an inline carried state is older
  // than the patch); a first run takes the random tail unless it was recorded before the patch.
  const firstRunId = workflowInfo().firstExecutionRunId;
  const runKey = ref ? ref.runKey : !input.carried && patched(RUN_KEY_TAIL_PATCH) ? runKeyOf(firstRunId) : legacyRunKeyOf(firstRunId);
  if (input.carried && !ref) tree.restore(isLegacyCarried(input.carried) ? fromLegacy(input.carried) : (input.carried as InlineCarried).state);
  let loaded = ref === null;
  /** Runs `f` now, or once the carried state is loaded. */
  function afterLoad<A extends unknown[], R>(f: (...args: A) => R): (...args: A) => R | Promise<R> {
    return (...args: A) => (loaded ? f(...args) : condition(() => loaded).then(() => f(...args)));
  }
  const inFlight = new Map<string, CancellationScope>();
  let dirty = true;
  let pendingCallbacks = 0;
  let cancelRequested: string | null = null;
  let draining = false;
  /** The main loop has ended: nothing runs any more (handlers may still be finishing). */
  let finished = false;
  /** The CancelledFailure of a cancel request made through Temporal, once caught (WORKFLOW_CANCEL_PATCH): the workflow ends with it. */
  let workflowCancel: unknown = null;
  const endedMessage = (what: 'nodes' | 'samples') => `tree "${treeId}" has ended; no ${what} can be added (start a new tree, or keep it open with expansion.idleTimeout)`;

  /** Resolves the main loop's wait (PROMPT_WAKE_PATCH); null while the loop is not waiting. */
  let wakeTrigger: Trigger<void> | null = null;
  /** The main loop's wait under LEAN_WAKE_PATCH: its promise's resolve and reject; null while the loop is not waiting. */
  let wakeWaiter: { resolve: () => void; reject: (err: unknown) => void } | null = null;
  /** Under LEAN_WAKE_PATCH: the workflow scope's cancellation, once it came (a wait started later rejects at once). */
  const scopeCancel: { cancelled: boolean; err?: unknown } = { cancelled: false };
  const wake = () => {
    dirty = true;
    if (wakeTrigger) {
      const t = wakeTrigger;
      wakeTrigger = null;
      t.resolve();
    }
    if (wakeWaiter) {
      const w = wakeWaiter;
      wakeWaiter = null;
      w.resolve();
    }
  };

  // The spec's nodes go in before any handler is registered: signals and updates that arrived
  // with the start are delivered when their handler is set, and may refer to these nodes.
  if (!input.carried) {
    if (spec.userRequest) upsertSearchAttributes([{ key: SA.UserRequestKey, value: spec.userRequest.slice(0, 2000) }]);
    // Templates expanded per sample, then the spec's nodes (common/cohort.ts).
    const out = tree.start(Date.now());
    if (!out.ok) throw ApplicationFailure.nonRetryable(`invalid tree spec:\n${out.errors.join('\n')}`, 'InvalidTreeSpec');
  }

  // ---- handlers: registered before the first await --------------------------------------
  setHandler(addNodesUpdate, afterLoad((req) => {
    if (finished && patched(ENDED_ADDITIONS_PATCH)) throw ApplicationFailure.nonRetryable(endedMessage('nodes'), 'InvalidAddition');
    // One parse here; addNodes validates (check() runs again only to word a refusal).
    const rootless = tree.rootless(req);
    if (rootless.length > 0 && patched(ROOT_INPUT_PATCH)) throw ApplicationFailure.nonRetryable([...tree.check(req).errors, ...rootless].join('\n'), 'InvalidAddition');
    const out = tree.addNodes(req, { by: 'client' }, Date.now());
    if (!out.ok) throw ApplicationFailure.nonRetryable(out.errors.join('\n'), 'InvalidAddition');
    wake();
    return { requestId: req.requestId, added: out.added, duplicate: out.duplicate };
  }), {
    validator: (req) => {
      if (cancelRequested) throw new Error(`tree "${treeId}" is being cancelled; no nodes can be added`);
      if (finished) throw new Error(endedMessage('nodes'));
      // While loading, the handler validates (addNodes checks everything again).
      if (!loaded) return;
      // A validator never runs on replay, so it may refuse more than old histories' handlers did.
      const v = tree.vet(req);
      const errors = [...v.errors, ...v.rootless, ...v.values];
      if (errors.length > 0) throw new Error(errors.join('\n'));
    },
  });
  setHandler(addSamplesUpdate, afterLoad((req) => {
    if (finished && patched(ENDED_ADDITIONS_PATCH)) throw ApplicationFailure.nonRetryable(endedMessage('samples'), 'InvalidAddition');
    const out = tree.addSamples(req, Date.now());
    if (!out.ok) throw ApplicationFailure.nonRetryable(out.errors.join('\n'), 'InvalidAddition');
    wake();
    return { requestId: req.requestId, samples: out.samples, added: out.added, gathers: out.gathers, duplicate: out.duplicate };
  }), {
    validator: (req) => {
      if (cancelRequested) throw new Error(`tree "${treeId}" is being cancelled; no samples can be added`);
      if (finished) throw new Error(endedMessage('samples'));
      if ((req as { requestId?: unknown } | undefined)?.requestId === SPEC_REQUEST_ID) throw new Error(reservedRequestIdError());
      // While loading, the handler validates (addSamples checks everything again).
      if (!loaded) return;
      const { errors } = tree.checkSamples(req);
      if (errors.length > 0) throw new Error(errors.join('\n'));
    },
  });
  setHandler(addNodesSignal, afterLoad((req) => {
    const requestId = typeof req?.requestId === 'string' ? req.requestId : '(none)';
    if (cancelRequested) return tree.reject(requestId, 'signal', ['tree is being cancelled'], Date.now());
    if (finished && patched(ENDED_ADDITIONS_PATCH)) return tree.reject(requestId, 'signal', [endedMessage('nodes')], Date.now());
    const rootless = tree.rootless(req);
    if (rootless.length > 0 && patched(ROOT_INPUT_PATCH)) {
      tree.reject(requestId, req?.source ?? 'signal', [...tree.check(req).errors, ...rootless], Date.now());
      return wake();
    }
    const out = tree.addNodes(req, { by: 'signal' }, Date.now());
    if (!out.ok) tree.reject(requestId, req?.source ?? 'signal', out.errors, Date.now());
    wake();
  }));
  function cancellable(nodeId: unknown): string | null {
    const rec = tree.nodes.get(nodeId as string);
    if (!rec) return `unknown node "${String(nodeId)}"`;
    if (['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(rec.state)) return `node "${rec.id}" already ended ${rec.state}`;
    return null;
  }
  setHandler(cancelNodeUpdate, afterLoad((req) => {
    const problem = cancellable(req.nodeId);
    if (problem) throw ApplicationFailure.nonRetryable(problem, 'InvalidCancel');
    const rec = tree.nodes.get(req.nodeId)!;
    const scope = inFlight.get(rec.id);
    const reason = req.reason ?? 'cancelled by request';
    if (scope) {
      rec.error = reason;
      scope.cancel();
      return { cancelled: [rec.id] };
    }
    const transitions = tree.scheduler.cancel(rec.id, reason);
    tree.apply(transitions, Date.now());
    wake();
    return { cancelled: transitions.filter((t) => t.to === 'CANCELLED').map((t) => t.nodeId) };
  }), {
    validator: (req) => {
      const problem = loaded ? cancellable(req?.nodeId) : null;
      if (problem) throw new Error(problem);
    },
  });
  setHandler(cancelTreeSignal, ({ reason } = {}) => {
    cancelRequested ??= reason ?? 'tree cancelled by request';
    wake();
  });
  setHandler(setPausedSignal, afterLoad((paused) => { tree.paused = paused === true; tree.version++; wake(); }));
  // The version bumps so a continue-as-new under way sees the change (it is carried).
  setHandler(closeTreeSignal, afterLoad(() => { tree.closed = true; tree.version++; wake(); }));
  setHandler(setMaxParallelJobsUpdate, afterLoad((n) => {
    const previous = tree.maxParallelJobs;
    tree.maxParallelJobs = n;
    tree.scheduler.setMaxParallel(n);
    tree.version++;
    wake();
    return { previous, current: n };
  }), {
    validator: (n) => {
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`maxParallelJobs: must be an integer from 1 to 1000, got ${JSON.stringify(n)}`);
    },
  });
  // While the carried state loads, every query says so (TreeLoading) and the SDK asks again.
  const loading: TreeLoading = { loading: true, treeId };
  setHandler(statusQuery, (opts = {}) => (loaded ? buildStatus(opts.offset ?? 0, opts.limit ?? 1000, opts.transitions ?? false, opts.details ?? false) : loading));
  setHandler(metricsQuery, () => (loaded ? computeMetrics(tree.order, tree.maxParallelJobs) : loading));
  setHandler(timelineQuery, (opts = {}) => {
    if (!loaded) return loading;
    const all = timelineEntries(tree.order);
    const offset = Math.max(0, opts.offset ?? 0);
    return { treeId, total: all.length, offset, entries: all.slice(offset, offset + Math.max(1, Math.min(opts.limit ?? 2000, 10_000))) };
  });
  setHandler(summaryQuery, () => (loaded ? { treeId, state: treeState(), version: tree.version, counts: tree.counts(), totalNodes: tree.order.length, paused: tree.paused, maxParallelJobs: tree.maxParallelJobs } : loading));
  // Answers of key leases to this tree's claims (workflows/key-lease.ts). Adds no command.
  installKeyGrantHandler();

  function treeState(): TreeRunState {
    if (!finished) return 'RUNNING';
    if (cancelRequested) return 'CANCELLED';
    return tree.order.every((n) => n.state === 'COMPLETED') ? 'COMPLETED' : 'FAILED';
  }

  function buildStatus(offset: number, limit: number, withTransitions: boolean, withDetails: boolean): TreeStatus {
    const counts = tree.counts();
    const start = Math.max(0, offset);
    return {
      treeId, state: treeState(), userRequest: spec.userRequest, paused: tree.paused, maxParallelJobs: tree.maxParallelJobs,
      runningJobs: counts.RUNNING, queueSize: counts.READY,
      totalProcessed: counts.COMPLETED + counts.FAILED + counts.TIMEOUT + counts.CANCELLED,
      counts, totalNodes: tree.order.length, offset: start,
      nodes: tree.order.slice(start, start + Math.max(1, Math.min(limit, 5000))).map((n) => nodeStatus(n, withTransitions, withDetails)),
      rejected: tree.rejected, metrics: computeMetrics(tree.order, tree.maxParallelJobs), runs: tree.runs,
      ...(tree.samples.length > 0 ? { samples: tree.samples } : {}),
      ...(spec.origin ? { origin: spec.origin } : {}),
    };
  }

  // ---- activities -----------------------------------------------------------------------
  const callbacks = proxyActivities<TreeActivities>({
    startToCloseTimeout: `${spec.callbackTimeout}s`,
    retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: [FailureTypes.CallbackFailed] },
  });

  // Nothing to ask after a completion when no expansion source is configured: skip the
  // callback (and its wake-up) for every node.
  const expands = spec.expansion.fromResults || spec.expansion.rules.length > 0 || spec.expansion.policyUrl !== undefined;
  const runNode = createNodeRunner({
    spec, treeId, runKey, tree, callbacks,
    cancelReason: () => cancelRequested,
    onCompleted: (rec, result) => {
      if (spec.enableReactive && expands && !cancelRequested) void expandAfter(rec, result);
    },
  });

  /** The seed's completion callback: children from the result, the rules and the policy endpoint. */
  async function expandAfter(rec: NodeRecord, result: NodeResult): Promise<void> {
    pendingCallbacks++;
    try {
      if (spec.expansion.fromResults) {
        const r = requestFromSuggestions(rec.id, result.suggestedChildren);
        if (r) apply(r, { by: 'result', from: rec.id });
      }
      for (const { request, rule } of requestsFromRules(rec.id, rec.block, spec.expansion.rules)) apply(request, { by: 'rule', rule, from: rec.id });
      if (spec.expansion.policyUrl) {
        const url = spec.expansion.policyUrl;
        const requestId = `policy:${rec.id}`;
        try {
          const res = await callbacks.callExpansionPolicy(url, {
            treeId, userRequest: spec.userRequest,
            node: { id: rec.id, block: rec.block, summary: result.summary, shape: result.shape, metrics: result.metrics, outputPath: result.outputPath },
            tree: tree.order.map((n) => ({ id: n.id, parentId: n.parentId, block: blockLabel(n.block), state: n.state })),
          });
          if (res.nodes.length > 0 && !cancelRequested) {
            // The per-node `reason` is provenance, not part of the node: it goes beside the request.
            const reasons = new Map<string, string>();
            const nodes = res.nodes.map(({ reason, ...n }) => {
              if (reason !== undefined) reasons.set(n.id, reason);
              return { ...n, parentId: n.parentId === undefined ? rec.id : n.parentId };
            });
            apply({ requestId, source: 'policy', nodes }, { by: 'policy', url, from: rec.id, reasons });
          }
        } catch (err) {
          tree.reject(requestId, 'policy', [classifyFailure(err).message], Date.now());
        }
      }
    } finally {
      pendingCallbacks--;
      wake();
    }
  }

  function apply(req: { requestId: string; source?: string; nodes: unknown[] }, origin: AdditionOrigin): void {
    const out = tree.addNodes(req, origin, Date.now());
    if (!out.ok) tree.reject(req.requestId, origin.by, out.errors, Date.now());
  }

  function dispatch(): void {
    const { start, transitions } = tree.scheduler.next();
    tree.apply(transitions, Date.now());
    for (const id of start) {
      const rec = tree.nodes.get(id)!;
      const scope = new CancellationScope();
      inFlight.set(id, scope);
      // then(end, fail) rather than finally(): every promise created in workflow code costs a
      // stack capture in the SDK's promise hook, and finally() makes three of them per node
      // (BENCHMARKS.md section 1). A rejection is rethrown, as finally() did (the task fails loudly).
      const end = (): void => { inFlight.delete(id); wake(); };
      // LEAN_WAKE_PATCH: the runner calls end() itself when it ends (also when it throws; its
      // rejection then fails the task loudly, as the rethrow below does).
      if (leanWake) void runNode(rec, scope, end);
      else void runNode(rec, scope).then(end, (e: unknown) => { end(); throw e; });
    }
  }

  function cancelEverything(): void {
    for (const scope of inFlight.values()) scope.cancel();
    for (const rec of tree.order) {
      if (rec.state === 'PENDING' || rec.state === 'WAITING' || rec.state === 'READY') tree.apply(tree.scheduler.cancel(rec.id, cancelRequested ?? 'tree cancelled'), Date.now());
    }
  }

  let lastUpsert = -Infinity;
  let lastUpsertKey = '';
  function publishProgress(force = false): void {
    const c = tree.counts();
    const state = treeState();
    const key = `${state}|${tree.order.length}|${c.COMPLETED}|${c.FAILED + c.TIMEOUT + c.CANCELLED}|${c.RUNNING}`;
    setCurrentDetails(`**${state}** · ${tree.samples.length > 0 ? `${tree.samples.length} samples · ` : ''}${c.COMPLETED}/${tree.order.length} completed · ${c.RUNNING} running · ${c.READY} ready · ${c.FAILED + c.TIMEOUT} failed · ${c.CANCELLED} cancelled${tree.paused ? ' · paused' : ''}${additionsMarkdown()}`);
    const now = Date.now();
    if (key === lastUpsertKey || (!force && now - lastUpsert < SEARCH_ATTRIBUTE_INTERVAL_MS)) return;
    lastUpsert = now;
    lastUpsertKey = key;
    upsertSearchAttributes([
      { key: SA.TreeIdKey, value: treeId },
      { key: SA.TreeStateKey, value: state },
      { key: SA.NodesTotalKey, value: tree.order.length },
      { key: SA.NodesCompletedKey, value: c.COMPLETED },
      { key: SA.NodesFailedKey, value: c.FAILED + c.TIMEOUT + c.CANCELLED },
      { key: SA.NodesRunningKey, value: c.RUNNING },
    ]);
  }

  /**
   * The latest additions and who made them, for the Web UI's details (bounded: at most
   * {@link DETAILS_ADDITIONS} lines of at most 160 characters, whatever the tree's size).
   * Computed only when the node count changed since the last call.
   */
  let additionsFor = -1;
  let additionsText = '';
  function additionsMarkdown(): string {
    if (additionsFor !== tree.order.length) {
      additionsFor = tree.order.length;
      const lines = latestAdditions(tree.order, DETAILS_ADDITIONS);
      additionsText = lines.length > 0 ? `\n\n**Latest additions** (newest first, UTC):\n${lines.map((l) => `- ${escapeMarkdown(l)}`).join('\n')}` : '';
    }
    return additionsText;
  }

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || (input.continueAsNewAfterEvents !== undefined && info.historyLength >= input.continueAsNewAfterEvents);
  }

  // Before the first await (and the first local activity of a carried run): see the comment below.
  const promptWake = patched(PROMPT_WAKE_PATCH);
  const leanWake = promptWake && patched(LEAN_WAKE_PATCH);
  if (leanWake) {
    // What a Trigger does per wait (reject when the workflow's scope is cancelled), once for the run.
    CancellationScope.current().cancelRequested.catch((err: unknown) => {
      scopeCancel.cancelled = true;
      scopeCancel.err = err;
      const w = wakeWaiter;
      wakeWaiter = null;
      w?.reject(err);
    });
  }
  let loadedFrom: string | null = null;
  // A run started from a reference is new code throughout: take every patch now, before the
  // first local activity. On replay, sdk-core resumes the workflow after a local activity's
  // marker before it has told it of the patch markers that follow, so a first patched() call
  // there would answer false and fail the replay as nondeterministic (seen when a worker
  // replayed such a run to answer a query). A tree with localActivities (newer than every patch)
  // runs its nodes as local activities, so it takes all of them, in every run.
  if (ref || spec.localActivities) {
    for (const id of [NODE_ACTIVITY_ID_PATCH, LOST_BACKOFF_PATCH, CARRY_IN_WORKSPACE_PATCH, NODE_CACHE_PATCH]) patched(id);
  }
  if (spec.localActivities) {
    for (const id of [NODE_SCOPE_WAITS_PATCH, LEASE_HANDOVER_PATCH, WORKFLOW_CANCEL_PATCH, ENDED_ADDITIONS_PATCH, ROOT_INPUT_PATCH]) patched(id);
  }
  if (ref) {
    try {
      tree.restore(await loadState(ref, carriedPath(ref)));
    } catch (err) {
      // Cancelled through Temporal while loading: nothing runs yet; the Web UI's state column
      // (carried over from the previous run) must not keep saying RUNNING.
      if (isCancellation(err) && patched(WORKFLOW_CANCEL_PATCH)) upsertSearchAttributes([{ key: SA.TreeStateKey, value: 'CANCELLED' }]);
      throw err;
    }
    loaded = true;
    loadedFrom = ref.runId;
  }

  publishProgress(true);

  // ---- main loop ------------------------------------------------------------------------
  /** Runs the tree until it ends (or continues as new), then waits for handlers still running. */
  async function runLoop(): Promise<void> {
    for (;;) {
      if (!promptWake) await condition(() => dirty);
      else if (!dirty && leanWake) {
        if (scopeCancel.cancelled && workflowCancel === null) throw scopeCancel.err;
        await new Promise<void>((resolve, reject) => { wakeWaiter = { resolve, reject }; });
      } else if (!dirty) {
        // A Trigger, like condition(), rejects when the workflow's scope is cancelled.
        wakeTrigger = new Trigger<void>();
        await wakeTrigger;
      }
      dirty = false;
      if (cancelRequested) {
        cancelEverything();
        if (inFlight.size === 0) break;
        continue;
      }
      if (shouldContinueAsNew()) draining = true;
      if (!tree.paused && !draining) dispatch();
      publishProgress();
      const idle = inFlight.size === 0 && pendingCallbacks === 0;
      if (draining && idle) {
        await condition(allHandlersFinished);
        const version = tree.version;
        const state = tree.carry();
        // The nodes (and samples) travel in the carried state; the spec keeps only the tree's
        // settings and templates (addSamples expands them).
        const carried: CarriedRef | InlineCarried = patched(CARRY_IN_WORKSPACE_PATCH)
          ? await saveState(state, { treeId, runKey, runId: workflowInfo().runId }, loadedFrom ? [loadedFrom] : [])
          : { format: 'inline-json-v1', state };
        // A handler that ran while the state was written changed what it holds: go round again
        // (a cancel is handled; else the state is written anew).
        if (tree.version === version && !cancelRequested && allHandlersFinished()) {
          await continueAsNew<typeof analysisTree>({ spec: { ...input.spec, nodes: [], samples: undefined }, carried, continueAsNewAfterEvents: input.continueAsNewAfterEvents });
        }
        dirty = true;
        continue;
      }
      if (idle && tree.scheduler.isQuiescent()) {
        if (spec.expansion.idleTimeout === 0 || tree.closed) break;
        // Kept open for an external agent: wait for additions or close, up to the idle timeout.
        if (!(await condition(() => dirty, spec.expansion.idleTimeout * 1000))) break;
      }
    }

    finished = true;
    await condition(allHandlersFinished);
  }

  try {
    await runLoop();
  } catch (err) {
    // A cancel request through Temporal (not cancelTree) rejects the loop's wait: end as cancelTree
    // does, in a scope the request no longer reaches (the nodes' own scopes were cancelled with
    // the workflow's), then close cancelled (WORKFLOW_CANCEL_PATCH).
    if (!isCancellation(err) || !patched(WORKFLOW_CANCEL_PATCH)) throw err;
    if (finished) {
      // Nothing runs any more (handlers were finishing): close cancelled, the state saying so.
      cancelRequested ??= 'tree cancelled (workflow cancel request)';
      publishProgress(true);
      throw err;
    }
    workflowCancel = err;
    cancelRequested ??= 'tree cancelled (workflow cancel request)';
    // The loop's first turn handles the cancel at once (nothing else may ever wake it).
    dirty = true;
    await CancellationScope.nonCancellable(runLoop);
  }
  publishProgress(true);
  if (workflowCancel !== null) throw workflowCancel;
  // The final status (when the tree is small enough to carry it) already holds the counts and
  // the metrics: computed once for both.
  const final = tree.order.length <= FINAL_STATUS_MAX_NODES ? buildStatus(0, FINAL_STATUS_MAX_NODES, false, false) : undefined;
  const counts = final?.counts ?? tree.counts();
  const failures: NodeFailure[] = tree.order
    .filter((n) => n.state === 'FAILED' || n.state === 'TIMEOUT' || n.state === 'CANCELLED')
    .slice(0, MAX_FAILURES_LISTED)
    .map((n) => ({ nodeId: n.id, state: n.state as NodeFailure['state'], error: n.error ?? n.state }));
  const state = treeState() as TreeResult['state'];
  const metrics = final?.metrics ?? computeMetrics(tree.order, tree.maxParallelJobs);
  const result: TreeResult = { treeId, state, allSucceeded: state === 'COMPLETED', counts, failures, metrics, runs: tree.runs };
  const status = final ? statusForResult(final) : undefined;
  if (status) result.status = status;
  return result;
}

/** The carried-state reference of an input, checked; null for no carried state or another form. */
function carriedRef(carried: AnalysisTreeInput['carried']): CarriedRef | null {
  if (!carried || !('format' in carried) || carried.format !== 'workspace-deflate-json-v1') {
    if (carried && !isLegacyCarried(carried) && !('format' in carried && carried.format === 'inline-json-v1')) {
      throw ApplicationFailure.nonRetryable('carried state: not a form this code reads', CarriedStateErrors.Invalid);
    }
    return null;
  }
  const parsed = CarriedRefSchema.safeParse(carried);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`carried state reference:\n${formatZodError(parsed.error)}`, CarriedStateErrors.Invalid);
  return parsed.data;
}

/** Where a reference's file is, under the workspace root (for messages). */
function carriedPath(ref: CarriedRef): string {
  return `trees/${ref.treeId}.${ref.runKey}/carried/${ref.runId}.json.deflate`;
}
