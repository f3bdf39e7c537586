/**
 * Compact encoding of node records for continue-as-new. Temporal refuses a continue-as-new input
 * above 2 MB; plain JSON records take about 900 bytes per node, so the node table needs its own
 * encoding to carry a big tree.
 *
 * Version 2 (written now) is columnar:
 * - `ids`: node ids, each stored as what it does not share with the previous id (the shared
 *   length is in `ints`), separated by spaces (ids never hold one);
 * - `ints`: every number and reference of every node, as one string of variable-length base-64
 *   digits (1 character below 32, 2 below 1,024, ...): parents and dependencies as distances back
 *   in insertion order, times as differences from the time before (so a no-op node's whole life
 *   takes a dozen characters), strings as indexes into `strings`;
 * - `strings`: every string and small JSON value that nodes share (blocks, workers, states, the
 *   pattern of a node's transitions, summaries, errors), stored once;
 * - `sha`: the sha256 of each published output, base64 (43 characters instead of 64 hex).
 * What is on disk next to each published output (`node-result.json`: metrics, figure lists) is
 * left out, and so is what follows from the workspace convention (the output folder
 * `<tree>/nodes/<id>/published/attempt-<run>` and `_node_anndata.h5ad` in it) or from the graph
 * (a node's depth). About 61 bytes per completed node remain, 42 of them its sha256. Fields
 * without a column of their own (any field but the core ones, whatever its name) travel in the
 * node's `extras` JSON, so a field added to `NodeRecord`, `AttemptRecord` or `NodeOutput` is
 * carried without an edit here. A node the columns cannot represent exactly (a time that is not
 * an integer, a dependency on a later node) is carried whole as JSON: nothing is lost silently.
 *
 * Why not compressed plain JSON: measured by bench/carry-state.ts (issue 11), JSON deflated with
 * fflate takes 1.83 MB for 20,000 nodes (87 % of the 2 MiB limit, over the 70 % kept as margin)
 * against 1.22 MB here, and a continue-as-new carrying it took 3.7 s against 2.3 s (bench/carry-latency).
 *
 * Version 1 (about 210 bytes per node: one JSON tuple per node) is still decoded: a tree that
 * continued as new under the previous code carries it.
 *
 * Pure and deterministic, no Node built-ins: it runs in the workflow sandbox.
 */
import type { Block, NodeState } from '../common/schemas';
import type { AttemptRecord, AttemptState, NodeOutput, NodeRecord, TransitionRecord } from './node-record';

/** Version 1: a string table, a time base, and one JSON tuple per node. */
export interface EncodedNodesV1 {
  v: 1;
  base: number;
  strings: string[];
  nodes: unknown[][];
}

/** Version 2: columns (see the module comment). */
export interface EncodedNodesV2 {
  v: 2;
  /** Number of nodes. */
  n: number;
  /** `queuedAt` of the first node; later ones are differences. */
  base: number;
  strings: string[];
  ids: string;
  ints: string;
  sha: string;
  /** Set when summaries were left out to fit the payload limit (they are on disk). */
  lean?: true;
}

/** The encoded form carried across continue-as-new. */
export type EncodedNodes = EncodedNodesV1 | EncodedNodesV2;

/** Options of {@link encodeNodes}. */
export interface EncodeOptions {
  /** Leave summaries out (they are in `node-result.json`): the fallback when a tree would not fit. @default false */
  lean?: boolean;
}

/** Longest summary carried (the status shows the start of it; the whole one is on disk). */
export const CARRIED_SUMMARY_CHARS = 300;

const OUTPUT_FILE = '/_node_anndata.h5ad';

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

// ---- variable-length integers ------------------------------------------------------------------

/** URL-safe base-64 digits: JSON carries them unescaped. */
const DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Value of a digit by its character code; -1 for other characters. */
const DIGIT_CODE: number[] = new Array<number>(128).fill(-1);
for (let i = 0; i < DIGITS.length; i++) DIGIT_CODE[DIGITS.charCodeAt(i)] = i;
const HEX = '0123456789abcdef';
/** Value of a lowercase hex digit by its character code. */
const HEX_CODE: number[] = new Array<number>(128).fill(0);
for (let i = 0; i < 16; i++) HEX_CODE[HEX.charCodeAt(i)] = i;

/** Thrown while encoding a node the compact form cannot hold exactly; that node is carried whole. */
class NotCompact extends Error {}

/** Digits of one node, committed to the stream only when the whole node encoded. */
class IntWriter {
  out = '';
  /** Unsigned: 5 bits per digit, least significant first; digits ≥ 32 say "more follows". */
  u(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new NotCompact();
    while (v >= 32) {
      this.out += DIGITS[32 + (v % 32)] as string;
      v = Math.floor(v / 32);
    }
    this.out += DIGITS[v] as string;
  }
  /** Signed, zig-zag: 0, -1, 1, -2, ... → 0, 1, 2, 3, ... */
  s(v: number): void {
    if (!Number.isSafeInteger(v) || Math.abs(v) > 2 ** 51) throw new NotCompact();
    this.u(v >= 0 ? 2 * v : -2 * v - 1);
  }
}

class IntReader {
  pos = 0;
  constructor(private readonly text: string) {}
  u(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const d = DIGIT_CODE[this.text.charCodeAt(this.pos++)];
      if (d === undefined || d < 0) throw new Error('carried node table: truncated or corrupt');
      if (d < 32) return v + d * scale;
      v += (d - 32) * scale;
      scale *= 32;
    }
  }
  s(): number {
    const z = this.u();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}

// ---- sha256 as base64 ---------------------------------------------------------------------------

const HEX64 = /^[0-9a-f]{64}$/;

/** 64 hex digits → 43 base-64 digits: every 3 hex digits (12 bits) make 2 (the last 4 bits are padded to 6). */
function hexToBase64(hex: string): string {
  let out = '';
  for (let i = 0; i < 63; i += 3) {
    const v = (HEX_CODE[hex.charCodeAt(i)] as number) * 256 + (HEX_CODE[hex.charCodeAt(i + 1)] as number) * 16 + (HEX_CODE[hex.charCodeAt(i + 2)] as number);
    out += (DIGITS[v >> 6] as string) + (DIGITS[v & 63] as string);
  }
  return out + (DIGITS[(HEX_CODE[hex.charCodeAt(63)] as number) << 2] as string);
}

/** Inverse of {@link hexToBase64}. `from` is where the 43 digits start in `text`. */
function base64ToHex(text: string, from: number): string {
  let out = '';
  for (let i = from; i < from + 42; i += 2) {
    const v = (DIGIT_CODE[text.charCodeAt(i)] as number) * 64 + (DIGIT_CODE[text.charCodeAt(i + 1)] as number);
    out += (HEX[v >> 8] as string) + (HEX[(v >> 4) & 15] as string) + (HEX[v & 15] as string);
  }
  return out + (HEX[(DIGIT_CODE[text.charCodeAt(from + 42)] as number) >> 2] as string);
}

/** Characters of one sha256 in the `sha` column. */
const SHA_CHARS = 43;

// ---- states and transitions ---------------------------------------------------------------------

const STATE_LETTER: Record<NodeState, string> = {
  PENDING: 'P', WAITING: 'W', READY: 'R', RUNNING: 'U', COMPLETED: 'C', FAILED: 'F', CANCELLED: 'X', TIMEOUT: 'T',
};
const LETTER_STATE: Record<string, NodeState> = Object.fromEntries(Object.entries(STATE_LETTER).map(([s, l]) => [l, s as NodeState]));

/** In place of a node's head (string index + 1): the node is carried whole, as JSON (string index follows). */
const RAW_MARK = 0;
// Node flags.
const OUTPUT = 2, CUSTOM_DEPS = 4, EXTRAS = 8, PRIORITY = 16, STATE = 32, ERROR_IS_REASON = 64;

/*
 * The fields with a place of their own in the stream. Every other field of a record, an attempt
 * or an output (present and not undefined) travels in the node's `extras` JSON, whatever its
 * name: adding a field to `NodeRecord`, `AttemptRecord` or `NodeOutput` needs no edit here.
 */
const RECORD_PLACED = new Set(['id', 'parentId', 'dependencies', 'priority', 'depth', 'block', 'source', 'state', 'queuedAt', 'transitions', 'attempts', 'output']);
/** Counters: carried in `extras` only when not 0 (absent means 0). */
const COUNTER_KEYS = ['repairs', 'oomRetries', 'lostRetries'] as const;
const ATTEMPT_PLACED = new Set(['n', 'runIndex', 'scheduledAt', 'startedAt', 'endedAt', 'state', 'worker']);
/** Output fields left on disk (`node-result.json`): they come back empty. */
const OUTPUT_ON_DISK = new Set(['figures', 'metrics']);
const OUTPUT_PLACED = new Set(['outputDir', 'outputPath', 'sha256', 'shape', 'summary', 'imageDigest', ...OUTPUT_ON_DISK]);
/** Key in a node's `extras` for the output fields without a place (no record field has this name). */
const OUTPUT_EXTRAS = '@output';

/** The fields of `x` outside `placed` whose value is not undefined. */
function unplaced(x: object, placed: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) if (!placed.has(k) && v !== undefined) out[k] = v;
  return out;
}

/** Splits an output folder into a prefix shared by the tree's nodes (up to `/nodes/`) and the rest. */
function splitDir(p: string): [string, string] {
  const k = p.lastIndexOf('/nodes/');
  const cut = k >= 0 ? k + '/nodes/'.length : p.lastIndexOf('/') + 1;
  return [p.slice(0, cut), p.slice(cut)];
}

/** When a node became READY, predicted: when the last of its dependencies ended (else `fallback`). */
function readyPrediction(deps: readonly NodeRecord[], fallback: number): number {
  let at = -Infinity;
  for (const d of deps) {
    const last = d.transitions[d.transitions.length - 1];
    if (last && last[1] > at) at = last[1];
  }
  return at === -Infinity ? fallback : at;
}

/** The output folder's name under the tree's `nodes/` by the workspace convention. */
function conventionalDir(id: string, runIndex: number | undefined): string {
  return `${id}/published/attempt-${runIndex ?? 1}`;
}

// ---- encoding -----------------------------------------------------------------------------------

/** Encodes node records (insertion order kept) in the current version. */
export function encodeNodes(nodes: readonly NodeRecord[], options: EncodeOptions = {}): EncodedNodesV2 {
  const t = new Table();
  const base = nodes[0]?.queuedAt ?? 0;
  const index = new Map<string, number>();
  const depths: number[] = [];
  const ids: string[] = [];
  const ints: string[] = [];
  const shas: string[] = [];
  let prevId = '';
  let prevQueued = base;

  nodes.forEach((rec, i) => {
    let shared = 0;
    const max = Math.min(prevId.length, rec.id.length);
    while (shared < max && prevId.charCodeAt(shared) === rec.id.charCodeAt(shared)) shared++;
    let w = new IntWriter();
    const sha: string[] = [];
    try {
      w.u(shared);
      depths[i] = encodeOne(rec, i, w, sha);
      prevQueued = rec.queuedAt;
    } catch (err) {
      if (!(err instanceof NotCompact)) throw err;
      // Carried whole: the decoder gets this exact record back.
      w = new IntWriter();
      sha.length = 0;
      w.u(shared);
      w.u(RAW_MARK);
      w.u(t.id(JSON.stringify(rec)));
      depths[i] = rec.depth;
    }
    ids.push(rec.id.slice(shared));
    ints.push(w.out);
    shas.push(...sha);
    index.set(rec.id, i);
    prevId = rec.id;
  });

  function encodeOne(rec: NodeRecord, i: number, w: IntWriter, sha: string[]): number {
    const ref = (id: string): number => {
      const j = index.get(id);
      if (j === undefined) throw new NotCompact();
      return i - j;
    };
    const last = rec.transitions[rec.transitions.length - 1];
    const lastReason = last?.[2];
    const extras = unplaced(rec, RECORD_PLACED);
    let flags = 0;
    if (extras.error !== undefined && extras.error === lastReason) {
      flags |= ERROR_IS_REASON;
      delete extras.error;
    }
    for (const k of COUNTER_KEYS) if (rec[k] === 0) delete extras[k];
    if (rec.output) {
      const more = unplaced(rec.output, OUTPUT_PLACED);
      if (Object.keys(more).length > 0) extras[OUTPUT_EXTRAS] = more;
    }
    const defaultDeps = rec.parentId === null ? rec.dependencies.length === 0 : rec.dependencies.length === 1 && rec.dependencies[0] === rec.parentId;
    if (rec.output) flags |= OUTPUT;
    if (!defaultDeps) flags |= CUSTOM_DEPS;
    if (Object.keys(extras).length > 0) flags |= EXTRAS;
    if (rec.priority !== 0) flags |= PRIORITY;
    if (!last || last[0] !== rec.state) flags |= STATE;
    // Flags, block and source: one shared "head" (a big tree has a handful of distinct ones).
    w.u(t.id(`${flags},${t.id(JSON.stringify(rec.block))},${t.id(rec.source)}`) + 1);
    w.u(rec.parentId === null ? 0 : ref(rec.parentId));
    let depth = 0;
    if (flags & CUSTOM_DEPS) {
      w.u(rec.dependencies.length);
      for (const d of rec.dependencies) w.u(ref(d));
    }
    for (const d of rec.dependencies) depth = Math.max(depth, (depths[index.get(d) as number] as number) + 1);
    if (depth !== rec.depth) throw new NotCompact();
    if (flags & PRIORITY) w.s(rec.priority);
    if (flags & STATE) w.u(t.id(rec.state));
    w.s(rec.queuedAt - prevQueued);

    // Transitions and the number of attempts: one shared pattern string, e.g. `P=W=R=UC/1`: a
    // letter per state (lowercase: with a reason), `=` when the time is the expected one (the
    // previous transition's; for READY, when the last dependency ended), then `/attempts`. Only
    // the other times (differences) and the reasons go in the stream.
    let pattern = '';
    const times: number[] = [];
    const reasons: string[] = [];
    let cursor = rec.queuedAt;
    let firstRunning: number | undefined;
    let readySeen = false;
    for (const tr of rec.transitions) {
      const [state, at, reason] = tr;
      const letter = STATE_LETTER[state];
      if (!letter || tr.length > 3 || (tr.length === 3 && typeof reason !== 'string')) throw new NotCompact();
      const expected = state === 'READY' && !readySeen ? readyPrediction(rec.dependencies.map((d) => nodes[index.get(d) as number] as NodeRecord), cursor) : cursor;
      if (state === 'READY') readySeen = true;
      pattern += (reason !== undefined ? letter.toLowerCase() : letter) + (at === expected ? '=' : '');
      if (at !== expected) times.push(at - expected);
      if (reason !== undefined) reasons.push(reason);
      cursor = at;
      if (state === 'RUNNING' && firstRunning === undefined) firstRunning = at;
    }
    w.u(t.id(`${pattern}/${rec.attempts.length}`));
    for (const d of times) w.s(d);
    for (const reason of reasons) w.u(t.id(reason));

    // Attempts: times relative to the first RUNNING transition, then to each other.
    let at0 = firstRunning ?? rec.queuedAt;
    let run = 1;
    rec.attempts.forEach((a, k) => {
      if (a.n !== k + 1) throw new NotCompact();
      const extra = unplaced(a, ATTEMPT_PLACED);
      if (!Number.isSafeInteger(a.runIndex)) throw new NotCompact();
      // State, worker, run, which times are known and the rare fields: one shared "head".
      const head = [t.id(a.state), a.worker === undefined ? -1 : t.id(a.worker), a.runIndex - run, a.startedAt !== null ? 1 : 0, a.endedAt !== null ? 1 : 0];
      head.push(Object.keys(extra).length > 0 ? t.id(JSON.stringify(extra)) : -1, a.scheduledAt === at0 ? 1 : 0);
      w.u(t.id(head.join(',')));
      run = a.runIndex;
      if (a.scheduledAt !== at0) w.s(a.scheduledAt - at0);
      at0 = a.scheduledAt;
      if (a.startedAt !== null) w.s(a.startedAt - a.scheduledAt);
      if (a.endedAt !== null) w.s(a.endedAt - (a.startedAt ?? a.scheduledAt));
    });

    const o = rec.output;
    if (o) {
      const [prefix, rest] = splitDir(o.outputDir);
      const dirMode = rest === conventionalDir(rec.id, rec.attempts[rec.attempts.length - 1]?.runIndex) ? 0 : 1;
      const pathMode = o.outputPath === o.outputDir + OUTPUT_FILE ? 0 : o.outputPath === '' ? 1 : 2;
      const shaMode = HEX64.test(o.sha256) ? 0 : o.sha256 === '' ? 1 : 2;
      const shape = o.shape === null ? -1 : t.id(JSON.stringify(o.shape));
      const digest = o.imageDigest === null ? -1 : t.id(o.imageDigest);
      w.u(t.id(`${t.id(prefix)},${dirMode + 2 * pathMode + 6 * shaMode},${shape},${digest}`));
      if (dirMode) w.u(t.id(rest));
      if (pathMode === 2) w.u(t.id(o.outputPath));
      if (shaMode === 2) w.u(t.id(o.sha256));
      else if (shaMode === 0) sha.push(hexToBase64(o.sha256));
      const summary = options.lean ? '' : o.summary.slice(0, CARRIED_SUMMARY_CHARS);
      w.u(summary === '' ? 0 : t.id(summary) + 1);
    }
    if (flags & EXTRAS) w.u(t.id(JSON.stringify(extras)));
    return depth;
  }

  return { v: 2, n: nodes.length, base, strings: t.strings, ids: ids.join(' '), ints: ints.join(''), sha: shas.join(''), ...(options.lean ? { lean: true as const } : {}) };
}

// ---- decoding -----------------------------------------------------------------------------------

/** Decodes what {@link encodeNodes} produced, in either version. Metrics and figure lists come back empty (they are on disk). */
export function decodeNodes(e: EncodedNodes): NodeRecord[] {
  if (e.v === 1) return decodeV1(e);
  if (e.v === 2) return decodeV2(e);
  throw new Error(`carried node table: unknown version ${String((e as { v: unknown }).v)}`);
}

function decodeV2(e: EncodedNodesV2): NodeRecord[] {
  const s = (i: number) => e.strings[i] as string;
  const r = new IntReader(e.ints);
  const suffixes = e.n > 0 ? e.ids.split(' ') : [];
  const out: NodeRecord[] = [];
  let prevId = '';
  let prevQueued = e.base;
  let shaPos = 0;
  // Heads and blocks are shared by many nodes: parse each once.
  const tuples = new Map<number, number[]>();
  const tuple = (i: number): number[] => {
    let v = tuples.get(i);
    if (!v) tuples.set(i, (v = s(i).split(',').map(Number)));
    return v;
  };
  const patterns = new Map<number, [string, number]>();
  const patternOf = (i: number): [string, number] => {
    let v = patterns.get(i);
    if (!v) {
      const text = s(i);
      const slash = text.lastIndexOf('/');
      patterns.set(i, (v = [text.slice(0, slash), Number(text.slice(slash + 1))]));
    }
    return v;
  };
  const blocks = new Map<number, Block>();
  const blockOf = (i: number): Block => {
    let b = blocks.get(i);
    if (!b) blocks.set(i, (b = JSON.parse(s(i)) as Block));
    return b;
  };
  for (let i = 0; i < e.n; i++) {
    const id = prevId.slice(0, r.u()) + (suffixes[i] as string);
    prevId = id;
    const first = r.u();
    if (first === RAW_MARK) {
      out.push(JSON.parse(s(r.u())) as NodeRecord);
      continue;
    }
    const [flags, blockId, sourceId] = tuple(first - 1) as [number, number, number];
    const p = r.u();
    const parentId = p === 0 ? null : (out[i - p] as NodeRecord).id;
    const depIndexes: number[] = [];
    if (flags & CUSTOM_DEPS) for (let k = r.u(); k > 0; k--) depIndexes.push(i - r.u());
    else if (p !== 0) depIndexes.push(i - p);
    const dependencies = depIndexes.map((j) => (out[j] as NodeRecord).id);
    let depth = 0;
    for (const j of depIndexes) depth = Math.max(depth, (out[j] as NodeRecord).depth + 1);
    const priority = flags & PRIORITY ? r.s() : 0;
    const block = blockOf(blockId);
    const source = s(sourceId);
    const explicitState = flags & STATE ? (s(r.u()) as NodeState) : undefined;
    const queuedAt = prevQueued + r.s();
    prevQueued = queuedAt;

    const [pattern, attemptCount] = patternOf(r.u());
    const transitions: TransitionRecord[] = [];
    let cursor = queuedAt;
    let firstRunning: number | undefined;
    let readySeen = false;
    const withReason: TransitionRecord[] = [];
    for (let k = 0; k < pattern.length; k++) {
      const letter = pattern[k] as string;
      const state = LETTER_STATE[letter.toUpperCase()] as NodeState;
      const expected = state === 'READY' && !readySeen ? readyPrediction(depIndexes.map((j) => out[j] as NodeRecord), cursor) : cursor;
      if (state === 'READY') readySeen = true;
      if (pattern[k + 1] === '=') {
        cursor = expected;
        k++;
      } else {
        cursor = expected + r.s();
      }
      if (state === 'RUNNING' && firstRunning === undefined) firstRunning = cursor;
      const tr: TransitionRecord = [state, cursor];
      if (letter !== letter.toUpperCase()) withReason.push(tr);
      transitions.push(tr);
    }
    // The reasons follow the times, in order.
    for (const tr of withReason) tr.push(s(r.u()));

    const attempts: AttemptRecord[] = [];
    let at0 = firstRunning ?? queuedAt;
    let run = 1;
    for (let k = 0; k < attemptCount; k++) {
      const [stateId, workerId, runDelta, started, ended, extraId, sameStart] = tuple(r.u()) as [number, number, number, number, number, number, number];
      run += runDelta;
      const scheduledAt = sameStart ? at0 : at0 + r.s();
      at0 = scheduledAt;
      const startedAt = started ? scheduledAt + r.s() : null;
      const endedAt = ended ? (startedAt ?? scheduledAt) + r.s() : null;
      attempts.push({
        n: k + 1, runIndex: run, scheduledAt, startedAt, endedAt, state: s(stateId) as AttemptState,
        ...(workerId >= 0 ? { worker: s(workerId) } : {}), ...(extraId >= 0 ? (JSON.parse(s(extraId)) as Partial<AttemptRecord>) : {}),
      });
    }

    let output: NodeOutput | undefined;
    if (flags & OUTPUT) {
      const [prefixId, modes, shape, digest] = tuple(r.u()) as [number, number, number, number];
      const prefix = s(prefixId);
      const dirMode = modes % 2, pathMode = Math.floor(modes / 2) % 3, shaMode = Math.floor(modes / 6);
      const outputDir = prefix + (dirMode ? s(r.u()) : conventionalDir(id, attempts[attempts.length - 1]?.runIndex));
      const outputPath = pathMode === 0 ? outputDir + OUTPUT_FILE : pathMode === 1 ? '' : s(r.u());
      let sha256 = '';
      if (shaMode === 2) sha256 = s(r.u());
      else if (shaMode === 0) {
        sha256 = base64ToHex(e.sha, shaPos);
        shaPos += SHA_CHARS;
      }
      const summary = r.u();
      output = {
        outputDir, outputPath, sha256, shape: shape < 0 ? null : (JSON.parse(s(shape)) as [number, number]),
        summary: summary === 0 ? '' : s(summary - 1), figures: [], metrics: {}, imageDigest: digest < 0 ? null : s(digest),
      };
    }
    const { [OUTPUT_EXTRAS]: outputExtras, ...x } = (flags & EXTRAS ? JSON.parse(s(r.u())) : {}) as Partial<NodeRecord> & { [OUTPUT_EXTRAS]?: object };
    const last = transitions[transitions.length - 1];
    const rec: NodeRecord = {
      id, parentId, dependencies, priority, depth, block, source, state: explicitState ?? (last as TransitionRecord)[0], queuedAt,
      transitions, attempts, repairs: 0, oomRetries: 0, lostRetries: 0, ...x,
    };
    if (flags & ERROR_IS_REASON) rec.error = last?.[2];
    if (output) rec.output = outputExtras ? { ...output, ...outputExtras } : output;
    out.push(rec);
  }
  return out;
}

function decodeV1(e: EncodedNodesV1): NodeRecord[] {
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
      transitions: trs, attempts: atts, repairs: 0, oomRetries: 0, lostRetries: 0, ...x,
    };
    if (out) rec.output = out;
    return rec;
  });
}

// ---- sets of strings (applied request ids) ------------------------------------------------------

/**
 * Encodes a set of strings as one string: sorted, each stored as the length it shares with the
 * one before, its remaining length, and the remaining characters. Request ids of a grown tree
 * (`result:<node>`, `rule:<node>:0`, ...) share most of their characters with their neighbours.
 */
export function encodeStringSet(values: Iterable<string>): string {
  const sorted = [...values].sort();
  const w = new IntWriter();
  let prev = '';
  for (const v of sorted) {
    let shared = 0;
    const max = Math.min(prev.length, v.length);
    while (shared < max && prev.charCodeAt(shared) === v.charCodeAt(shared)) shared++;
    w.u(shared);
    w.u(v.length - shared);
    w.out += v.slice(shared);
    prev = v;
  }
  return w.out;
}

/** Decodes what {@link encodeStringSet} produced (sorted). */
export function decodeStringSet(text: string): string[] {
  const r = new IntReader(text);
  const out: string[] = [];
  let prev = '';
  while (r.pos < text.length) {
    const shared = r.u();
    const len = r.u();
    prev = prev.slice(0, shared) + text.slice(r.pos, r.pos + len);
    r.pos += len;
    out.push(prev);
  }
  return out;
}

/** Bytes of `text` in UTF-8, as Temporal counts a payload (no TextEncoder in the workflow sandbox). */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) { n += 4; i++; } // a surrogate pair
    else n += 3;
  }
  return n;
}
