/**
 * The runner contract generated from blocks/runner-contract.json: the TypeScript module is what the
 * generator writes, and every failing exit code of it turns into the failure type the activities
 * throw (the mapping in activities/outcome.ts), with the runner's own message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RUNNER_TIMING_MARKS, RunnerErrorTypes, RunnerExitCodes, RunnerNames, type RunnerFailureExitCode } from '../../common/runner-contract';
import { FailureTypes } from '../../common/failure-types';
import { failureForExit } from '../../activities/outcome';
import type { AttemptPaths, ExecOutcome } from '../../activities/executors/types';
import { repoRoot } from '../../activities/executors/repo-root';

const ROOT = repoRoot();

void test('the generated TypeScript and Python modules match blocks/runner-contract.json', async () => {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-runner-contract.js'), '--check'], { stdio: 'pipe' });
  const source = JSON.parse(await readFile(path.join(ROOT, 'blocks', 'runner-contract.json'), 'utf8')) as {
    exitCodes: { name: string; code: number; type: string | null }[];
    timingMarks: { name: string }[];
    names: { name: string; value: string }[];
  };
  assert.deepEqual(Object.fromEntries(source.exitCodes.map((e) => [e.name, e.code])), RunnerExitCodes);
  assert.deepEqual(RUNNER_TIMING_MARKS, source.timingMarks.map((m) => m.name));
  assert.deepEqual(Object.fromEntries(source.names.map((n) => [n.name, n.value])), RunnerNames);
});

void test('the generator refuses a name whose value would not be a plain literal in both languages, in one line naming it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ragomics-contract-gen-'));
  try {
    // A copy of the generator beside a bad source: it reads ../blocks/runner-contract.json from its own folder.
    await mkdir(path.join(dir, 'scripts'));
    await mkdir(path.join(dir, 'blocks'));
    await writeFile(path.join(dir, 'scripts', 'gen-runner-contract.js'), await readFile(path.join(ROOT, 'scripts', 'gen-runner-contract.js')));
    const source = JSON.parse(await readFile(path.join(ROOT, 'blocks', 'runner-contract.json'), 'utf8')) as { names: { name: string; value: string; doc: string }[] };
    source.names.push({ name: 'quoted', value: 'it\'s', doc: 'A value with a quote.' });
    await writeFile(path.join(dir, 'blocks', 'runner-contract.json'), JSON.stringify(source));
    let stderr = '';
    try {
      execFileSync(process.execPath, [path.join(dir, 'scripts', 'gen-runner-contract.js'), '--check'], { stdio: 'pipe' });
      assert.fail('the generator accepted a quoted value');
    } catch (e) {
      stderr = String((e as { stderr?: Buffer }).stderr ?? '');
      assert.equal((e as { status?: number }).status, 2, stderr);
    }
    assert.equal(stderr.trim(), `gen-runner-contract: blocks/runner-contract.json: names[${source.names.length - 1}].value must be printable ASCII without quotes or backslashes`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// What each runner failure becomes on the TypeScript side. OutputError has no failure type of its
// own (a full disk is worth a retry, like a crash), nor has Orphaned.
const expected: Record<RunnerFailureExitCode, string> = {
  [RunnerExitCodes.invalidParameters]: FailureTypes.InvalidParameters,
  [RunnerExitCodes.invalidBlockCode]: FailureTypes.InvalidBlockCode,
  [RunnerExitCodes.inputMissing]: FailureTypes.InputMissing,
  [RunnerExitCodes.inputCountMismatch]: FailureTypes.InputCountMismatch,
  [RunnerExitCodes.blockCrashed]: FailureTypes.BlockCrashed,
  [RunnerExitCodes.outOfMemory]: FailureTypes.OutOfMemory,
  [RunnerExitCodes.outputError]: FailureTypes.BlockCrashed,
  // Seen only by an executor alive after its attach connection dropped: the attempt is lost.
  [RunnerExitCodes.orphaned]: FailureTypes.ExecutorUnavailable,
};

void test('every failing exit code of the contract maps to its failure type, with the RAGOMICS_ERROR message', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ragomics-contract-'));
  try {
    const paths: AttemptPaths = {
      dir, jobFile: path.join(dir, 'job.json'), outputDir: path.join(dir, 'output'),
      stdoutLog: path.join(dir, 'stdout.log'), stderrLog: path.join(dir, 'stderr.log'),
    };
    await mkdir(paths.outputDir);
    const codes = Object.keys(RunnerErrorTypes).map(Number) as RunnerFailureExitCode[];
    assert.equal(codes.length, Object.keys(RunnerExitCodes).length - 1, 'every code but ok is a failure');
    for (const code of codes) {
      const record = { code, type: RunnerErrorTypes[code], message: `runner says ${code}` };
      await writeFile(paths.stderrLog, `Traceback ...\nRAGOMICS_ERROR ${JSON.stringify(record)}\n`);
      const outcome: ExecOutcome = { status: 'exited', exitCode: code, oomKilled: false, imageDigest: null, peakMemoryMB: null, startedAt: new Date(), endedAt: new Date() };
      const failure = await failureForExit(outcome, paths, 512);
      assert.ok(failure, `exit ${code} is a failure`);
      assert.equal(failure.type, expected[code], `exit ${code} (${RunnerErrorTypes[code]})`);
      assert.match(failure.message, new RegExp(`\\(exit code ${code}\\): runner says ${code}`));
      assert.equal(failure.details.exitCode, code);
    }
    const ok: ExecOutcome = { status: 'exited', exitCode: RunnerExitCodes.ok, oomKilled: false, imageDigest: null, peakMemoryMB: null, startedAt: new Date(), endedAt: new Date() };
    assert.equal(await failureForExit(ok, paths, 512), null);
    const unknown = await failureForExit({ ...ok, exitCode: 3 }, paths, 512);
    assert.equal(unknown?.type, FailureTypes.BlockCrashed, 'a code outside the contract is a crash');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
