/**
 * Turns the raw facts of an exited attempt into a typed failure (or null for success), using
 * the runner's exit-code contract. One place, so every executor maps outcomes the same way.
 */
import {
  BlockCrashedError,
  ExecutorUnavailableError,
  InputCountMismatchError,
  InputMissingError,
  InvalidBlockCodeError,
  InvalidParametersError,
  OutOfMemoryError,
  type NodeFailureError,
} from './errors';
import { RunnerExitCodes, type RunnerFailureExitCode } from '../common/runner-contract';
import type { AttemptPaths, ExecOutcome } from './executors/types';
import { readRunnerFailure, STDERR_TAIL_LINES } from './runner-output';
import { logTailSection } from '../common/log-tail';

type FailureClass = new (message: string, details: object) => NodeFailureError;

// One entry per failing exit code of the generated contract: a code added to
// blocks/runner-contract.json is a type error here until it is mapped.
const byExitCode: Record<RunnerFailureExitCode, [FailureClass, string]> = {
  [RunnerExitCodes.invalidParameters]: [InvalidParametersError, 'invalid block parameters'],
  [RunnerExitCodes.invalidBlockCode]: [InvalidBlockCodeError, 'invalid block code'],
  [RunnerExitCodes.inputMissing]: [InputMissingError, 'input missing or unreadable'],
  [RunnerExitCodes.inputCountMismatch]: [InputCountMismatchError, 'the block does not take this many inputs'],
  [RunnerExitCodes.blockCrashed]: [BlockCrashedError, 'the block raised an exception'],
  [RunnerExitCodes.outOfMemory]: [OutOfMemoryError, 'the block ran out of memory (MemoryError)'],
  // No failure type of its own: a full disk or a flaky mount is worth a retry, like a crash.
  [RunnerExitCodes.outputError]: [BlockCrashedError, 'the runner could not write its output'],
  // A runner whose stdin (our attach connection or pipe) closed mid-node stops itself; a worker
  // that sees this code is alive but lost that connection: the attempt is lost and runs again.
  [RunnerExitCodes.orphaned]: [ExecutorUnavailableError, 'the container lost its connection to this worker and stopped the node'],
};

/**
 * The typed failure for an `exited` outcome, or null when it exited 0.
 * Every message carries the runner's RAGOMICS_ERROR message and the stderr tail.
 */
export async function failureForExit(outcome: ExecOutcome, paths: AttemptPaths, memoryMB: number): Promise<NodeFailureError | null> {
  if (outcome.status === 'exited' && outcome.exitCode === 0 && !outcome.oomKilled) return null;
  const { stderrTail, runnerError } = await readRunnerFailure(paths);
  const code = outcome.exitCode;
  let failure: [FailureClass, string];
  if (outcome.oomKilled) {
    failure = [OutOfMemoryError, `killed by the kernel for memory (limit ${memoryMB} MB)`];
  } else if (code !== null && isFailureExitCode(code)) {
    failure = byExitCode[code];
  } else {
    failure = [BlockCrashedError, code !== null && code > 128 ? `the runner died from signal ${code - 128}` : `the runner exited with code ${code}`];
  }
  const [Failure, headline] = failure;
  const parts = [`${headline} (exit code ${code ?? 'none'})`];
  if (runnerError?.message) parts.push(`: ${runnerError.message}`);
  parts.push(logTailSection(paths.stderrLog, stderrTail, STDERR_TAIL_LINES));
  return new Failure(parts.join(''), { exitCode: code, stderrTail, logDir: paths.dir, memoryMB });
}

/** True for a failing exit code the contract defines (anything else is an unexplained crash). */
function isFailureExitCode(code: number): code is RunnerFailureExitCode {
  return Object.hasOwn(byExitCode, code);
}
