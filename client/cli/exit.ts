/**
 * Exit codes of CONTRACT.md and the one place that turns an error into a message on stderr.
 * Expected failures (bad input, server down) print one line per problem and never a stack
 * trace; `RAGOMICS_DEBUG=1` adds the stack for anything else.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { RagomicsError, InvalidInputError } from '../errors';

/** The contract's exit codes. */
export const ExitCode = {
  /** Every node COMPLETED (or the command did what it was asked). */
  ok: 0,
  /** The tree finished with a node FAILED, TIMEOUT or CANCELLED (or an unexpected error). */
  treeFailed: 1,
  /** Invalid input: nothing was started or changed. */
  invalidInput: 2,
  /** A required service cannot be reached. */
  unavailable: 3,
  /** Interrupted by the user (Ctrl-C); the tree keeps running. */
  interrupted: 130,
} as const;

/** Exit code of a finished (or running) tree: 0 only when every node COMPLETED. */
export function treeExitCode(state: string): number {
  return state === 'COMPLETED' || state === 'RUNNING' ? ExitCode.ok : ExitCode.treeFailed;
}

/** Thrown by commands to stop with a given exit code after printing their own message. */
export class CliExit extends Error {
  constructor(readonly code: number, message = '') {
    super(message);
  }
}

/**
 * Prints `err` on stderr (one line per problem) and returns the exit code it stands for. Errors
 * are recognised by class (the SDK's {@link RagomicsError} family, including bad settings as
 * `ConfigError` and a missing worker as `NoWorkerError`), never by their message text.
 */
export function reportError(err: unknown, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): number {
  if (err instanceof CliExit) {
    if (err.message) write(err.message);
    return err.code;
  }
  if (err instanceof InvalidInputError) {
    for (const p of err.problems) write(`error: ${p}`);
    return err.exitCode;
  }
  if (err instanceof RagomicsError) {
    write(`error: ${firstLine(err.message)}`);
    return err.exitCode;
  }
  if (err instanceof WorkflowFailedError) {
    const cause = err.cause as Error | undefined;
    write(`error: the tree's workflow failed: ${firstLine(cause?.message ?? err.message)}`);
    return ExitCode.treeFailed;
  }
  const message = err instanceof Error ? err.message : String(err);
  write(`error: ${firstLine(message)}`);
  // Unexpected: still one line, unless asked for the stack.
  const debug = process.env.RAGOMICS_DEBUG;
  if (debug && debug !== '0' && err instanceof Error && err.stack) write(err.stack);
  return ExitCode.treeFailed;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? '';
}
