/**
 * Gathers the facts of a run crate (client/crate/facts.ts): from the server the tree's status
 * (with each node's block and dependencies), every attempt (timeline query), the workflow's
 * start and close times and its start input (the spec, from the first history event); from
 * the tree's workspace each node's published folder (every file with its size and sha256), its
 * `node-result.json` and the `job.json` of the attempt that produced it (the code as run).
 *
 * A crate is a record of files, so a workspace that cannot be read is an error
 * ({@link WorkspaceMissingError}), never a crate that silently lacks its outputs.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { NODE_RESULT_FILE, sha256File } from '../../activities/publish';
import { parseAttemptFolder, type AttemptFolder } from '../../activities/workspace';
import { dataDir, packageVersion, repoRoot } from '../../activities/executors/repo-root';
import { runKeysOf } from '../../common/run-key';
import { z } from 'zod';
import { BlockSchema, NodeResultSchema, parseJsonAs, type Block } from '../../common/schemas';
import type { TimelineEntry } from '../../workflows/views';
import { TreeNotFoundError, WorkspaceMissingError } from '../errors';
import { treeDir as treeDirFromOutputs } from '../report/workspace';
import { wrapServiceError } from '../service-errors';
import type { RagomicsClient, TreeHandle } from '../sdk';
import type { CodeFact, CrateFacts, CrateNodeStatus, FileFact, NodeFacts, OutputFileFact, PublishedFacts } from './facts';
import { RunnerNames } from '../../common/runner-contract';

/** Options of {@link collectCrateFacts}. */
export interface CollectCrateOptions {
  /** Workspace root when no node output reveals it. @default env RAGOMICS_WORKSPACE, else `<data dir>/workspace` */
  workspace?: string;
}

/**
 * Reads everything the crate of `treeId` needs.
 * @throws TreeNotFoundError for an unknown tree; WorkspaceMissingError when nodes ran but their
 *   folder, or a completed node's published output, is not readable from here.
 */
export async function collectCrateFacts(rc: RagomicsClient, treeId: string, options: CollectCrateOptions = {}): Promise<CrateFacts> {
  const tree = rc.getTree(treeId);
  // describe() first: it is what tells an unknown tree (TreeNotFoundError) from other failures.
  const description = await describe(tree);
  const started = await startInput(rc, treeId);
  // One query after the other: two at once right after a tree closed can lose one (TreeHandle.retryDroppedQuery).
  const status = await tree.status({ details: true, nodeWaits: false });
  const timeline = await tree.timeline();
  const nodes = status.nodes as CrateNodeStatus[];
  const fallbackRoot = options.workspace ?? process.env.RAGOMICS_WORKSPACE ?? path.join(dataDir(), 'workspace');
  const outputs = nodes.map((n) => n.outputPath).filter((p): p is string => typeof p === 'string' && p.length > 0);
  const fromOutputs = treeDirFromOutputs(treeId, outputs, fallbackRoot);
  // Without outputs, the folder is found by the run key: the one of the two derivations
  // (common/run-key.ts) whose folder exists, else the current one (reported as missing below).
  const byKey = runKeysOf(started.firstExecutionRunId).map((k) => path.join(path.resolve(fallbackRoot), 'trees', `${treeId}.${k}`));
  const dir = outputs.length > 0 ? fromOutputs : (await firstDir(byKey)) ?? byKey[0]!;

  // Nodes ran, so their folder must exist: otherwise the workspace is gone (or elsewhere).
  const ran = nodes.filter((n) => n.attempts > 0);
  if (ran.length > 0 && !(await isDir(dir))) {
    throw new WorkspaceMissingError(`the workspace of tree "${treeId}" is gone: ${dir} does not exist (deleted, or on another machine; --workspace DIR names another root)`);
  }
  for (const n of nodes) {
    if (n.state === 'COMPLETED' && n.outputPath && !(await isFile(n.outputPath))) {
      throw new WorkspaceMissingError(`the workspace of tree "${treeId}" is incomplete: node "${n.id}"'s published output ${n.outputPath} is gone`);
    }
  }

  const byNode = new Map<string, TimelineEntry[]>();
  // Attempt 0 is the timeline's bar of a node that never had an attempt: no execution.
  for (const e of timeline) if (e.attempt >= 1) byNode.set(e.node, [...(byNode.get(e.node) ?? []), e]);
  const nodeFacts: NodeFacts[] = [];
  // One node after another: hashing outputs is disk-bound, and parallel reads of big files only thrash.
  for (const n of nodes) nodeFacts.push(await collectNode(dir, n, byNode.get(n.id) ?? []));

  const spec = started.spec;
  const inputs = new Map<string, FileFact>();
  const inputPaths = [
    typeof spec.inputDataPath === 'string' ? spec.inputDataPath : null,
    ...(status.samples ?? []).map((s) => s.path),
    typeof (spec.origin as { outputPath?: unknown } | undefined)?.outputPath === 'string' ? (spec.origin as { outputPath: string }).outputPath : null,
  ];
  for (const p of inputPaths) {
    if (p === null || inputs.has(path.resolve(p))) continue;
    inputs.set(path.resolve(p), await fileFact(path.resolve(p)));
  }

  return {
    treeId, spec, status: { ...status, nodes }, treeDir: dir, inputs, nodes: nodeFacts,
    startTime: description.startTime.toISOString(),
    closeTime: description.closeTime ? description.closeTime.toISOString() : null,
    engineVersion: packageVersion(),
    exportedAt: new Date(),
  };
}

async function describe(tree: TreeHandle): Promise<{ startTime: Date; closeTime?: Date }> {
  try {
    const d = await tree.workflow.describe();
    return { startTime: d.startTime, closeTime: d.closeTime };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new TreeNotFoundError(`no tree with id "${tree.treeId}"`, { cause: err });
    throw wrapServiceError(err);
  }
}

/**
 * The spec the tree's current run was started with, and the id of its first run (which names
 * the workspace folder). Every run after a continue-as-new gets the spec again in its input,
 * so the first event of the latest run is enough: one small history page, not the history.
 */
async function startInput(rc: RagomicsClient, treeId: string): Promise<{ spec: Record<string, unknown>; firstExecutionRunId: string }> {
  let res;
  try {
    res = await rc.client.workflowService.getWorkflowExecutionHistory({ namespace: rc.client.options.namespace, execution: { workflowId: treeId }, maximumPageSize: 1 });
  } catch (err) {
    throw wrapServiceError(err);
  }
  const attrs = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = attrs?.input?.payloads?.[0];
  if (!attrs || !payload) throw new TreeNotFoundError(`tree "${treeId}" has no start event (is it an analysis tree?)`);
  const input = rc.client.options.loadedDataConverter.payloadConverter.fromPayload<{ spec?: Record<string, unknown> }>(payload);
  return { spec: input.spec ?? {}, firstExecutionRunId: attrs.firstExecutionRunId || attrs.originalExecutionRunId || '' };
}

async function collectNode(treeDir: string, n: CrateNodeStatus, attempts: TimelineEntry[]): Promise<NodeFacts> {
  const nodeDir = path.join(treeDir, 'nodes', n.id);
  const publishedDir = n.outputPath ? path.dirname(n.outputPath) : await latestPublished(nodeDir);
  const published = publishedDir ? await readPublishedFacts(publishedDir) : null;
  const outputs = publishedDir ? await outputFiles(publishedDir, n.outputPath ?? null, n.sha256 ?? null) : [];
  const block = (await jobBlock(nodeDir, published)) ?? n.blockSpec ?? null;
  return { status: n, block, code: block ? await codeOf(block) : null, attempts, published, outputs };
}

/** `published/attempt-<n>` with the highest n, or null. */
async function latestPublished(nodeDir: string): Promise<string | null> {
  const names = await readdir(path.join(nodeDir, 'published')).catch(() => [] as string[]);
  const best = names.map((d) => ({ d, n: Number(/^attempt-(\d+)$/.exec(d)?.[1] ?? NaN) })).filter((x) => Number.isInteger(x.n)).sort((a, b) => b.n - a.n)[0];
  return best ? path.join(nodeDir, 'published', best.d) : null;
}

/*
 * The fields of `node-result.json` the crate uses, each in its schema's form and read on its own:
 * the file was written by a worker of any version, so a field that is missing or of another form
 * is left empty without losing the others.
 */
const NR = NodeResultSchema.shape;
const PublishedFieldsSchema = z.object({
  imageDigest: NR.imageDigest.catch(null),
  executor: NR.executor.optional().catch(undefined),
  worker: NR.worker.optional().catch(undefined),
  summary: NR.summary.catch(''),
  cached: NR.cached.catch(false),
  cachedFrom: NR.cachedFrom.catch(null),
  cacheKey: NR.cacheKey.catch(null),
  activityAttempt: NR.activityAttempt.catch(1),
});

/**
 * The facts of a published folder's `node-result.json` for the crate; null when the file is
 * missing or not a JSON object. A field missing or of another form (a worker of another version)
 * is empty (null, '', false, attempt 1) while the others are kept.
 */
export async function readPublishedFacts(dir: string): Promise<PublishedFacts | null> {
  const text = await readFile(path.join(dir, NODE_RESULT_FILE), 'utf8').catch(() => null);
  const r = text === null ? null : parseJsonAs(text, PublishedFieldsSchema);
  if (r === null) return null;
  const str = (v: string | null | undefined): string | null => (v ? v : null);
  return {
    attempt: Number(/attempt-(\d+)$/.exec(dir)?.[1] ?? 1),
    imageDigest: str(r.imageDigest), executor: str(r.executor), worker: str(r.worker), summary: r.summary,
    cached: r.cached, cachedFrom: r.cachedFrom, cacheKey: str(r.cacheKey), activityAttempt: r.activityAttempt,
  };
}

/** Every file below the published folder, sorted; the main output's sha256 comes from the status (hashed at publishing). */
async function outputFiles(dir: string, mainOutput: string | null, mainSha: string | null): Promise<OutputFileFact[]> {
  const out: OutputFileFact[] = [];
  async function walk(sub: string): Promise<void> {
    const entries = await readdir(path.join(dir, sub), { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(rel);
      else if (e.isFile()) {
        const abs = path.join(dir, rel);
        const size = (await stat(abs)).size;
        const sha256 = abs === mainOutput && mainSha ? mainSha : await sha256File(abs, size);
        out.push({ rel, abs, size, sha256 });
      }
    }
  }
  await walk('');
  return out;
}

/**
 * The block of the attempt that published (its job.json holds repaired code), else of the newest
 * attempt; null when no attempt folder has a readable job file. Exported for its unit test.
 */
export async function jobBlock(nodeDir: string, published: Pick<PublishedFacts, 'attempt' | 'activityAttempt'> | null): Promise<Block | null> {
  const attemptsDir = path.join(nodeDir, 'attempts');
  const names = await readdir(attemptsDir).catch(() => [] as string[]);
  // Newest first; the published attempt's folders (a local run's carry a tag: several runs of a
  // local node may share its numbers, and all got the same job) come before the others.
  const isPublished = (f: AttemptFolder): boolean => published !== null && f.attempt === published.attempt && f.activityAttempt === published.activityAttempt;
  const order = names
    .map((d) => ({ d, f: parseAttemptFolder(d) }))
    .filter((x): x is { d: string; f: AttemptFolder } => x.f !== null)
    .sort((a, b) => Number(isPublished(b.f)) - Number(isPublished(a.f)) || b.f.attempt - a.f.attempt || b.f.activityAttempt - a.f.activityAttempt)
    .map((x) => x.d);
  for (const d of order) {
    const text = await readFile(path.join(attemptsDir, d, RunnerNames.jobFile), 'utf8').catch(() => null);
    if (text === null) continue;
    try {
      const parsed = BlockSchema.safeParse((JSON.parse(text) as { block?: unknown }).block);
      if (parsed.success) return parsed.data;
    } catch {
      // A half-written job file (a worker died while writing it): try the next attempt.
    }
  }
  return null;
}

/** The code a block runs: inline code, or the built-in block's module beside this client. */
async function codeOf(block: Block): Promise<CodeFact> {
  if ('code' in block) return { kind: 'inline', code: block.code, requirements: block.requirements };
  const file = path.join(repoRoot(), 'blocks', 'runtime', 'ragomics_runner', 'blocks', `${block.name}.py`);
  return { kind: 'builtin', name: block.name, source: await readFile(file, 'utf8').catch(() => null) };
}

/** Size and sha256 of a file; size -1 and sha256 '' when it cannot be read (an input moved away). */
async function fileFact(abs: string): Promise<FileFact> {
  const info = await stat(abs).catch(() => null);
  if (!info?.isFile()) return { abs, size: -1, sha256: '' };
  return { abs, size: info.size, sha256: await sha256File(abs, info.size) };
}

/** The first of `dirs` that is a folder, or null. */
async function firstDir(dirs: readonly string[]): Promise<string | null> {
  for (const d of dirs) if (await isDir(d)) return d;
  return null;
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isFile() ?? false;
}
