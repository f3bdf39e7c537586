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
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { FailureTypes } from '../common/failure-types';
import { TreeSpecSchema, formatZodError, type NodeResult, type TreeActivities, type TreeSpec, type TreeSpecInput } from '../common/schemas';
import * as SA from '../common/search-attributes';
import { classifyFailure } from './classify-failure';
import { createNodeRunner } from './node-runner';
import { requestFromSuggestions, requestsFromRules } from './expansion';
import {
  addNodesSignal, addNodesUpdate, addSamplesUpdate, cancelNodeUpdate, cancelTreeSignal, closeTreeSignal, metricsQuery,
  setMaxParallelJobsUpdate, setPausedSignal, statusQuery, summaryQuery, timelineQuery,
} from './messages';
import { blockLabel, type NodeRecord } from './node-record';
import { TreeState, type CarriedState } from './tree-state';
import { computeMetrics, nodeStatus, timelineEntries, type TreeMetrics, type TreeState as TreeRunState, type TreeStatus } from './views';

/** Input of {@link analysisTree}. */
export interface AnalysisTreeInput {
  spec: TreeSpecInput;
  /** State carried from the previous run of this logical tree (continue-as-new). */
  carried?: CarriedState;
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
}

/** Most failures listed in the result (the status query pages through all). */
const MAX_FAILURES_LISTED = 1000;
/** Least time between two search-attribute upserts (each one is a history event). */
const SEARCH_ATTRIBUTE_INTERVAL_MS = 5000;

/** The analysis-tree workflow. Fails with `InvalidTreeSpec` (non-retryable) when the spec is invalid. */
export async function analysisTree(input: AnalysisTreeInput): Promise<TreeResult> {
  const parsed = TreeSpecSchema.safeParse(input.spec);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`invalid tree spec:\n${formatZodError(parsed.error)}`, 'InvalidTreeSpec');
  const spec: TreeSpec = parsed.data;
  const treeId = workflowInfo().workflowId;
  const runKey = workflowInfo().firstExecutionRunId.slice(0, 8);
  const tree = new TreeState(spec, input.carried);
  const inFlight = new Map<string, CancellationScope>();
  let dirty = true;
  let pendingCallbacks = 0;
  let cancelRequested: string | null = null;
  let draining = false;

  const wake = () => { dirty = true; };

  // The spec's nodes go in before any handler is registered: signals and updates that arrived
  // with the start are delivered when their handler is set, and may refer to these nodes.
  if (!input.carried) {
    if (spec.userRequest) upsertSearchAttributes([{ key: SA.UserRequestKey, value: spec.userRequest.slice(0, 2000) }]);
    // Templates expanded per sample, then the spec's nodes (common/cohort.ts).
    const out = tree.start(Date.now());
    if (!out.ok) throw ApplicationFailure.nonRetryable(`invalid tree spec:\n${out.errors.join('\n')}`, 'InvalidTreeSpec');
  }

  // ---- handlers: registered before the first await --------------------------------------
  setHandler(addNodesUpdate, (req) => {
    const out = tree.addNodes(req, 'client', Date.now());
    if (!out.ok) throw ApplicationFailure.nonRetryable(out.errors.join('\n'), 'InvalidAddition');
    wake();
    return { requestId: req.requestId, added: out.added, duplicate: out.duplicate };
  }, {
    validator: (req) => {
      if (cancelRequested) throw new Error(`tree "${treeId}" is being cancelled; no nodes can be added`);
      const { errors } = tree.check(req);
      if (errors.length > 0) throw new Error(errors.join('\n'));
    },
  });
  setHandler(addSamplesUpdate, (req) => {
    const out = tree.addSamples(req, Date.now());
    if (!out.ok) throw ApplicationFailure.nonRetryable(out.errors.join('\n'), 'InvalidAddition');
    wake();
    return { requestId: req.requestId, samples: out.samples, added: out.added, gathers: out.gathers, duplicate: out.duplicate };
  }, {
    validator: (req) => {
      if (cancelRequested) throw new Error(`tree "${treeId}" is being cancelled; no samples can be added`);
      const { errors } = tree.checkSamples(req);
      if (errors.length > 0) throw new Error(errors.join('\n'));
    },
  });
  setHandler(addNodesSignal, (req) => {
    const requestId = typeof req?.requestId === 'string' ? req.requestId : '(none)';
    if (cancelRequested) return tree.reject(requestId, 'signal', ['tree is being cancelled'], Date.now());
    const out = tree.addNodes(req, 'signal', Date.now());
    if (!out.ok) tree.reject(requestId, req?.source ?? 'signal', out.errors, Date.now());
    wake();
  });
  setHandler(cancelNodeUpdate, (req) => {
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
  }, {
    validator: (req) => {
      const rec = tree.nodes.get(req?.nodeId);
      if (!rec) throw new Error(`unknown node "${String(req?.nodeId)}"`);
      if (['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(rec.state)) throw new Error(`node "${rec.id}" already ended ${rec.state}`);
    },
  });
  setHandler(cancelTreeSignal, ({ reason } = {}) => {
    cancelRequested ??= reason ?? 'tree cancelled by request';
    wake();
  });
  setHandler(setPausedSignal, (paused) => { tree.paused = paused === true; tree.version++; wake(); });
  setHandler(closeTreeSignal, () => { tree.closed = true; wake(); });
  setHandler(setMaxParallelJobsUpdate, (n) => {
    const previous = tree.maxParallelJobs;
    tree.maxParallelJobs = n;
    tree.scheduler.setMaxParallel(n);
    tree.version++;
    wake();
    return { previous, current: n };
  }, {
    validator: (n) => {
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`maxParallelJobs: must be an integer from 1 to 1000, got ${JSON.stringify(n)}`);
    },
  });
  setHandler(statusQuery, (opts = {}) => buildStatus(opts.offset ?? 0, opts.limit ?? 1000, opts.transitions ?? false, opts.details ?? false));
  setHandler(metricsQuery, () => computeMetrics(tree.order, tree.maxParallelJobs));
  setHandler(timelineQuery, (opts = {}) => {
    const all = timelineEntries(tree.order);
    const offset = Math.max(0, opts.offset ?? 0);
    return { treeId, total: all.length, offset, entries: all.slice(offset, offset + Math.max(1, Math.min(opts.limit ?? 2000, 10_000))) };
  });
  setHandler(summaryQuery, () => ({ treeId, state: treeState(), version: tree.version, counts: tree.counts(), totalNodes: tree.order.length, paused: tree.paused, maxParallelJobs: tree.maxParallelJobs }));

  function treeState(): TreeRunState {
    if (!finished) return 'RUNNING';
    if (cancelRequested) return 'CANCELLED';
    return tree.order.every((n) => n.state === 'COMPLETED') ? 'COMPLETED' : 'FAILED';
  }
  let finished = false;

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
      const requests = [];
      if (spec.expansion.fromResults) {
        const r = requestFromSuggestions(rec.id, result.suggestedChildren);
        if (r) requests.push(r);
      }
      requests.push(...requestsFromRules(rec.id, rec.block, spec.expansion.rules));
      for (const req of requests) apply(req, req.source ?? 'result');
      if (spec.expansion.policyUrl) {
        const requestId = `policy:${rec.id}`;
        try {
          const res = await callbacks.callExpansionPolicy(spec.expansion.policyUrl, {
            treeId, userRequest: spec.userRequest,
            node: { id: rec.id, block: rec.block, summary: result.summary, shape: result.shape, metrics: result.metrics, outputPath: result.outputPath },
            tree: tree.order.map((n) => ({ id: n.id, parentId: n.parentId, block: blockLabel(n.block), state: n.state })),
          });
          if (res.nodes.length > 0 && !cancelRequested) {
            apply({ requestId, source: 'policy', nodes: res.nodes.map((n) => ({ ...n, parentId: n.parentId === undefined ? rec.id : n.parentId })) }, 'policy');
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

  function apply(req: { requestId: string; source?: string; nodes: unknown[] }, source: string): void {
    const out = tree.addNodes(req, source, Date.now());
    if (!out.ok) tree.reject(req.requestId, source, out.errors, Date.now());
  }

  function dispatch(): void {
    const { start, transitions } = tree.scheduler.next();
    tree.apply(transitions, Date.now());
    for (const id of start) {
      const rec = tree.nodes.get(id)!;
      const scope = new CancellationScope();
      inFlight.set(id, scope);
      void runNode(rec, scope).finally(() => { inFlight.delete(id); wake(); });
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
    setCurrentDetails(`**${state}** · ${tree.samples.length > 0 ? `${tree.samples.length} samples · ` : ''}${c.COMPLETED}/${tree.order.length} completed · ${c.RUNNING} running · ${c.READY} ready · ${c.FAILED + c.TIMEOUT} failed · ${c.CANCELLED} cancelled${tree.paused ? ' · paused' : ''}`);
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

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || (input.continueAsNewAfterEvents !== undefined && info.historyLength >= input.continueAsNewAfterEvents);
  }

  publishProgress(true);

  // ---- main loop ------------------------------------------------------------------------
  for (;;) {
    await condition(() => dirty);
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
      // The nodes (and samples) travel in the carried state; the spec keeps only the tree's
      // settings and templates (addSamples expands them).
      await continueAsNew<typeof analysisTree>({ spec: { ...input.spec, nodes: [], samples: undefined }, carried: tree.carry(), continueAsNewAfterEvents: input.continueAsNewAfterEvents });
    }
    if (idle && tree.scheduler.isQuiescent()) {
      if (spec.expansion.idleTimeout === 0 || tree.closed) break;
      // Kept open for an external agent: wait for additions or close, up to the idle timeout.
      if (!(await condition(() => dirty, spec.expansion.idleTimeout * 1000))) break;
    }
  }

  finished = true;
  await condition(allHandlersFinished);
  publishProgress(true);
  const counts = tree.counts();
  const failures: NodeFailure[] = tree.order
    .filter((n) => n.state === 'FAILED' || n.state === 'TIMEOUT' || n.state === 'CANCELLED')
    .slice(0, MAX_FAILURES_LISTED)
    .map((n) => ({ nodeId: n.id, state: n.state as NodeFailure['state'], error: n.error ?? n.state }));
  const state = treeState() as TreeResult['state'];
  return { treeId, state, allSucceeded: state === 'COMPLETED', counts, failures, metrics: computeMetrics(tree.order, tree.maxParallelJobs), runs: tree.runs };
}
