/**
 * The local executor's warm pool (`warmPool`, activities/executors/local-warm.ts) with the real
 * runner and the real venv (scripts/ensure-local-python.sh): pooled attempts run warm with the
 * cold path's outputs, exit codes, logs and progress; cancel and timeout kill a pooled attempt;
 * a member killed while idle is never used; close() and the worker's shutdown leave no warm
 * process behind. Through the workflow on the real Temporal dev server too.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { createActivities, createLocalExecutor, resolveLocalPython } from '../activities';
import type { LocalExecutor } from '../activities/executors/local';
import type { ExecOutcome, ExecProgress } from '../activities/executors/types';
import { attemptPaths, prepareAttempt } from '../activities/workspace';
import type { Block } from '../common/schemas';
import { skipUnlessCI } from './helpers/prereq';
import { TEMPORAL_ADDRESS, uid, withWorker } from './helpers/harness';
import { ROOT } from './helpers/cli';
import { failureOf, removeRoot, startRunNode, nodeInput, tempRoot, treeIdFactory, waitFor } from './fixtures/executor/helpers';

const python = resolveLocalPython();
const pythonReady = spawnSync(python, ['-c', 'import anndata, scanpy'], { encoding: 'utf8' }).status === 0;
const treeId = treeIdFactory('exec-warm');
let root: string;

before(async () => {
  root = await tempRoot('ragomics-exec-warm');
});
after(() => removeRoot(root));

function needPython(t: TestContext): boolean {
  if (pythonReady) return true;
  skipUnlessCI(t, `the local executor's venv has no anndata/scanpy (${python}): run scripts/ensure-local-python.sh`);
  return false;
}

/** Live (non-zombie) `ragomics_runner --warm` processes whose parent is `ppid`. */
function warmPids(ppid: number = process.pid): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || Number(fields[1]) !== ppid) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes('--warm')) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const idle = (exec: LocalExecutor, n: number) => waitFor(() => (exec.warmPoolStats()?.idle ?? 0) >= n, 60_000, `${n} idle warm member(s)`);

/** One attempt straight on the executor, as run-node would start it. */
async function runDirect(exec: LocalExecutor, nodeId: string, block: Block, signal = new AbortController().signal) {
  const paths = attemptPaths(root, 'direct', nodeId, 1, 1);
  await prepareAttempt(paths, { treeId: 'direct', nodeId, attempt: 1, block, inputRequired: false });
  const progress: ExecProgress[] = [];
  let pid: number | undefined;
  const outcome: ExecOutcome = await exec.run(
    { treeId: 'direct', nodeId, attempt: 1, activityAttempt: 1, block, inputPath: null, paths, memoryMB: 1024, cpus: 1, workerId: 'test-warm' },
    { signal, onProgress: (p) => progress.push(p), onStarted: (i) => (pid = i.pid) },
  );
  return { outcome, progress, pid, paths };
}

void describe('local executor warm pool (real runner)', () => {
  void test('a pooled attempt runs warm with the cold path outputs, logs, progress and exit codes', { timeout: 180_000 }, async (t) => {
    if (!needPython(t)) return;
    const exec = createLocalExecutor({ warmPool: 1 });
    const cold = createLocalExecutor();
    try {
      await idle(exec, 1);
      const members = warmPids();
      const ok = await runDirect(exec, 'warm-ok', { name: 'sleep', parameters: { seconds: 0.2 } });
      assert.equal(ok.outcome.status, 'exited');
      assert.equal(ok.outcome.exitCode, 0);
      assert.equal(ok.outcome.phases?.warm, true, 'ran on the pooled process');
      assert.ok(members.includes(ok.pid!), `pid ${ok.pid} is one of the pooled processes ${members.join(',')}`);
      assert.ok(typeof ok.outcome.phases?.assignMs === 'number' && ok.outcome.phases.assignMs >= 0);
      assert.ok(typeof ok.outcome.phases?.waitMs === 'number');
      const result = JSON.parse(await readFile(path.join(ok.paths.outputDir, 'result.json'), 'utf8')) as { timings: Record<string, number | null> };
      assert.equal(typeof result.timings.jobReceivedAt, 'number', 'the runner took the job from its stdin');
      const stdout = await readFile(ok.paths.stdoutLog, 'utf8');
      assert.doesNotMatch(stdout, /RAGOMICS_WARM_READY/, 'warm-up output is not the job log');
      assert.match(stdout, /^RAGOMICS_PROGRESS \{"fraction": 0\.0, "message": "loading block"\}$/m, 'the job log starts with the job');
      assert.ok(ok.progress.some((p) => p.message === 'running sleep'), JSON.stringify(ok.progress));
      assert.equal(ok.progress.at(-1)?.fraction, 1);
      // A failing node: the same exit code and error line warm and cold.
      await idle(exec, 1);
      const bad: Block = { name: 'sleep', parameters: { seconds: -1 } };
      const [w, c] = [await runDirect(exec, 'warm-bad', bad), await runDirect(cold, 'cold-bad', bad)];
      assert.equal(w.outcome.phases?.warm, true);
      assert.equal(c.outcome.phases?.warm, undefined, 'a pool-less executor runs cold');
      assert.equal(w.outcome.exitCode, c.outcome.exitCode);
      assert.equal(w.outcome.exitCode, 64);
      const lastLine = async (file: string) => (await readFile(file, 'utf8')).trimEnd().split('\n').at(-1);
      assert.equal(await lastLine(w.paths.stderrLog), await lastLine(c.paths.stderrLog), 'the same RAGOMICS_ERROR line');
      assert.equal(exec.warmPoolStats()?.taken, 2);
    } finally {
      await exec.close?.();
    }
    assert.deepEqual(warmPids(), [], 'close() leaves no warm process');
  });

  void test('cancel and timeout kill a pooled attempt within 5 s', { timeout: 180_000 }, async (t) => {
    if (!needPython(t)) return;
    const exec = createLocalExecutor({ warmPool: 1 });
    const acts = createActivities({ executor: exec, workspaceRoot: root, workerId: 'test-warm', heartbeatIntervalMs: 200, firstHeartbeatAfterMs: 0 });
    try {
      await idle(exec, 1);
      let members = warmPids();
      const ran = startRunNode(acts, nodeInput(treeId('cancel'), { block: { name: 'sleep', parameters: { seconds: 60 } } }));
      await waitFor(() => ran.heartbeats.some((h) => (h as { pid?: number | null }).pid), 20_000, 'the attempt to start');
      const pid = (ran.heartbeats.find((h) => (h as { pid?: number | null }).pid) as { pid: number }).pid;
      assert.ok(members.includes(pid), 'the cancelled attempt ran on a pooled process');
      const t0 = performance.now();
      ran.env.cancel();
      const err = await ran.promise.then(() => null, (e: unknown) => e);
      const ms = performance.now() - t0;
      console.log(`# warm cancel: rejected ${Math.round(ms)} ms after cancel`);
      assert.ok(err instanceof CancelledFailure);
      assert.ok(ms < 5000, `cancel took ${ms} ms`);
      assert.equal(alive(pid), false);

      await idle(exec, 1);
      members = warmPids();
      const tree = treeId('timeout');
      const t1 = performance.now();
      const f = await failureOf(startRunNode(acts, nodeInput(tree, { block: { name: 'sleep', parameters: { seconds: 60 } }, timeoutSeconds: 3 })).promise);
      assert.equal(f.type, 'BlockTimeoutError');
      const afterDeadline = performance.now() - t1 - 3000;
      const dir = path.join(root, 'trees', tree, 'nodes', 'n1', 'attempts', '1-1');
      const { killMs } = JSON.parse(await readFile(path.join(dir, 'outcome.json'), 'utf8')) as { killMs: number };
      console.log(`# warm timeout: killed in ${Math.round(killMs)} ms, rejected ${Math.round(afterDeadline)} ms after the deadline`);
      assert.ok(afterDeadline < 5000 && killMs < 5000);
      assert.equal(exec.warmPoolStats()?.taken, 2, 'both attempts were pooled');
      assert.ok(members.every((p) => !alive(p)), 'the timed-out pooled process is gone');
    } finally {
      await exec.close?.();
    }
    assert.deepEqual(warmPids(), []);
  });

  void test('a pooled process killed while idle is never used: the attempt runs elsewhere and succeeds', { timeout: 180_000 }, async (t) => {
    if (!needPython(t)) return;
    const exec = createLocalExecutor({ warmPool: 1 });
    try {
      await idle(exec, 1);
      const [victim] = warmPids();
      assert.ok(victim);
      process.kill(victim, 'SIGKILL');
      await waitFor(() => exec.warmPoolStats()?.dead === 1, 20_000, 'the pool to notice the death');
      const r = await runDirect(exec, 'after-kill', { name: 'sleep', parameters: { seconds: 0 } });
      assert.equal(r.outcome.exitCode, 0);
      assert.notEqual(r.pid, victim, 'not the killed process');
    } finally {
      await exec.close?.();
    }
    assert.deepEqual(warmPids(), []);
  });

  void test('a tree through the workflow with the pool on: right outputs, pooled attempts warm, no warm process after shutdown', { timeout: 300_000 }, async (t) => {
    if (!needPython(t)) return;
    const outcomes: { nodeId: string; warm: boolean }[] = [];
    const make = 'def run(adata=None):\n    import anndata, numpy\n    return anndata.AnnData(numpy.arange(12, dtype="float32").reshape(4, 3))\n';
    const grow = 'def run(adata, k=1):\n    from ragomics_runner import report\n    adata.obs["k"] = k\n    adata.X = adata.X * k\n    report.summary(f"total {float(adata.X.sum()):.0f}")\n    return adata\n';
    const result = await withWorker({ executor: 'local', python, warmPool: 2, maxConcurrentNodes: 2 }, async (ctx) => {
      const exec = ctx.rw.executor as LocalExecutor;
      const run = exec.run.bind(exec);
      exec.run = async (job, ctl) => {
        const o = await run(job, ctl);
        outcomes.push({ nodeId: job.nodeId, warm: o.phases?.warm === true });
        return o;
      };
      await idle(exec, 2);
      const tree = await ctx.client.startTree({
        id: uid('warm-tree'),
        nodes: [
          { id: 'root', block: { code: make, parameters: {} } },
          { id: 'double', parentId: 'root', block: { code: grow, parameters: { k: 2 } } },
          { id: 'triple', parentId: 'root', block: { code: grow, parameters: { k: 3 } } },
        ],
      });
      const res = await tree.result();
      const status = await tree.status();
      // The published file itself, read back by anndata (before the harness removes the workspace).
      const triple = status.nodes.find((n) => n.id === 'triple')?.outputPath ?? '';
      const read = spawnSync(python, ['-c', 'import sys, anndata; a = anndata.read_h5ad(sys.argv[1]); print(a.shape, float(a.X.sum()), sorted(set(a.obs["k"])))', triple], { encoding: 'utf8' });
      return { res, status, read };
    });
    assert.equal(result.res.state, 'COMPLETED', JSON.stringify(result.res.failures));
    const node = (id: string) => result.status.nodes.find((n) => n.id === id)!;
    assert.equal(node('double').summary, 'total 132');
    assert.equal(node('triple').summary, 'total 198');
    assert.equal(result.read.stdout.trim(), '(4, 3) 198.0 [3]', result.read.stderr);
    assert.equal(outcomes.length, 3);
    assert.equal(outcomes.find((o) => o.nodeId === 'root')?.warm, true, 'the root took a waiting member');
    assert.ok(outcomes.filter((o) => o.warm).length >= 2, `two members were waiting: ${JSON.stringify(outcomes)}`);
    assert.deepEqual(warmPids(), [], 'the harness shut the worker down and closed its executor');
  });

  void test('`ragomics worker --warm 2`: SIGTERM leaves no warm process behind', { timeout: 180_000 }, async (t) => {
    if (!needPython(t)) return;
    const workspace = await mkdtemp(path.join(tmpdir(), 'ragomics-warm-worker-'));
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'ragomics.js'), 'worker', '--executor', 'local', '--warm', '2'], {
      env: { ...process.env, TEMPORAL_ADDRESS, RAGOMICS_TASK_QUEUE: uid('warm-worker'), RAGOMICS_WORKSPACE: workspace, RAGOMICS_PYTHON: python, RAGOMICS_LOG_LEVEL: 'WARN' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => warmPids(child.pid).length === 2 || child.exitCode !== null, 60_000, 'the worker to start 2 warm processes');
      const members = warmPids(child.pid);
      assert.equal(members.length, 2, `worker stderr: ${stderr}`);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, `worker stderr: ${stderr}`);
      assert.deepEqual(members.filter(alive), [], 'every warm process ended with the worker');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(workspace, { recursive: true, force: true });
    }
  });
});
