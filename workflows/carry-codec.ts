/**
 * Compact encoding of node records for continue-as-new. Temporal refuses a continue-as-new input
 * above 2 MB; plain JSON records take about 500 bytes per node, so a 5,000-node tree would not
 * fit. The encoding shares repeated strings (blocks, workers, states, the workspace prefix) in a
 * table, stores times relative to the tree's first node, and leaves out what is kept on disk
 * next to each published output (`node-result.json`: metrics, figure lists). About 200 bytes per
 * node remain. Pure and deterministic, so it runs in the workflow sandbox.
 */
import type { Block, NodeState } from '../common/schemas';
import type { AttemptRecord, AttemptState, NodeOutput, NodeRecord, TransitionRecord } from './node-record';

/** The encoded form: a string table, a time base, and one tuple per node. */
export interface EncodedNodes {
  v: 1;
  base: number;
  strings: string[];
  nodes: unknown[][];
}

class Table {
  readonly strings: string[] = [];
  private readonly index = new Map<string, number>();
  id(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

const OUTPUT_FILE = '/_node_anndata.h5ad';

/** Encodes node records (insertion order kept). */
export function encodeNodes(nodes: readonly NodeRecord[]): EncodedNodes {
  const t = new Table();
  const base = nodes[0]?.queuedAt ?? 0;
  const rel = (ms: number | null) => (ms == null ? null : ms - base);
  const encoded = nodes.map((n) => {
    const attempts = n.attempts.map((a) => {
      const extra: Record<string, unknown> = {};
      for (const k of ['error', 'errorType', 'exitCode', 'memoryMB', 'peakMemoryMB', 'reused'] as const) if (a[k] !== undefined && a[k] !== false) extra[k] = a[k];
      return [a.runIndex, rel(a.scheduledAt), rel(a.startedAt), rel(a.endedAt), t.id(a.state), a.worker === undefined ? -1 : t.id(a.worker), Object.keys(extra).length ? extra : 0];
    });
    const transitions = n.transitions.flatMap(([state, at, reason]) => (reason === undefined ? [t.id(state), at - n.queuedAt] : [t.id(state), at - n.queuedAt, reason]));
    const o = n.output;
    const output = o
      ? [o.outputPath === o.outputDir + OUTPUT_FILE ? 0 : o.outputPath, t.id(splitDir(o.outputDir)[0]), splitDir(o.outputDir)[1], o.sha256, o.shape ?? 0, o.summary.slice(0, 300), o.imageDigest === null ? -1 : t.id(o.imageDigest)]
      : 0;
    const extras: Record<string, unknown> = {};
    for (const k of ['timeout', 'maxRetries', 'resources', 'expectedDuration', 'taskQueue', 'patchedCode', 'error'] as const) if (n[k] !== undefined) extras[k] = n[k];
    for (const k of ['repairs', 'oomRetries', 'lostRetries'] as const) if (n[k] !== 0) extras[k] = n[k];
    const onlyParent = n.parentId !== null && n.dependencies.length === 1 && n.dependencies[0] === n.parentId;
    return [
      n.id, n.parentId ?? 0, onlyParent ? 0 : n.dependencies, n.priority, n.depth, t.id(JSON.stringify(n.block)), t.id(n.source), t.id(n.state),
      n.queuedAt - base, transitions, attempts, output, Object.keys(extras).length ? extras : 0,
    ];
  });
  return { v: 1, base, strings: t.strings, nodes: encoded };
}

/** Decodes what {@link encodeNodes} produced. Metrics and figure lists come back empty (they are on disk). */
export function decodeNodes(e: EncodedNodes): NodeRecord[] {
  const s = (i: number) => e.strings[i] as string;
  return e.nodes.map((raw) => {
    const [id, parentId, deps, priority, depth, block, source, state, queued, transitions, attempts, output, extras] = raw as [
      string, string | 0, string[] | 0, number, number, number, number, number, number, (number | string)[], unknown[][], unknown[] | 0, Record<string, unknown> | 0,
    ];
    const queuedAt = queued + e.base;
    const trs: TransitionRecord[] = [];
    for (let i = 0; i < transitions.length; ) {
      const st = s(transitions[i] as number) as NodeState;
      const at = (transitions[i + 1] as number) + queuedAt;
      const maybeReason = transitions[i + 2];
      if (typeof maybeReason === 'string') {
        trs.push([st, at, maybeReason]);
        i += 3;
      } else {
        trs.push([st, at]);
        i += 2;
      }
    }
    const abs = (v: unknown) => (v === null ? null : (v as number) + e.base);
    const atts: AttemptRecord[] = attempts.map((a, k) => ({
      n: k + 1, runIndex: a[0] as number, scheduledAt: abs(a[1]) as number, startedAt: abs(a[2]), endedAt: abs(a[3]),
      state: s(a[4] as number) as AttemptState, ...((a[5] as number) >= 0 ? { worker: s(a[5] as number) } : {}), ...((a[6] as object | 0) || {}),
    }));
    let out: NodeOutput | undefined;
    if (output) {
      const dir = s(output[1] as number) + (output[2] as string);
      out = {
        outputDir: dir, outputPath: output[0] === 0 ? dir + OUTPUT_FILE : (output[0] as string), sha256: output[3] as string,
        shape: (output[4] as [number, number] | 0) || null, summary: output[5] as string, figures: [], metrics: {},
        imageDigest: (output[6] as number) >= 0 ? s(output[6] as number) : null,
      };
    }
    const x = (extras || {}) as Partial<NodeRecord>;
    const rec: NodeRecord = {
      id, parentId: parentId === 0 ? null : parentId, dependencies: deps === 0 ? (parentId === 0 ? [] : [parentId]) : deps,
      priority, depth, block: JSON.parse(s(block)) as Block, source: s(source), state: s(state) as NodeState, queuedAt,
      transitions: trs, attempts: atts, repairs: x.repairs ?? 0, oomRetries: x.oomRetries ?? 0, lostRetries: x.lostRetries ?? 0,
    };
    for (const k of ['timeout', 'maxRetries', 'resources', 'expectedDuration', 'taskQueue', 'patchedCode', 'error'] as const) {
      if (x[k] !== undefined) (rec as unknown as Record<string, unknown>)[k] = x[k];
    }
    if (out) rec.output = out;
    return rec;
  });
}

/** Splits an output folder into a prefix shared by the tree's nodes (up to `/nodes/`) and the rest. */
function splitDir(p: string): [string, string] {
  const k = p.lastIndexOf('/nodes/');
  const cut = k >= 0 ? k + '/nodes/'.length : p.lastIndexOf('/') + 1;
  return [p.slice(0, cut), p.slice(cut)];
}
