/**
 * Runs a script shipped in the package (`<package>/scripts/*.sh`) the way `ragomics dev` needs:
 * by absolute path, from any working directory, with the data and tools folders this process
 * uses (activities/executors/repo-root.ts), so the script and the CLI agree on where state is.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, scriptEnv } from '../../activities/executors/repo-root';
import { ServiceUnavailableError } from '../errors';

/** Exit code and standard output of a finished script (its stderr went to this process's stderr). */
export interface ScriptResult {
  code: number;
  stdout: string;
  /** Absolute path of the script that ran. */
  script: string;
}

/** Absolute path of `scripts/<name>` in the package. */
export function packageScript(name: string): string {
  return path.join(repoRoot(), 'scripts', name);
}

/**
 * Runs `bash <package>/scripts/<name> ARGS...` in the working directory, stdin closed, stderr
 * passed through (the script's progress and its one-line errors), stdout collected.
 * @throws ServiceUnavailableError when the script is missing from the package or bash cannot start.
 */
export async function runPackageScript(name: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<ScriptResult> {
  const script = packageScript(name);
  if (!existsSync(script)) throw new ServiceUnavailableError(`${script} is missing: the ragomics package is incomplete; reinstall it`);
  return new Promise<ScriptResult>((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { env: scriptEnv(env), stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.on('error', (err) => reject(new ServiceUnavailableError(`cannot run ${script} with bash: ${err.message}`, { cause: err })));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, script }));
  });
}
