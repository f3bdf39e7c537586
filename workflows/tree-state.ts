/**
 * The in-workflow state of one tree: node records, the scheduler, applied request ids and
 * rejected additions, and the operations that change them. No Temporal calls here except the
 * workflow clock (`Date.now()` is deterministic inside the sandbox), so the rules of the tree
 * stay readable apart from the orchestration in `analysis-tree.ts`.
 */
import { expandTemplates, inlineRowLocator, instantiate, samplesFromRows, type CohortContext, type Sample } from '../common/cohort';
import { AddNodesRequestSchema, AddSamplesRequestSchema, MAX_SAMPLES, SPEC_REQUEST_ID, formatZodError, reservedRequestIdError, type AddNodesRequest, type NodeState, type TreeSpec } from '../common/schemas';
import { blockValueErrors, initialNodes, rootInputErrors, validateAdditions, type ExistingTree, type NormalizedNode } from '../common/tree-validation';
import type { CarriedState } from './carried-state';
import { blockKey, type NodeRecord, type TransitionRecord } from './node-record';
import { forkOrigin, type AdditionOrigin, type Provenance } from './provenance';
import { TreeScheduler, type SchedulerSnapshot, type Transition } from './scheduler';
import type { RejectedAddition } from './views';

/** Most rejected fire-and-forget additions kept in the status. */
const MAX_REJECTED_KEPT = 100;

/** Outcome of {@link TreeState.addNodes}. */
export type AddOutcome = { ok: true; added: string[]; duplicate: boolean } | { ok: false; errors: string[] };

/** Outcome of {@link TreeState.addSamples}. */
export type AddSamplesOutcome =
  | { ok: true; samples: string[]; added: string[]; gathers: string[]; duplicate: boolean }
  | { ok: false; errors: string[] };

/** States of a gather that can still take in new samples. */
const NOT_STARTED: readonly NodeState[] = ['PENDING', 'WAITING', 'READY'];

/** Mutable state of one tree inside the workflow. */
export class TreeState {
  readonly nodes = new Map<string, NodeRecord>();
  readonly order: NodeRecord[] = [];
  /** Replaced once by {@link restore}. */
  scheduler: TreeScheduler;
  readonly appliedRequests = new Set<string>();
  readonly rejected: RejectedAddition[] = [];
  paused = false;
  closed = false;
  runs = 0;
  /** Bumps on every change, so watchers can poll a cheap summary. */
  version = 0;
  maxParallelJobs: number;
  /** The cohort's samples, in sheet order; nodes name them by id (`NodeRecord.sample`). */
  readonly samples: Sample[] = [];
  private readonly templateIds: ReadonlySet<string>;

  constructor(readonly spec: TreeSpec, carried?: CarriedState) {
    this.maxParallelJobs = spec.maxParallelJobs;
    this.templateIds = new Set(spec.forEachSample.map((t) => t.id));
    this.scheduler = new TreeScheduler(this.schedulerOptions());
    if (carried) this.restore(carried);
  }

  private schedulerOptions() {
    // The seed's `priority_queue: false` is a plain FIFO queue: no priorities, submission order.
    const spec = this.spec;
    return { strategy: spec.priorityQueue ? spec.priorityStrategy : ('fifo' as const), usePriority: spec.priorityQueue, maxParallel: this.maxParallelJobs };
  }

  /**
   * Takes over the state a previous run carried (into a tree that has no nodes yet): the records
   * as they are, and the scheduler rebuilt from them.
   */
  restore(carried: CarriedState): void {
    if (this.order.length > 0) throw new Error('restore: the tree already has nodes');
    this.maxParallelJobs = carried.maxParallelJobs;
    this.scheduler = TreeScheduler.restore(schedulerSnapshotOf(carried.nodes, carried.durationStats), this.schedulerOptions());
    for (const rec of carried.nodes) {
      // Held by the scheduler from here on (one form of it): the record carried it only across.
      delete rec.rootCause;
      this.index(rec);
    }
    carried.requests.forEach((r) => this.appliedRequests.add(r));
    this.rejected.push(...carried.rejected);
    this.paused = carried.paused;
    this.closed = carried.closed;
    this.runs = carried.runs;
    this.version = carried.version;
    if (carried.samples) this.samples.push(...carried.samples);
  }

  private index(rec: NodeRecord): void {
    this.nodes.set(rec.id, rec);
    this.order.push(rec);
  }

  /** The read-only view validation needs (the scheduler knows ids, depths and child counts). */
  existing(): ExistingTree {
    return this.scheduler;
  }

  /** Samples and templates, against which gathers and `sample` fields are checked. */
  cohort(samples: readonly Sample[] = this.samples): CohortContext {
    return { samples, templateIds: this.templateIds };
  }

  /** Validates a request without changing anything; returns the error lines, or none. */
  check(raw: unknown, prefix = 'nodes'): { request?: AddNodesRequest; errors: string[]; nodes?: NormalizedNode[] } {
    const parsed = AddNodesRequestSchema.safeParse(raw);
    if (!parsed.success) return { errors: formatZodError(parsed.error).split('\n') };
    const request = parsed.data;
    if (this.appliedRequests.has(request.requestId)) return { request, errors: [] };
    const v = validateAdditions(this.existing(), request.nodes, this.limits(), { prefix, cohort: this.cohort() });
    return v.ok ? { request, errors: [], nodes: v.nodes } : { request, errors: v.errors };
  }

  /**
   * Everything an `addNodes` request can be refused for, from one parse: `errors` are
   * {@link check}'s; `rootless` names roots that would have nothing to read (no sample and no tree
   * `inputDataPath`, with a built-in block that needs an input; `rootInputErrors`); `values` are
   * refusals for the update validator only (a validator never runs on replay, and handlers
   * accepted these before): parameter values the block schemas accept but that give a meaningless
   * result (`blockValueErrors`), and a request id that was applied before with other nodes (see
   * {@link duplicateErrors}). `rootless` is kept apart because {@link addNodes} accepted such
   * nodes in histories recorded before ROOT_INPUT_PATCH (workflows/analysis-tree.ts). Both are
   * empty for a request that does not parse.
   */
  /**
   * {@link vet}'s `rootless` alone, from one parse and no validation of the tree (for the
   * handlers, whose {@link addNodes} validates anyway). Empty for a request that does not parse
   * or was applied already.
   */
  rootless(raw: unknown, prefix = 'nodes'): string[] {
    const parsed = AddNodesRequestSchema.safeParse(raw);
    if (!parsed.success || this.appliedRequests.has(parsed.data.requestId)) return [];
    return this.rootlessOf(parsed.data, prefix);
  }

  private rootlessOf(request: AddNodesRequest, prefix: string): string[] {
    return rootInputErrors(request.nodes, (i) => `${prefix}[${i}]`, this.spec.inputDataPath !== undefined,
      'this tree has no inputDataPath: give the node a parentId, or one of the tree\'s samples (sample)');
  }

  vet(raw: unknown, prefix = 'nodes'): { errors: string[]; rootless: string[]; values: string[] } {
    const { request, errors } = this.check(raw, prefix);
    if (!request) return { errors, rootless: [], values: [] };
    if (this.appliedRequests.has(request.requestId)) return { errors, rootless: [], values: this.duplicateErrors(request) };
    return { errors, rootless: this.rootlessOf(request, prefix), values: blockValueErrors(request.nodes, (i) => `${prefix}[${i}]`) };
  }

  /**
   * Why a request whose id was applied before is not a retry of it: the id is the tree's own
   * (`spec`, its initial nodes), or the nodes added under it (their provenance's `requestId`)
   * have other ids than this request's. A retry sends the same nodes; new nodes need a new id,
   * else they would be dropped as a duplicate without a word. Empty for a true retry, and when
   * the earlier request added nodes without provenance (records from before provenance existed).
   */
  private duplicateErrors(request: AddNodesRequest): string[] {
    const id = request.requestId;
    if (id === SPEC_REQUEST_ID) return [reservedRequestIdError()];
    const before = this.order.filter((r) => r.provenance?.requestId === id).map((r) => r.id);
    if (before.length === 0) return [];
    const now = request.nodes.map((n) => n.id);
    const same = before.length === now.length && now.every((n) => before.includes(n));
    if (same) return [];
    const list = (ids: string[]) => ids.slice(0, 5).map((x) => `"${x}"`).join(', ') + (ids.length > 5 ? `, … (${ids.length})` : '');
    return [`requestId: "${id}" was applied before, adding ${list(before)}; this request holds ${list(now)}. A retry must send the same nodes: use a new request id for new ones`];
  }

  /**
   * Adds the spec's initial nodes: `forEachSample` expanded for every sample (sheet order), then
   * `nodes`. Call once, on a tree's first run. All or nothing.
   */
  start(now: number): { ok: true } | { ok: false; errors: string[] } {
    const init = initialNodes(this.spec);
    if (!init.ok) return init;
    const { nodes, paths, samples } = init.initial;
    if (nodes.length === 0) return { ok: true };
    const v = validateAdditions(this.existing(), nodes, this.limits(), { pathOf: (i) => paths[i] ?? `nodes[${i}]`, cohort: this.cohort(samples) });
    if (!v.ok) return { ok: false, errors: [...new Set(v.errors)] };
    this.samples.push(...samples);
    this.appliedRequests.add(SPEC_REQUEST_ID);
    // A forked tree's roots read the origin node's output: the fork added them, the spec the rest.
    const fork = forkOrigin(this.spec);
    const at = new Date(now).toISOString();
    const spec: Provenance = { by: 'spec', at, requestId: SPEC_REQUEST_ID };
    const forked: Provenance | null = fork ? { by: 'fork', at, requestId: SPEC_REQUEST_ID, from: `${fork.treeId}/${fork.nodeId}` } : null;
    this.insert(v.nodes, (n) => (forked && !n.parentId && !n.inputs ? forked : spec), now);
    this.version++;
    return { ok: true };
  }

  /**
   * Checks an `addSamples` request without changing anything. Returns the new samples, their
   * expanded nodes (validated against the tree) and the gathers that take them in; or one line
   * per problem: bad or duplicate rows, no templates, or a gather over the templates that has
   * already started (`gather node "merge" is RUNNING; …`).
   */
  checkSamples(raw: unknown): { requestId?: string; errors: string[]; samples?: Sample[]; nodes?: NormalizedNode[]; gathers?: NodeRecord[] } {
    const parsed = AddSamplesRequestSchema.safeParse(raw);
    if (!parsed.success) return { errors: formatZodError(parsed.error).split('\n') };
    const { requestId } = parsed.data;
    if (this.appliedRequests.has(requestId)) return { requestId, errors: [] };
    if (this.templateIds.size === 0) return { requestId, errors: ['samples: this tree has no forEachSample templates to expand for new samples'] };
    const total = this.samples.length + parsed.data.samples.length;
    if (total > MAX_SAMPLES) return { requestId, errors: [`samples: adding ${parsed.data.samples.length} would make ${total} samples, more than ${MAX_SAMPLES} (the tree has ${this.samples.length})`] };
    const rows = samplesFromRows(parsed.data.samples, inlineRowLocator('samples'), this.samples);
    if (!rows.ok) return { requestId, errors: rows.errors };
    const gathers = this.order.filter((r) => r.gather !== undefined);
    const started = gathers.filter((g) => !NOT_STARTED.includes(g.state));
    if (started.length > 0) {
      return {
        requestId,
        errors: started.map((g) => `gather node "${g.id}" (over "${g.gather as string}") is ${g.state}: it has already read its inputs, so samples can no longer be added to it; nothing was changed (start a new tree for the new samples)`),
      };
    }
    const expanded = expandTemplates(this.spec.forEachSample, rows.samples);
    if (!expanded.ok) return { requestId, errors: expanded.errors };
    const all = [...this.samples, ...rows.samples];
    const { nodes, paths } = expanded.expansion;
    const v = validateAdditions(this.existing(), nodes, this.limits(), { pathOf: (i) => paths[i] ?? `forEachSample[${i}]`, cohort: this.cohort(all) });
    if (!v.ok) return { requestId, errors: [...new Set(v.errors)] };
    return { requestId, errors: [], samples: rows.samples, nodes: v.nodes, gathers };
  }

  /**
   * Adds samples to a running cohort, all or nothing: expands the templates for them and adds
   * their nodes to every gather over a template (none may have started). A request id seen
   * before changes nothing and reports `duplicate`.
   */
  addSamples(raw: unknown, now: number): AddSamplesOutcome {
    const { requestId, errors, samples, nodes, gathers } = this.checkSamples(raw);
    if (errors.length > 0 || requestId === undefined) return { ok: false, errors };
    if (!samples || !nodes || !gathers) return { ok: true, samples: [], added: [], gathers: [], duplicate: true };
    this.appliedRequests.add(requestId);
    this.samples.push(...samples);
    const samplesProv: Provenance = { by: 'samples', at: new Date(now).toISOString(), requestId };
    const added = this.insert(nodes, () => samplesProv, now);
    for (const g of gathers) {
      const ids = samples.map((s) => instantiate(g.gather as string, s.sample));
      const { transitions, moved } = this.scheduler.addDependencies(g.id, ids);
      g.inputs = [...(g.inputs ?? []), ...ids];
      g.dependencies = [...g.dependencies, ...ids.filter((id) => !g.dependencies.includes(id))];
      // Same order as the scheduler's: carried records rebuild it (insertion order = sequence).
      const movedSet = new Set(moved);
      const kept = this.order.filter((r) => !movedSet.has(r.id));
      this.order.length = 0;
      this.order.push(...kept, ...moved.map((id) => this.nodes.get(id) as NodeRecord));
      for (const id of moved) (this.nodes.get(id) as NodeRecord).depth = this.scheduler.depthOf(id) as number;
      this.apply(transitions, now);
    }
    this.version++;
    return { ok: true, samples: samples.map((s) => s.sample), added, gathers: gathers.map((g) => g.id), duplicate: false };
  }

  private limits() {
    return { maxNodes: this.spec.maxNodes, maxChildrenPerNode: this.spec.maxChildrenPerNode, maxDepth: this.spec.maxDepth };
  }

  /**
   * Adds the nodes of a request, all or nothing. A request id seen before changes nothing and
   * reports `duplicate`. Accepted nodes become WAITING or READY at once. `origin` says who added
   * them (their provenance, with the request's id and its `client` identity; a request `source`
   * label other than the origin's own word, e.g. `cli` or `agent`, prefixes the identity).
   */
  addNodes(raw: unknown, origin: AdditionOrigin, now: number): AddOutcome {
    // One validation: check() returns the normalized nodes it validated.
    const { request, errors, nodes } = this.check(raw);
    if (errors.length > 0 || !request) return { ok: false, errors };
    if (this.appliedRequests.has(request.requestId) || !nodes) return { ok: true, added: [], duplicate: true };
    this.appliedRequests.add(request.requestId);
    const base: Provenance = { by: origin.by, at: new Date(now).toISOString(), requestId: request.requestId };
    const client = clientOf(request.source, request.client, origin.by);
    if (client !== undefined) base.client = client;
    if (origin.rule !== undefined) base.rule = origin.rule;
    if (origin.url !== undefined) base.url = origin.url;
    if (origin.from !== undefined) base.from = origin.from;
    const reasons = origin.reasons;
    const added = this.insert(nodes, (n) => {
      const reason = reasons?.get(n.id);
      return reason === undefined ? base : { ...base, reason };
    }, now);
    this.version++;
    return { ok: true, added, duplicate: false };
  }

  /** Creates records for validated nodes (in their order) and adds them to the scheduler. */
  private insert(nodes: readonly NormalizedNode[], provenance: (n: NormalizedNode) => Provenance, now: number): string[] {
    const added: string[] = [];
    for (const n of nodes) {
      const p = provenance(n);
      const rec: NodeRecord = {
        id: n.id,
        parentId: n.parentId ?? null,
        dependencies: n.dependencies,
        priority: n.priority,
        depth: n.depth,
        block: n.block,
        timeout: n.timeout,
        maxRetries: n.maxRetries,
        resources: n.resources,
        expectedDuration: n.expectedDuration,
        taskQueue: n.taskQueue,
        ...(n.cache === false ? { noCache: true as const } : {}),
        source: p.by,
        // A copy per node: records are mutated (events) and must not share objects.
        provenance: { ...p },
        ...(n.sample !== undefined ? { sample: n.sample } : {}),
        ...(n.inputs !== undefined ? { inputs: n.inputs } : {}),
        ...(n.gather !== undefined ? { gather: n.gather } : {}),
        state: 'PENDING',
        queuedAt: now,
        transitions: [],
        attempts: [],
        repairs: 0,
        oomRetries: 0,
        lostRetries: 0,
      };
      this.index(rec);
      added.push(rec.id);
      this.apply(
        this.scheduler.addNode({ id: rec.id, parentId: rec.parentId, dependencies: rec.dependencies, priority: rec.priority, depth: rec.depth, blockKey: blockKey(rec.block), expectedDuration: rec.expectedDuration }),
        now,
      );
    }
    return added;
  }

  /** Records a rejected fire-and-forget addition so the status shows it. */
  reject(requestId: string, source: string, errors: string[], now: number): void {
    this.rejected.push({ requestId, source, at: new Date(now).toISOString(), errors });
    if (this.rejected.length > MAX_REJECTED_KEPT) this.rejected.shift();
    this.version++;
  }

  /** Applies scheduler transitions to the node records, stamping them with `now`. */
  apply(transitions: readonly Transition[], now: number): void {
    for (const t of transitions) {
      const rec = this.nodes.get(t.nodeId);
      if (!rec) continue;
      rec.state = t.to;
      const entry: TransitionRecord = t.reason ? [t.to, now, t.reason] : [t.to, now];
      rec.transitions.push(entry);
      if (t.to === 'CANCELLED' && t.reason && !rec.error) rec.error = t.reason;
    }
    if (transitions.length > 0) this.version++;
  }

  /**
   * Nodes per state. The scheduler keeps these counts as states change (the records follow its
   * transitions exactly), so this is O(1): it runs on every activation, and counting the records
   * each time was O(nodes), which a 10,000-node tree pays thousands of times.
   */
  counts(): Record<NodeState, number> {
    return this.scheduler.counts();
  }

  /** The state for the next run (continue-as-new): the node records as they are, and the tree's scalars. */
  carry(): CarriedState {
    return {
      // The root cause lives in the scheduler; a failed or cancelled node's record carries it to the next run.
      nodes: this.order.map((rec) => {
        const rootCause = this.scheduler.rootCauseOf(rec.id);
        return rootCause ? { ...rec, rootCause } : rec;
      }),
      durationStats: Object.entries(this.scheduler.durationStats()).map(([blockKey, d]) => ({ blockKey, count: d.count, total: d.total })).sort((a, b) => (a.blockKey < b.blockKey ? -1 : a.blockKey > b.blockKey ? 1 : 0)),
      requests: [...this.appliedRequests],
      rejected: this.rejected,
      paused: this.paused,
      maxParallelJobs: this.maxParallelJobs,
      closed: this.closed,
      runs: this.runs + 1,
      version: this.version,
      ...(this.samples.length > 0 ? { samples: this.samples } : {}),
    };
  }
}

/**
 * The client identity recorded for a request: its `client`, prefixed by its `source` label when
 * that label says more than the origin's own word (`cli: alice@lab pid 7`, `agent: ...`).
 */
function clientOf(source: string | undefined, client: string | undefined, by: string): string | undefined {
  const label = source !== undefined && source !== by && source !== 'client' ? source : undefined;
  if (label !== undefined && client !== undefined) return `${label}: ${client}`;
  return client ?? label;
}

/** Rebuilds the scheduler's snapshot from carried node records (insertion order = sequence). */
function schedulerSnapshotOf(records: readonly NodeRecord[], stats: SchedulerSnapshot['stats']): SchedulerSnapshot {
  return {
    nodes: records.map((rec, seq) => {
      const last = rec.transitions[rec.transitions.length - 1];
      return {
        id: rec.id, parentId: rec.parentId, dependencies: rec.dependencies, priority: rec.priority, depth: rec.depth, seq,
        blockKey: blockKey(rec.block), expectedDuration: rec.expectedDuration, state: rec.state, reason: last?.[2],
        ...(rec.rootCause ? { rootCause: rec.rootCause } : {}),
      };
    }),
    stats,
  };
}
