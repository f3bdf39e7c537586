/** Runs the `ragomics` CLI of this checkout as a child process, as a user would. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../activities/executors/repo-root';
import { TEMPORAL_ADDRESS } from './harness';

/** The checkout and its CLI entry point. */
export const ROOT = repoRoot();
export const BIN = path.join(ROOT, 'bin', 'ragomics.js');

/** Exit code and output of one CLI run. */
export interface CliResult { code: number | null; stdout: string; stderr: string }

/**
 * Runs the CLI with the test server's address (plus `env`); resolves when it exits. Asynchronous
 * on purpose: a worker in the test process must keep running to answer the CLI's queries.
 */
export function ragomics(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, TEMPORAL_ADDRESS, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
