/**
 * Decoding of the columnar node table that continue-as-new carried before the state moved to the
 * workspace (workflows/carried-state.ts). Decode-only: nothing writes these forms any more, but a
 * run started by the previous code from such an input (`carried.nodes`, v1 or v2) must still
 * replay and go on, so its input is still read. Delete this module once no tree started before
 * that change can still be running or be replayed.
 *
 * The v2 form: `ids` (each id as what it does not share with the previous one, space-separated,
 * the shared length in `ints`), `ints` (every number and reference as variable-length base-64
 * digits: parents and dependencies as distances back in insertion order, times as differences,
 * strings as indexes into `strings`), `strings`, and `sha` (each published output's sha256,
 * base64). Metrics and figure lists were left on disk and come back empty. The v1 form: a string
 * table, a time base and one JSON tuple per node.
 *
 * Pure and deterministic, no Node built-ins: it runs in the workflow sandbox.
 */
import type { Block, NodeState } from '../common/schemas';
import type { AttemptRecord, AttemptState, NodeOutput, NodeRecord, TransitionRecord } from './node-record';
import type { CarriedState } from './carried-state';

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

const OUTPUT_FILE = '/_node_anndata.h5ad';

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

/** Key in a node's `extras` for the output fields without a place (no record field has this name). */
const OUTPUT_EXTRAS = '@output';

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
 * Decodes the applied request ids that a v2 carried state held as one string: sorted, each
 * stored as the length it shares with the one before, its remaining length, and the rest.
 */
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

/** A continue-as-new input's `carried` as the previous code wrote it (the node table encoded). */
export interface LegacyCarriedState extends Omit<CarriedState, 'nodes' | 'requests'> {
  nodes: EncodedNodes;
  /** Applied request ids as a list: what runs before the v2 encoding carried. */
  appliedRequests?: string[];
  /** Applied request ids, front-coded (v2). */
  requests?: string;
}

/** True when `carried` is the previous code's form (an encoded node table), not a reference. */
export function isLegacyCarried(carried: object): carried is LegacyCarriedState {
  const nodes = (carried as { nodes?: unknown }).nodes;
  return typeof nodes === 'object' && nodes !== null && !Array.isArray(nodes) && 'v' in nodes;
}

/** The previous code's carried state, decoded to the one form. */
export function fromLegacy(carried: LegacyCarriedState): CarriedState {
  const { nodes, appliedRequests, requests, ...rest } = carried;
  return { ...rest, nodes: decodeNodes(nodes), requests: requests !== undefined ? decodeStringSet(requests) : (appliedRequests ?? []) };
}
