/**
 * The cache key of a node: sha256 of one canonical JSON document holding everything that decides
 * the node's output, and nothing else.
 *
 * In the document: the key scheme version, the block's identity (a built-in block's name; inline
 * code's sha256, patched code when present, its sorted requirements and its network flag), the
 * executor's runtime identity (Docker: the Id of the image the block would run in; local: a hash
 * of the runner's sources and interpreter), the runner contract version, the parameters WITH
 * defaults applied (so `{}` and the explicit defaults give one key), the sha256 of every input in
 * order (a multi-input node's with their keys) and the sample facts of a per-sample node.
 *
 * Not in it: tree and node ids, timing, priorities, task queues, and resources unless inline code
 * declares `resourcesAffectResult` (then its `memoryMB` and `cpus` are in it). So two trees that
 * run the same block on the same bytes with the same parameters share one key, and a node that
 * got more memory after an OOM still matches. A new runtime (image rebuilt, runner changed) is a
 * new key: old entries simply stop matching.
 *
 * Pure: no I/O. The activity (activities/cache/lookup.ts) gathers the ingredients.
 */
import { createHash } from 'node:crypto';
import { checkBlockParameters, type Block, type Resources, type SampleFacts } from '../../common/schemas';

/**
 * Version of the key document's layout. Bump it when the document changes meaning (a new
 * ingredient, another canonical form): every earlier entry then stops matching, which is
 * always safe.
 */
export const CACHE_KEY_SCHEME = 1;

/** Everything a node's cache key is computed from. */
export interface CacheKeyIngredients {
  /** The node's block as in its spec (built-in parameters are parsed here, defaults applied). */
  block: Block;
  /** Repaired code replacing the inline block's code, when the fixer patched it. */
  patchedCode?: string;
  /** The executor's runtime identity for this block (see BlockExecutor.runtimeIdentity). */
  runtime: string;
  /** Version of the runner contract (a hash of blocks/runner-contract.json). */
  contract: string;
  /** sha256 of every input, in order; `key` is a multi-input node's input key, null for a single input. */
  inputs: ReadonlyArray<{ key: string | null; sha256: string }>;
  /** The sample facts of a per-sample node (the runner passes them to the block). */
  sample?: SampleFacts;
  /** The node's resources; in the key only for inline code with `resourcesAffectResult`. */
  resources?: Resources;
}

/**
 * The node's cache key: 64 hex digits.
 *
 * @throws Error when a built-in block's parameters do not parse (the node would fail with
 *   InvalidParameters anyway; the caller treats it as "not cacheable").
 */
export function cacheKey(ingredients: CacheKeyIngredients): string {
  return createHash('sha256').update(canonicalJson(cacheKeyDocument(ingredients))).digest('hex');
}

/** The document {@link cacheKey} hashes (exported for tests and for explaining a key). */
export function cacheKeyDocument(ingredients: CacheKeyIngredients): Record<string, unknown> {
  const { block } = ingredients;
  let identity: Record<string, unknown>;
  if ('name' in block) {
    const checked = checkBlockParameters(block, 'block');
    if (!checked.ok) throw new Error(checked.error);
    identity = { kind: 'builtin', name: block.name, parameters: checked.parameters };
  } else {
    identity = {
      kind: 'inline',
      codeSha256: sha256Hex(ingredients.patchedCode ?? block.code),
      requirements: [...new Set(block.requirements.map((r) => r.trim()))].sort(),
      network: block.network,
      parameters: block.parameters,
      ...(block.resourcesAffectResult ? { resources: { memoryMB: ingredients.resources?.memoryMB ?? null, cpus: ingredients.resources?.cpus ?? null } } : {}),
    };
  }
  return {
    scheme: CACHE_KEY_SCHEME,
    block: identity,
    runtime: ingredients.runtime,
    contract: ingredients.contract,
    inputs: ingredients.inputs.map((i) => ({ key: i.key, sha256: i.sha256 })),
    sample: ingredients.sample ? { sample: ingredients.sample.sample, columns: ingredients.sample.columns } : null,
  };
}

/**
 * JSON with object keys sorted at every level, no whitespace, `undefined` members dropped (as
 * JSON.stringify does): one text per value, whatever order its keys were written in.
 *
 * @throws TypeError for values JSON cannot hold (non-finite numbers, bigint, functions).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot hash the number ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`cannot hash a ${typeof value}`);
}

/** sha256 (hex) of a string's UTF-8 bytes. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
