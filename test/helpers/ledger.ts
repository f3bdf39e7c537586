/**
 * The execution ledger of the reliability suite, read from what the system itself leaves on
 * disk (no instrumentation in the blocks): every attempt of every node has a folder
 * `<ws>/trees/<tree>.<runKey>/nodes/<node>/attempts/<run>-<k>/` with `job.json` (written before the
 * block starts) and `outcome.json` (written when the attempt ended on the worker's terms; a
 * folder without it is an attempt whose worker vanished), and every published output a folder
 * `published/attempt-<run>/` with `node-result.json`. From these: how often each node really ran,
 * which runs were lost, and whether each published output is still the one that was recorded.
 *
 * Also the suite's figures: each case records what it injected and measured in
 * `.data/reliability/case-<id>.json`, pass or fail ({@link runCase}); `scripts/check-reliability.js`
 * (run by scripts/test.sh after the suite) prints them and fails on a missing or failed case.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkoutCommit, repoRoot } from '../../activities/executors/repo-root';
import { parseAttemptFolder } from '../../activities/workspace';
import type { NodeResult } from '../../common/schemas';

/** One attempt folder. */
export interface LedgerAttempt {
  nodeId: string;
  /** Workflow run of the node (the workflow re-runs a node whose worker was lost). */
  run: number;
  /** Temporal's attempt within that run. */
  activityAttempt: number;
  dir: string;
  /** When job.json was written (the attempt began), ms. */
  beganAt: number;
  /** `lost` when no outcome was recorded (the worker died mid-attempt). */
  status: 'succeeded' | 'failed' | 'timeout' | 'cancelled' | 'lost';
  worker: string | null;
  failureType: string | null;
  exitCode: number | null;
  startedAt: number | null;
  endedAt: number | null;
}

/** One published output folder. */
export interface LedgerPublished {
  nodeId: string;
  run: number;
  dir: string;
  result: NodeResult;
}

/** Everything one tree left in a workspace. */
export interface TreeLedger {
  treeId: string;
  attempts: LedgerAttempt[];
  published: LedgerPublished[];
}

/** Reads the ledger of `treeId` under workspace root `ws` (empty when the tree left nothing). */
export async function readLedger(ws: string, treeId: string): Promise<TreeLedger> {
  const attempts: LedgerAttempt[] = [];
  const published: LedgerPublished[] = [];
  // A tree's folder is `<treeId>.<runKey>` (one per execution of that tree id; older layout: `<treeId>`).
  const folders = (await readdir(path.join(ws, 'trees')).catch(() => [] as string[])).filter((n) => n === treeId || n.startsWith(`${treeId}.`));
  for (const folder of folders) await readTreeFolder(path.join(ws, 'trees', folder, 'nodes'), attempts, published);
  attempts.sort((a, b) => a.nodeId.localeCompare(b.nodeId) || a.run - b.run || a.activityAttempt - b.activityAttempt || a.beganAt - b.beganAt);
  return { treeId, attempts, published };
}

async function readTreeFolder(nodesDir: string, attempts: LedgerAttempt[], published: LedgerPublished[]): Promise<void> {
  for (const nodeId of await readdir(nodesDir).catch(() => [] as string[])) {
    const attemptsDir = path.join(nodesDir, nodeId, 'attempts');
    for (const name of await readdir(attemptsDir).catch(() => [] as string[])) {
      const f = parseAttemptFolder(name);
      if (!f) continue;
      const dir = path.join(attemptsDir, name);
      const job = await stat(path.join(dir, 'job.json')).catch(() => null);
      const outcome = await readFile(path.join(dir, 'outcome.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>).catch(() => null);
      attempts.push({
        nodeId, run: f.attempt, activityAttempt: f.activityAttempt, dir,
        beganAt: job ? job.mtimeMs : NaN,
        status: outcome ? (outcome.status as LedgerAttempt['status']) : 'lost',
        worker: (outcome?.worker as string | undefined) ?? null,
        failureType: (outcome?.failureType as string | null | undefined) ?? null,
        exitCode: (outcome?.exitCode as number | null | undefined) ?? null,
        startedAt: typeof outcome?.startedAt === 'string' ? Date.parse(outcome.startedAt) : null,
        endedAt: typeof outcome?.endedAt === 'string' ? Date.parse(outcome.endedAt) : null,
      });
    }
    const pubDir = path.join(nodesDir, nodeId, 'published');
    for (const name of await readdir(pubDir).catch(() => [] as string[])) {
      const m = /^attempt-(\d+)$/.exec(name);
      if (!m) continue;
      const dir = path.join(pubDir, name);
      const result = await readFile(path.join(dir, 'node-result.json'), 'utf8').then((t) => JSON.parse(t) as NodeResult).catch(() => null);
      if (result) published.push({ nodeId, run: Number(m[1]), dir, result });
    }
  }
}

/** Attempts of one node. */
export function attemptsOf(ledger: TreeLedger, nodeId: string): LedgerAttempt[] {
  return ledger.attempts.filter((a) => a.nodeId === nodeId);
}

/** Executions beyond the first, summed over nodes (what "ran twice"). */
export function reExecutions(ledger: TreeLedger): { total: number; nodes: Record<string, number> } {
  const per = new Map<string, number>();
  for (const a of ledger.attempts) per.set(a.nodeId, (per.get(a.nodeId) ?? 0) + 1);
  const nodes: Record<string, number> = {};
  let total = 0;
  for (const [id, n] of per) {
    if (n > 1) {
      nodes[id] = n;
      total += n - 1;
    }
  }
  return { total, nodes };
}

/** sha256 (hex) of a file. */
export async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A completed node as the tree's status reports it. */
export interface CompletedNode {
  id: string;
  state: string;
  outputPath?: string | null;
  sha256?: string | null;
}

/** What {@link verifyOutputs} found. */
export interface OutputCheck {
  /** Completed nodes whose output was re-hashed and matched. */
  verified: number;
  /** Completed nodes with no AnnData output (a block may legitimately produce none). */
  withoutData: number;
  /** One line per problem: missing file, checksum changed, writable file, status/result mismatch. */
  problems: string[];
}

/**
 * Checks every COMPLETED node's published output: the file exists, its sha256 now equals the one
 * in the status (recorded by the worker at publish time) and in `node-result.json`, the file is
 * 0444 and its folder 0555. `recordedAtCompletion` (node id → sha256 hashed by the test when it
 * first saw the node COMPLETED) must match too.
 */
export async function verifyOutputs(ledger: TreeLedger, nodes: readonly CompletedNode[], recordedAtCompletion: ReadonlyMap<string, string> = new Map()): Promise<OutputCheck> {
  const out: OutputCheck = { verified: 0, withoutData: 0, problems: [] };
  for (const n of nodes) {
    if (n.state !== 'COMPLETED') continue;
    if (!n.outputPath) {
      out.withoutData++;
      continue;
    }
    const pub = ledger.published.find((p) => p.result.outputPath === n.outputPath);
    if (!pub) {
      out.problems.push(`${n.id}: status names ${n.outputPath}, which is not a published output of this tree`);
      continue;
    }
    const actual = await sha256(n.outputPath).catch(() => null);
    if (actual === null) {
      out.problems.push(`${n.id}: output ${n.outputPath} is missing`);
      continue;
    }
    const expected = [n.sha256, pub.result.outputSha256, recordedAtCompletion.get(n.id)].filter((x): x is string => typeof x === 'string');
    if (!n.sha256) out.problems.push(`${n.id}: the status has no sha256 for its output`);
    const bad = expected.filter((e) => e !== actual);
    if (bad.length > 0) out.problems.push(`${n.id}: sha256 now ${actual}, recorded ${bad.join(', ')}`);
    const fileMode = (await stat(n.outputPath)).mode & 0o777;
    const dirMode = (await stat(pub.dir)).mode & 0o777;
    if (fileMode !== 0o444) out.problems.push(`${n.id}: output mode ${fileMode.toString(8)}, expected 444`);
    if (dirMode !== 0o555) out.problems.push(`${n.id}: published folder mode ${dirMode.toString(8)}, expected 555`);
    if (bad.length === 0 && n.sha256) out.verified++;
  }
  return out;
}

// ---- figures -------------------------------------------------------------------------------

/** What one case measured: one file `.data/reliability/case-<id>.json`, written pass or fail. */
export interface CaseFigures {
  /** "1", "2", ... as in RELIABILITY.md. */
  id: string;
  title: string;
  /** The test file that proves it. */
  test: string;
  ok: boolean;
  /** Why the case failed (its first error, trimmed); absent when it passed. */
  error?: string;
  /** `git rev-parse --short HEAD` of the checkout that ran it (`+dirty` with uncommitted changes). */
  commit: string;
  finishedAt: string;
  durationMs: number;
  faultsInjected: number;
  /** Node executions beyond the first (from the ledger). */
  nodesReExecuted: number;
  /**
   * Completed outputs missing or changed (must be 0); null when the case never checked its
   * outputs (it failed before, or, like 3b, has none to check).
   */
  outputsLost: number | null;
  /** Completed outputs re-hashed and found intact. */
  outputsVerified: number;
  /** One line the summary prints. */
  line: string;
  /** Everything else worth keeping. */
  figures: Record<string, unknown>;
}

/** The checkout (dist/test/helpers → ../../..). */
const REPO = repoRoot();

/**
 * The expected cases, by test file (basename without `.test.ts`): the one list both
 * {@link runCase} and `scripts/check-reliability.js` read.
 */
export const EXPECTED_CASES_FILE = path.join(REPO, 'test', 'fixtures', 'reliability', 'expected-cases.json');

/** Where case figures go: RAGOMICS_RELIABILITY_DIR or `<repo>/.data/reliability`. */
export function figuresDir(): string {
  return process.env.RAGOMICS_RELIABILITY_DIR ?? path.join(REPO, '.data', 'reliability');
}

/** Writes a case's figures (and prints its line). */
export async function recordCase(f: CaseFigures): Promise<void> {
  await mkdir(figuresDir(), { recursive: true });
  await writeFile(path.join(figuresDir(), `case-${f.id}.json`), JSON.stringify(f, null, 2));
  console.log(`[reliability] case ${f.id} ${f.ok ? 'PASS' : 'FAIL'} (${(f.durationMs / 1000).toFixed(1)} s): ${f.line}${f.error ? ` — ${f.error}` : ''}`);
}

/** The figures a case body reports; what it has not set by the time it fails stays 0 / empty. */
export type CaseReport = Pick<CaseFigures, 'faultsInjected' | 'nodesReExecuted' | 'outputsLost' | 'outputsVerified' | 'line' | 'figures'>;

/** Handed to a case body: figures set so far are recorded even when the body then throws. */
export interface CaseRecorder {
  /** Merges figures into the case's row (`figures` is merged key by key). Call it as soon as a figure is known. */
  set(part: Partial<CaseReport>): void;
  /**
   * Records an output check (`verifyOutputs`): `outputsLost`, `outputsVerified` and the first
   * problems. Call it before asserting on the check, so a failed case's row shows what was lost.
   */
  outputs(check: { problems: readonly string[]; verified: number }): void;
}

/**
 * Wraps one reliability case for `test()`: runs `body` and, pass or fail, writes the case's row
 * (`case-<id>.json`) in `finally`. The row is `ok: true` only when the body returned normally
 * and reported its `line`; a throw records `ok: false` with the error, plus whatever figures the
 * body had set. The id must be listed for its file in `expected-cases.json` (else the case fails),
 * so the summary check and the cases cannot drift apart. The error is re-thrown: the test fails too.
 */
export function runCase(meta: { id: string; title: string; test: string }, body: (rec: CaseRecorder) => Promise<void>): () => Promise<void> {
  return async () => {
    const t0 = Date.now();
    const report: CaseReport = { faultsInjected: 0, nodesReExecuted: 0, outputsLost: null, outputsVerified: 0, line: '', figures: {} };
    const rec: CaseRecorder = {
      set(part) {
        Object.assign(report, { ...part, figures: { ...report.figures, ...(part.figures ?? {}) } });
      },
      outputs(check) {
        rec.set({ outputsLost: check.problems.length, outputsVerified: check.verified, ...(check.problems.length > 0 ? { figures: { outputProblems: check.problems.slice(0, 10) } } : {}) });
      },
    };
    let error: string | undefined;
    try {
      const expected = JSON.parse(await readFile(EXPECTED_CASES_FILE, 'utf8')) as Record<string, string[]>;
      const file = path.basename(meta.test).replace(/\.test\.[jt]s$/, '');
      if (!(expected[file] ?? []).includes(meta.id)) throw new Error(`case ${meta.id} is not listed for ${file} in ${path.relative(REPO, EXPECTED_CASES_FILE)}`);
      await body(rec);
      if (!report.line) throw new Error(`case ${meta.id} ended without reporting what it measured (rec.set({ line }))`);
    } catch (e) {
      error = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 400);
      throw e;
    } finally {
      await recordCase({
        ...meta, ...report, ok: error === undefined, ...(error === undefined ? {} : { error }),
        commit: checkoutCommit(), finishedAt: new Date().toISOString(), durationMs: Date.now() - t0,
        line: report.line || '(nothing measured before the failure)',
      });
    }
  };
}
