/**
 * Runs one node of a tree until it ends: schedules its activity (timeouts, heartbeats, Temporal
 * retry policy), records every attempt, and decides the workflow-level re-runs: a lost worker
 * (the node runs again elsewhere), out of memory with `memoryGrowthFactor` (again with more
 * memory), a code failure with a fixer endpoint (again with the patched code). Then it tells the
 * scheduler how the node ended. Workflow code: deterministic, no I/O.
 *
 * A node that may be cacheable ({@link mayCache}) first asks the `lookupCache` activity for its
 * key: a verified entry completes it at once (`cached: true`, nothing runs); on a miss it takes
 * the key's lease (workflows/key-lease.ts): the holder computes with the key (runNode then
 * publishes a success to the cache) and reports the outcome on every path (`leaseOutcome`); a
 * waiter whose key was published looks it up again; one whose owner failed because of the key
 * itself fails with SharedComputationFailedError naming the owner and its error (the same input
 * already failed); one whose owner timed out, ran out of memory or was lost computes itself.
 */
import { CancellationScope, isCancellation, patched, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import { nodeActivityId } from '../common/activity-ids';
import { BlockDeterministic } from '../common/block-catalog';
import { FailureTypes, NON_RETRYABLE_FAILURE_TYPES } from '../common/failure-types';
import { memoryForAttempt } from '../common/memory';
import { LOCAL_NODE_MAX_TIMEOUT_SECONDS, type CacheLookup, type LeaseHolder, type NodeResult, type Resources, type RunNodeInput, type TreeActivities, type TreeSpec } from '../common/schemas';
import { classifyFailure } from './classify-failure';
import { acquireKeyLease, holdLimitSeconds, leaseOutcome, type LeaseGrant } from './key-lease';
import { endSharedWait, noteSharedWait } from './shared-wait';
import { blockLabel, type AttemptRecord, type NodeRecord } from './node-record';
import { recordEvent } from './provenance';
import type { TreeState } from './tree-state';

/** Re-runs of a node whose worker vanished, before it counts as FAILED. */
export const MAX_LOST_RETRIES = 5;
/** Patch id of the back-off before re-running a node whose executor was unavailable. */
export const LOST_BACKOFF_PATCH = 'lost-executor-backoff';
/**
 * Patch id of activity ids that name their node (common/activity-ids.ts), so clients can tell a
 * node that waits for a worker slot from one that runs. Trees recorded before keep the default
 * sequence-number ids on replay (the id is part of the recorded command).
 */
export const NODE_ACTIVITY_ID_PATCH = 'node-activity-id';
/**
 * Patch id of results reused across trees (activities/cache): a cacheable node first asks the
 * `lookupCache` activity (and the key's lease) before it runs. Asked only for nodes that can be
 * cacheable, so trees recorded before replay as they ran, and trees of `sleep` nodes (the
 * benchmarks) schedule exactly the commands they did.
 */
export const NODE_CACHE_PATCH = 'node-cache';
/**
 * Patch id of the owner's word to its key's waiters (`leaseOutcome`): a success that was not
 * stored under the key, and a failure that depends on the owner's limits or hosts (timeout, out
 * of memory, lost), hand the key on (`cancelled`) instead of telling `completed` / `failed`.
 * Asked only when the two answers differ, so other trees record no marker.
 */
export const LEASE_HANDOVER_PATCH = 'lease-handover';
/**
 * Patch id: the waits a node's runner makes between its runs, the back-off before re-running on
 * an unavailable executor and the fixer call of a repair, run in the node's cancellation scope,
 * so cancelling the node (or the tree) ends them at once. Before, they ran to their end first
 * (up to a minute, or two callback timeouts) with the node still RUNNING.
 */
export const NODE_SCOPE_WAITS_PATCH = 'node-scope-waits';
/** Seconds added to a node's own timeout as Temporal's start-to-close backstop (the executor kills at the timeout). */
const TIMEOUT_GRACE_SECONDS = 30;
/** Prefix of the `lookupCache` activity ids: not `node:` (common/activity-ids.ts), so a lookup is never taken for the node's run. */
const CACHE_ACTIVITY_PREFIX = 'cache:';

/**
 * Whether a node can be cacheable, decided from its spec alone (workflow code, no I/O): the tree
 * and the node allow it, and the block is deterministic (a built-in block flagged so in
 * common/block-catalog.ts, inline code with `deterministic: true`). Whether it really gets a key
 * is the `lookupCache` activity's answer (the executor must name its runtime).
 */
export function mayCache(spec: Pick<TreeSpec, 'cache'>, rec: Pick<NodeRecord, 'block' | 'noCache'>): boolean {
  if (spec.cache === false || rec.noCache) return false;
  return 'name' in rec.block ? BlockDeterministic[rec.block.name] : rec.block.deterministic === true;
}

/** How the cache step before a node's first run ended. */
type CacheStart =
  | { kind: 'none' }
  | { kind: 'hit'; result: NodeResult }
  | { kind: 'compute'; key: string; release?: Extract<LeaseGrant, { role: 'compute' }>['release'] }
  | { kind: 'failed'; reason: string; errorType: string }
  | { kind: 'cancelled' };

/** What a node runner needs from its tree. */
export interface NodeRunnerContext {
  spec: TreeSpec;
  treeId: string;
  /** Distinguishes executions of one tree id in the workspace (see RunNodeInput.runKey). */
  runKey: string;
  tree: TreeState;
  /** Activities for the fixer endpoint, with the tree's callback timeout. */
  callbacks: Pick<TreeActivities, 'callFixer'>;
  /** Why the tree is being cancelled, or null. */
  cancelReason(): string | null;
  /** Called once when a node COMPLETED (reactive expansion). */
  onCompleted(rec: NodeRecord, result: NodeResult): void;
}

/**
 * Returns `runNode(rec, scope, onEnd?)`, which resolves when the node has ended and the scheduler
 * knows; `onEnd` is called then, also when it throws (before its promise settles), so a caller
 * needs no `then()` of its own (one promise fewer per node, workflows/analysis-tree.ts).
 */
export function createNodeRunner(ctx: NodeRunnerContext): (rec: NodeRecord, scope: CancellationScope, onEnd?: () => void) => Promise<void> {
  const { spec, treeId, runKey, tree, callbacks } = ctx;

  function nodeActivity(rec: NodeRecord, run: number) {
    const timeout = rec.timeout ?? spec.jobTimeout;
    const maxRetries = rec.maxRetries ?? spec.maxRetries;
    const retry = {
      maximumAttempts: maxRetries + 1,
      initialInterval: `${Math.max(spec.retryDelay, 0.001)}s`,
      backoffCoefficient: 2,
      nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
    };
    // A local activity runs on this workflow's worker, so a node routed to another task queue
    // cannot be one, nor can a long one (LOCAL_NODE_MAX_TIMEOUT_SECONDS). No patch guards this
    // branch: trees recorded before the option parse it as false and take the regular branch.
    if (spec.localActivities && rec.taskQueue === undefined && timeout <= LOCAL_NODE_MAX_TIMEOUT_SECONDS) {
      return proxyLocalActivities<TreeActivities>({
        startToCloseTimeout: `${timeout + TIMEOUT_GRACE_SECONDS}s`,
        cancellationType: 'WAIT_CANCELLATION_COMPLETED',
        retry,
      }).runNode;
    }
    return proxyActivities<TreeActivities>({
      ...(patched(NODE_ACTIVITY_ID_PATCH) ? { activityId: nodeActivityId(rec.id, run) } : {}),
      taskQueue: rec.taskQueue,
      startToCloseTimeout: `${timeout + TIMEOUT_GRACE_SECONDS}s`,
      heartbeatTimeout: `${spec.heartbeatTimeout}s`,
      // Wait for the worker to confirm the container is gone before the node counts as CANCELLED.
      cancellationType: 'WAIT_CANCELLATION_COMPLETED',
      retry,
    }).runNode;
  }

  /** The `lookupCache` activity, on the node's task queue (its worker's executor names the runtime). */
  function lookupActivity(rec: NodeRecord, n: number) {
    const timeout = rec.timeout ?? spec.jobTimeout;
    return proxyActivities<TreeActivities>({
      activityId: `${CACHE_ACTIVITY_PREFIX}${rec.id}:${rec.attempts.length + 1}:${n}`,
      taskQueue: rec.taskQueue,
      // Hashing a large root input (once per worker) or building a requirements image may take a while; the heartbeat tells a live lookup from a lost one.
      startToCloseTimeout: `${timeout + TIMEOUT_GRACE_SECONDS}s`,
      heartbeatTimeout: `${spec.heartbeatTimeout}s`,
      retry: { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2 },
    }).lookupCache;
  }

  /** The activity input of run `runIndex` of a node. */
  function activityInput(rec: NodeRecord, runIndex: number, resources: Resources | undefined): RunNodeInput {
    const input: RunNodeInput = {
      treeId, runKey, nodeId: rec.id, attempt: runIndex, block: rec.block, inputPath: inputPathFor(rec), resources,
      timeoutSeconds: rec.timeout ?? spec.jobTimeout, patchedCode: rec.patchedCode,
    };
    // Only cohort nodes carry these, so single-input activity inputs are unchanged.
    const inputs = inputsFor(rec);
    if (inputs) input.inputs = inputs;
    const sample = runSample(rec.sample);
    if (sample) input.sample = sample;
    return input;
  }

  /**
   * Before a cacheable node's first run: look its key up; on a miss take the key's lease
   * (workflows/key-lease.ts) and compute, or wait for the tree that computes it and look up
   * again. A lookup that fails (after its retries) leaves the node uncached: it runs as before.
   */
  async function startFromCache(rec: NodeRecord, scope: CancellationScope): Promise<CacheStart> {
    const input = activityInput(rec, 1, memoryFor(rec));
    let found: CacheLookup;
    try {
      found = await scope.run(() => lookupActivity(rec, 1)(input));
    } catch (err) {
      if (classifyFailure(err).state === 'CANCELLED') return { kind: 'cancelled' };
      rec.transitions.push(['RUNNING', Date.now(), `cache lookup failed, running uncached: ${classifyFailure(err).message.split('\n')[0]}`]);
      return { kind: 'none' };
    }
    const key = found.key;
    if (key === null) return { kind: 'none' };
    if (found.hit) {
      rec.cache = { key, hit: true, ...(found.hit.cachedFrom ? { from: found.hit.cachedFrom } : {}) };
      recordEvent(rec, 'cache-hit', cacheHitDetail(key, found.hit.cachedFrom), Date.now());
      return { kind: 'hit', result: found.hit };
    }
    rec.cache = { key, hit: false };
    let grant: LeaseGrant;
    try {
      const holdLimit = holdLimitSeconds(rec.timeout ?? spec.jobTimeout, rec.maxRetries ?? spec.maxRetries, spec.retryDelay);
      const onWait = (owner: LeaseHolder) => { noteSharedWait(rec, owner, key, Date.now()); tree.version++; };
      grant = await scope.run(() => acquireKeyLease(key, { treeId, nodeId: rec.id, holdLimitSeconds: holdLimit }, { onWait })).finally(() => endSharedWait(rec));
    } catch (err) {
      const f = classifyFailure(err);
      if (f.state === 'CANCELLED') return { kind: 'cancelled' };
      rec.transitions.push(['RUNNING', Date.now(), `key lease failed, computing without it: ${f.message.split('\n')[0]}`]);
      return { kind: 'compute', key };
    }
    if (grant.role === 'compute') {
      const w = rec.cache.waitedFor;
      if (w) rec.transitions.push(['RUNNING', Date.now(), `computing here: tree ${w.treeId} node ${w.nodeId} gave the key up (cancelled, or past its hold limit)`]);
      return { kind: 'compute', key, release: grant.release };
    }
    if (grant.role === 'failed') {
      rec.cache.waitedFor = grant.owner;
      const error = grant.error.split('\n')[0] ?? '';
      return {
        kind: 'failed', errorType: FailureTypes.SharedComputationFailed,
        reason: `the same computation (cache key ${key.slice(0, 12)}) failed in tree "${grant.owner.treeId}" node "${grant.owner.nodeId}": ${error}`,
      };
    }
    // 'ready': the key was published while this node waited; the new entry is normally there.
    try {
      found = await scope.run(() => lookupActivity(rec, 2)(input));
    } catch (err) {
      if (classifyFailure(err).state === 'CANCELLED') return { kind: 'cancelled' };
      return { kind: 'compute', key };
    }
    if (found.hit) {
      const from = found.hit.cachedFrom;
      // waitedFor names the tree's workflow id (the lease's owner), `from` the workspace it published from.
      rec.cache = { key, hit: true, ...(from ? { from } : {}), waitedFor: grant.owner };
      recordEvent(rec, 'cache-hit', `${cacheHitDetail(key, from)}, after waiting for tree ${grant.owner.treeId} node ${grant.owner.nodeId}`, Date.now());
      return { kind: 'hit', result: found.hit };
    }
    // Published and gone again (a corrupt entry moved aside): compute it here.
    return { kind: 'compute', key };
  }

  /** The `cache-hit` event's words: the key and the attempt whose output the node took. */
  function cacheHitDetail(key: string, from: NodeResult['cachedFrom']): string {
    return `reused the output of ${from ? `tree ${from.treeId} node ${from.nodeId} attempt ${from.attempt}` : 'a cached result'} (cache key ${key.slice(0, 12)})`;
  }

  function inputPathFor(rec: NodeRecord): string | null {
    if (rec.inputs) return null;
    // A template root reads its sample's own .h5ad.
    if (!rec.parentId) return (rec.sample !== undefined ? sampleById(rec.sample)?.path : undefined) ?? spec.inputDataPath ?? null;
    return tree.nodes.get(rec.parentId)?.output?.outputPath ?? null;
  }

  function sampleById(id: string) {
    return tree.samples.find((s) => s.sample === id);
  }

  function runSample(id: string | undefined): RunNodeInput['sample'] {
    const s = id === undefined ? undefined : sampleById(id);
    return s ? { sample: s.sample, columns: { ...s.columns } } : undefined;
  }

  /**
   * The inputs of a multi-input node, in order: each input node's published output, keyed by its
   * sample id for a gather and by its node id for a list, with its sample's columns when it has one.
   * Inputs are dependencies, so all have COMPLETED (and published) by now.
   */
  function inputsFor(rec: NodeRecord): RunNodeInput['inputs'] {
    if (!rec.inputs) return undefined;
    return rec.inputs.map((id) => {
      const n = tree.nodes.get(id);
      const sample = runSample(n?.sample);
      const key = rec.gather !== undefined && n?.sample !== undefined ? n.sample : id;
      return { key, path: n?.output?.outputPath ?? '', ...(sample ? { sample } : {}) };
    });
  }

  function memoryFor(rec: NodeRecord): RunNodeInput['resources'] {
    const r = rec.resources;
    if (!r?.memoryMB || rec.oomRetries === 0) return r;
    return { ...r, memoryMB: memoryForAttempt(r, rec.oomRetries, r.memoryMB) };
  }

  /** Records the attempts of one activity run from what the worker reported (or one summary attempt). */
  function recordAttempts(rec: NodeRecord, placeholder: AttemptRecord, history: NodeResult['attemptHistory'] | undefined, fallback: Partial<AttemptRecord>): void {
    rec.attempts.pop();
    if (history && history.length > 0) {
      for (const h of history) {
        rec.attempts.push({
          n: rec.attempts.length + 1, runIndex: placeholder.runIndex, scheduledAt: placeholder.scheduledAt,
          startedAt: Date.parse(h.startedAt), endedAt: h.endedAt ? Date.parse(h.endedAt) : null, state: h.outcome,
          worker: h.worker, error: h.error, errorType: h.errorType, exitCode: h.exitCode, memoryMB: h.memoryMB ?? placeholder.memoryMB,
        });
      }
      // The last attempt is the one this outcome describes: keep the workflow's view of its error.
      const last = rec.attempts[rec.attempts.length - 1]!;
      if (fallback.error && !last.error) last.error = fallback.error;
      if (fallback.reused) last.reused = true;
    } else {
      rec.attempts.push({ ...placeholder, ...fallback, n: rec.attempts.length + 1 });
    }
    tree.version++;
  }

  /**
   * The seed's bug fixer: asks the fixer endpoint for patched code; null when it gives up or
   * fails, `cancelled` when the node was cancelled while it asked (NODE_SCOPE_WAITS_PATCH).
   */
  async function repair(rec: NodeRecord, scope: CancellationScope, error: string, stderrTail: string): Promise<string | null | 'cancelled'> {
    if (!('code' in rec.block) || !spec.expansion.fixerUrl) return null;
    try {
      const url = spec.expansion.fixerUrl;
      const code = rec.patchedCode ?? rec.block.code;
      const ask = () => callbacks.callFixer(url, { treeId, nodeId: rec.id, code, parameters: rec.block.parameters, error, stderrTail, repair: rec.repairs + 1 });
      const res = await (patched(NODE_SCOPE_WAITS_PATCH) ? scope.run(ask) : ask());
      rec.transitions.push(['RUNNING', Date.now(), res.code ? `repair ${rec.repairs + 1}: patched code received` : 'repair: fixer gave up']);
      const said = res.explanation?.trim();
      recordEvent(rec, 'repair', res.code ? `repair ${rec.repairs + 1}: ${said || 'patched code received (no explanation)'}` : `gave up${said ? `: ${said}` : ''}`, Date.now());
      return res.code;
    } catch (err) {
      if (isCancellation(err) && scope.consideredCancelled) return 'cancelled';
      const message = classifyFailure(err).message;
      rec.transitions.push(['RUNNING', Date.now(), `repair failed: ${message}`]);
      recordEvent(rec, 'repair', `repair ${rec.repairs + 1} failed: ${message}`, Date.now());
      return null;
    }
  }

  /** Runs one node until it ends, re-running it when the workflow decides to (lost worker, OOM growth, repair). */
  return async function runNode(rec: NodeRecord, scope: CancellationScope, onEnd?: () => void): Promise<void> {
    // The whole body in one try: a wrapper function around it would cost two promises more.
    try {
      let outcome: 'COMPLETED' | 'FAILED' | 'TIMEOUT' | 'CANCELLED' = 'FAILED';
      let reason: string | undefined;
      let result: NodeResult | undefined;
      /** The failure type of the node's last run, and whether its success was stored under its key (for the lease). */
      let errorType: string | undefined;
      let stored = false;
      // patched() only for nodes that may be cacheable: other nodes (sleep) add no marker and no activity.
      const cache: CacheStart = mayCache(spec, rec) && patched(NODE_CACHE_PATCH) ? await startFromCache(rec, scope) : { kind: 'none' };
      // A key describes the code it was computed for: once a repair patched the code, results are no longer published under it.
      const repairsAtLookup = rec.repairs;
      try {
        if (cache.kind === 'hit') {
          result = cache.result;
          const placeholder: AttemptRecord = { n: rec.attempts.length + 1, runIndex: 1, scheduledAt: Date.now(), startedAt: null, endedAt: null, state: 'RUNNING' };
          rec.attempts.push(placeholder);
          recordAttempts(rec, placeholder, undefined, { startedAt: Date.parse(result.startedAt), endedAt: Date.parse(result.endedAt), state: 'COMPLETED', worker: result.worker, cached: true });
          rec.output = outputOf(result);
          outcome = 'COMPLETED';
        } else if (cache.kind === 'failed') {
          const now = Date.now();
          rec.attempts.push({ n: rec.attempts.length + 1, runIndex: 1, scheduledAt: now, startedAt: null, endedAt: now, state: 'FAILED', error: cache.reason, errorType: cache.errorType });
          tree.version++;
          outcome = 'FAILED';
          reason = cache.reason;
        } else if (cache.kind === 'cancelled') {
          outcome = 'CANCELLED';
          reason = ctx.cancelReason() ?? rec.error ?? 'cancelled';
        } else {
          ({ outcome, reason, result, errorType, stored } = await compute(rec, scope, cache.kind === 'compute' ? () => (rec.repairs === repairsAtLookup ? cache.key : undefined) : () => undefined));
        }
      } finally {
        // The lease's owner reports how its computation ended on every path, also when the node was
        // cancelled (a non-cancellable scope: the cancelled scope could not run the release).
        if (cache.kind === 'compute' && cache.release) {
          const release = cache.release;
          const before = outcome === 'COMPLETED' ? 'completed' : outcome === 'CANCELLED' ? 'cancelled' : 'failed';
          const now = leaseOutcome(outcome, errorType, stored);
          const how = now === before || !patched(LEASE_HANDOVER_PATCH) ? before : now;
          await CancellationScope.nonCancellable(() => release(how, how === 'failed' ? reason : undefined));
        }
      }
      if (reason) rec.error = reason;
      // A cancelNode that came as the node was completing set its reason; the node completed.
      else if (outcome === 'COMPLETED') delete rec.error;
      const a = rec.attempts[rec.attempts.length - 1];
      const duration = a?.startedAt != null && a.endedAt != null ? (a.endedAt - a.startedAt) / 1000 : undefined;
      tree.apply(tree.scheduler.finish(rec.id, outcome, duration, reason), Date.now());
      if (outcome === 'COMPLETED' && result) ctx.onCompleted(rec, result);
    } finally {
      onEnd?.();
    }
  };

  /**
   * Runs the node's activity until it ends; `cacheKey()` gives the key to publish a success under,
   * if any. `errorType` is the last failure's type; `stored` is true when the success was stored
   * under its key.
   */
  async function compute(rec: NodeRecord, scope: CancellationScope, cacheKey: () => string | undefined): Promise<{ outcome: 'COMPLETED' | 'FAILED' | 'TIMEOUT' | 'CANCELLED'; reason?: string; result?: NodeResult; errorType?: string; stored: boolean }> {
    let outcome: 'COMPLETED' | 'FAILED' | 'TIMEOUT' | 'CANCELLED' = 'FAILED';
    let reason: string | undefined;
    let result: NodeResult | undefined;
    let errorType: string | undefined;
    let stored = false;
    for (let runIndex = 1; ; runIndex++) {
      const resources = memoryFor(rec);
      const placeholder: AttemptRecord = { n: rec.attempts.length + 1, runIndex, scheduledAt: Date.now(), startedAt: null, endedAt: null, state: 'RUNNING', memoryMB: resources?.memoryMB };
      rec.attempts.push(placeholder);
      const input = activityInput(rec, runIndex, resources);
      const key = cacheKey();
      if (key !== undefined) input.cacheKey = key;
      try {
        result = await scope.run(() => nodeActivity(rec, placeholder.n).executeWithOptions({ summary: `${rec.id} · ${blockLabel(rec.block)} · run ${runIndex}` }, [input]));
        recordAttempts(rec, placeholder, result.attemptHistory, {
          startedAt: Date.parse(result.startedAt), endedAt: Date.parse(result.endedAt), state: 'COMPLETED', worker: result.worker, reused: result.reused, peakMemoryMB: result.peakMemoryMB ?? undefined,
        });
        rec.output = outputOf(result);
        outcome = 'COMPLETED';
        // A worker from before `cacheStored` existed stored it or said nothing: as before.
        stored = key !== undefined && result.cacheStored !== false;
        break;
      } catch (err) {
        const f = classifyFailure(err);
        errorType = f.type;
        const attemptState = f.state === 'CANCELLED' ? 'CANCELLED' : f.state;
        recordAttempts(rec, placeholder, f.details.attemptHistory, { endedAt: Date.now(), state: attemptState, error: f.message, errorType: f.type, exitCode: f.details.exitCode ?? undefined });
        if (f.state === 'CANCELLED') {
          outcome = 'CANCELLED';
          reason = ctx.cancelReason() ?? rec.error ?? 'cancelled';
          break;
        }
        if (f.state === 'LOST' && rec.lostRetries < MAX_LOST_RETRIES) {
          rec.lostRetries++;
          // An unavailable executor (Docker down) gets time to come back before the next run:
          // 5 s, 10 s, 20 s, ... up to a minute. A lost worker needs no wait (the heartbeat
          // timeout already passed). patched(): trees recorded before this change replay as they ran.
          if (f.type === FailureTypes.ExecutorUnavailable && patched(LOST_BACKOFF_PATCH)) {
            const ms = Math.min(60_000, 5000 * 2 ** (rec.lostRetries - 1));
            // Histories from before the patch sleep in the workflow's scope, which only a cancel
            // through Temporal reaches; that must end the node too, not reject out of runNode.
            if (!(await sleepUnlessCancelled(ms, patched(NODE_SCOPE_WAITS_PATCH) ? scope : undefined))) {
              outcome = 'CANCELLED';
              reason = ctx.cancelReason() ?? rec.error ?? 'cancelled';
              break;
            }
          }
          continue;
        }
        const maxRetries = rec.maxRetries ?? spec.maxRetries;
        if (f.type === FailureTypes.OutOfMemory && rec.resources?.memoryGrowthFactor && rec.oomRetries < Math.max(1, maxRetries)) { rec.oomRetries++; continue; }
        if (f.type === FailureTypes.BlockCrashed && 'code' in rec.block && spec.expansion.fixerUrl && rec.repairs < spec.expansion.maxRepairs && !ctx.cancelReason()) {
          const patched = await repair(rec, scope, f.message, f.details.stderrTail ?? '');
          if (patched === 'cancelled') {
            outcome = 'CANCELLED';
            reason = ctx.cancelReason() ?? rec.error ?? 'cancelled';
            break;
          }
          if (patched) { rec.patchedCode = patched; rec.repairs++; continue; }
        }
        outcome = f.state === 'TIMEOUT' ? 'TIMEOUT' : 'FAILED';
        reason = f.state === 'LOST' ? `${f.message} (gave up after ${MAX_LOST_RETRIES} re-runs)` : f.message;
        break;
      }
    }
    return { outcome, reason, result, errorType, stored };
  }
}

/** Sleeps `ms` (in `scope`, else the current one): true when the time passed, false when cancelled meanwhile. */
async function sleepUnlessCancelled(ms: number, scope?: CancellationScope): Promise<boolean> {
  try {
    await (scope ? scope.run(() => sleep(ms)) : sleep(ms));
    return true;
  } catch (err) {
    if (isCancellation(err)) return false;
    throw err;
  }
}

/** What the node record keeps of a result. */
function outputOf(result: NodeResult): NonNullable<NodeRecord['output']> {
  return {
    outputDir: result.outputDir, outputPath: result.outputPath, sha256: result.outputSha256, shape: result.shape,
    summary: result.summary, figures: result.figures, metrics: result.metrics, imageDigest: result.imageDigest,
  };
}
