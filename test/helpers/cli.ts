/** Runs the `ragomics` CLI of this checkout as a child process, as a user would. */
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import path from 'node:path';
import { repoRoot } from '../../activities/executors/repo-root';
import { TEMPORAL_ADDRESS } from './harness';

/** The checkout and its CLI entry point. */
export const ROOT = repoRoot();
export const BIN = path.join(ROOT, 'bin', 'ragomics.js');

/** Exit code and output of one CLI run. */
export interface CliResult { code: number | null; stdout: string; stderr: string }

/** A CLI run in progress: its output so far, and its result once it exits. */
export interface CliRun {
  /** Resolves when the process exits (rejects only when it cannot be started). */
  done: Promise<CliResult>;
  /** Standard output so far. */
  stdout(): string;
  /** Standard error so far. */
  stderr(): string;
}

/**
 * Starts the CLI with the test server's address (plus `env`); the caller can read its output
 * while it runs (e.g. wait for a line) and await `done`. Killed after 120 s.
 */
export function startRagomics(args: string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, TEMPORAL_ADDRESS, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { done, stdout: () => stdout, stderr: () => stderr };
}

/**
 * Runs the CLI with the test server's address (plus `env`); resolves when it exits. Asynchronous
 * on purpose: a worker in the test process must keep running to answer the CLI's queries.
 */
export function ragomics(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startRagomics(args, env).done;
}

/** Asserts exit code `code` and exactly one line on stderr, equal to `pattern` (a string) or matching it. */
export function assertFailsOneLine(r: CliResult, code: number, pattern: RegExp | string): void {
  assert.equal(r.code, code, `exit code (stdout: ${r.stdout} stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
  if (typeof pattern === 'string') assert.equal(lines[0], pattern);
  else assert.match(lines[0] ?? '', pattern);
}
