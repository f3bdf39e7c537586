/**
 * The `lookupCache` activity: a node's cache key and, when the key has a verified entry, the
 * node's result linked from it. The workflow calls it only for nodes that may be cacheable
 * (workflows/node-runner.ts), and passes the key to `runNode`, which publishes a success under
 * it (publishComputed below).
 */
import path from 'node:path';
import type { Context } from '@temporalio/activity';
import { BlockDeterministic } from '../../common/block-catalog';
import { RunNodeInputSchema, type Block, type CacheLookup, type NodeResult, type RunNodeInput } from '../../common/schemas';
import type { BlockExecutor } from '../executors/types';
import { nodeDir } from '../workspace';
import { cacheKey } from './key';
import { inputSha256 } from './input-hash';
import { cacheCounters } from './metrics';
import { runnerContractVersion } from './runtime';
import { lookupCache, publishToCache } from './store';

/** What the cache activities need from the worker. */
export interface CacheDeps {
  executor: BlockExecutor;
  workspaceRoot: string;
  workerId: string;
  /** Heartbeat this often while looking up (hashing a big input, building a requirements image). */
  heartbeatIntervalMs: number;
}

/** Whether a block declares itself deterministic (built-in: the catalog's flag; inline: `deterministic: true`). */
export function isDeterministic(block: Block): boolean {
  return 'name' in block ? BlockDeterministic[block.name] : block.deterministic === true;
}

/**
 * The key of `input`'s node, or null when it has none: a block that is not deterministic, an
 * executor without a runtime identity, an input that cannot be read, parameters that do not
 * parse (runNode then reports those with their own errors).
 */
export async function nodeCacheKey(deps: CacheDeps, input: RunNodeInput, warn: (m: string) => void): Promise<string | null> {
  if (!isDeterministic(input.block) || !deps.executor.runtimeIdentity) return null;
  try {
    const treeKey = input.runKey ? `${input.treeId}.${input.runKey}` : input.treeId;
    const block: Block = 'code' in input.block && input.patchedCode !== undefined ? { ...input.block, code: input.patchedCode } : input.block;
    const [inputs, runtime, contract] = await Promise.all([
      input.inputs
        ? Promise.all(input.inputs.map(async (i) => ({ key: i.key, sha256: await inputSha256(i.path) })))
        : input.inputPath === null ? Promise.resolve([]) : inputSha256(input.inputPath).then((sha256) => [{ key: null, sha256 }]),
      deps.executor.runtimeIdentity(block, {
        buildLog: path.join(nodeDir(deps.workspaceRoot, treeKey, input.nodeId), 'cache-image-build.log'),
        // The run of this attempt may reuse what the executor resolved (one image inspect per node, the key's runtime).
        node: { treeId: input.treeId, ...(input.runKey === undefined ? {} : { runKey: input.runKey }), nodeId: input.nodeId, attempt: input.attempt },
      }),
      runnerContractVersion(),
    ]);
    return cacheKey({ block: input.block, patchedCode: input.patchedCode, runtime, contract, inputs, sample: input.sample, resources: input.resources });
  } catch (e) {
    warn(`node ${input.nodeId} is not cacheable this time: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

/**
 * The `lookupCache` activity body. Never throws for a node that merely cannot be cached (its key
 * is then null); throws on file-system errors of the store itself (Temporal retries).
 */
export async function lookupNodeCache(deps: CacheDeps, ctx: Context, raw: unknown): Promise<CacheLookup> {
  const parsed = RunNodeInputSchema.safeParse(raw);
  // An invalid input is runNode's to report (InvalidParametersError naming the field).
  if (!parsed.success) return { key: null, hit: null };
  const input = parsed.data;
  const warn = (m: string) => ctx.log.warn(m, { treeId: input.treeId, nodeId: input.nodeId });
  const beat = setInterval(() => ctx.heartbeat(), Math.max(100, deps.heartbeatIntervalMs));
  try {
    const key = await nodeCacheKey(deps, input, warn);
    if (key === null) return { key: null, hit: null };
    const counters = cacheCounters(ctx.metricMeter);
    const treeKey = input.runKey ? `${input.treeId}.${input.runKey}` : input.treeId;
    const hit = await lookupCache({
      root: deps.workspaceRoot, key, treeId: treeKey, nodeId: input.nodeId, attempt: input.attempt,
      worker: deps.workerId, activityAttempt: ctx.info.attempt,
      warn: (m) => {
        counters.corrupt.add(1);
        warn(m);
      },
    });
    if (hit) {
      counters.hits.add(1);
      counters.bytesSaved.add(hit.entry.bytes);
      return { key, hit: hit.result };
    }
    counters.misses.add(1);
    return { key, hit: null };
  } finally {
    clearInterval(beat);
  }
}

/**
 * After runNode published a computed result under `input.cacheKey`: makes it the key's cache
 * entry. Best effort: a failure (another file system, a symlink in the output) is logged and the
 * node's result stands. Returns the result, with `cacheStored: false` when the key's entry could
 * not be made (the key's waiters must not look for it).
 */
export async function publishComputed(deps: Pick<CacheDeps, 'workspaceRoot'>, ctx: Context, input: RunNodeInput, treeKey: string, result: NodeResult): Promise<NodeResult> {
  const key = input.cacheKey;
  // A retry that found the attempt published (`reused`) still publishes: the first run may have died in between.
  if (key === undefined || result.cached) return result;
  try {
    const outcome = await publishToCache({
      root: deps.workspaceRoot, key, publishedDir: result.outputDir,
      origin: { treeId: treeKey, nodeId: input.nodeId, attempt: input.attempt },
      outputSha256: result.outputSha256, block: 'name' in input.block ? input.block.name : 'inline',
    });
    if (outcome === 'published') cacheCounters(ctx.metricMeter).published.add(1);
    return result;
  } catch (e) {
    ctx.log.warn(`result of node ${input.nodeId} not cached: ${(e as Error).message.split('\n')[0]}`, { treeId: input.treeId, nodeId: input.nodeId, key });
    return { ...result, cacheStored: false };
  }
}
