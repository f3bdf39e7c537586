/**
 * Typed node failures. Each class name equals a {@link FailureTypes} string, so the failure
 * type that reaches the workflow (and Temporal's `nonRetryableErrorTypes`) is spelt once.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FailureTypes, NON_RETRYABLE_FAILURE_TYPES, type FailureType } from '../common/failure-types';
import type { FailureDetails as FailureDetailsRead } from '../common/schemas';

/**
 * What a failed attempt left behind; sent as the single entry of `ApplicationFailure.details`.
 * The form the workflow reads is common/schemas.ts `FailureDetailsSchema`; a worker always sends
 * the exit code (null when the runner never ran or was killed by us), the stderr tail (at most
 * ~40 lines, '' when there were none) and the log folder (null when none was made).
 */
export type FailureDetails = Omit<FailureDetailsRead, 'exitCode' | 'stderrTail' | 'logDir'> & {
  exitCode: number | null;
  stderrTail: string;
  logDir: string | null;
};

/** Base of every typed node failure; `type` is the FailureTypes string and the class name. */
export abstract class NodeFailureError extends Error {
  abstract readonly type: FailureType;
  readonly details: FailureDetails;

  constructor(message: string, details: Partial<FailureDetails> = {}) {
    super(message);
    this.details = { exitCode: null, stderrTail: '', logDir: null, ...details };
  }

  /** True when no retry can fix this failure (NON_RETRYABLE_FAILURE_TYPES). */
  get nonRetryable(): boolean {
    return NON_RETRYABLE_FAILURE_TYPES.includes(this.type);
  }

  /**
   * The failure as Temporal should see it. Thrown as a plain Error, Temporal would keep the
   * type (from `name`) but lose `nonRetryable` and the details, so activities throw this instead.
   */
  toApplicationFailure(): ApplicationFailure {
    return ApplicationFailure.create({
      message: this.message,
      type: this.type,
      nonRetryable: this.nonRetryable,
      details: [this.details],
      cause: this.cause instanceof Error ? this.cause : undefined,
    });
  }
}

/** Parameters rejected by the block's schema (before any container starts, or by the runner). */
export class InvalidParametersError extends NodeFailureError {
  readonly type = FailureTypes.InvalidParameters;
  override readonly name = FailureTypes.InvalidParameters;
}
/** Inline code that does not compile or defines no `run` function. */
export class InvalidBlockCodeError extends NodeFailureError {
  readonly type = FailureTypes.InvalidBlockCode;
  override readonly name = FailureTypes.InvalidBlockCode;
}
/** The input `.h5ad` is missing, not a file, or unreadable. */
export class InputMissingError extends NodeFailureError {
  readonly type = FailureTypes.InputMissing;
  override readonly name = FailureTypes.InputMissing;
}
/** The block takes one input and the node has several, or the reverse (runner exit 67). */
export class InputCountMismatchError extends NodeFailureError {
  readonly type = FailureTypes.InputCountMismatch;
  override readonly name = FailureTypes.InputCountMismatch;
}
/** The block raised, the runner exited non-zero, or its output could not be published. */
export class BlockCrashedError extends NodeFailureError {
  readonly type = FailureTypes.BlockCrashed;
  override readonly name = FailureTypes.BlockCrashed;
}
/** Killed by the kernel for memory (OOMKilled) or the block raised MemoryError. */
export class OutOfMemoryError extends NodeFailureError {
  readonly type = FailureTypes.OutOfMemory;
  override readonly name = FailureTypes.OutOfMemory;
}
/** The attempt ran past its timeout and was killed. */
export class BlockTimeoutError extends NodeFailureError {
  readonly type = FailureTypes.BlockTimeout;
  override readonly name = FailureTypes.BlockTimeout;
}
/** Docker (or the local Python, or the blocks image) is not available on this worker. */
export class ExecutorUnavailableError extends NodeFailureError {
  readonly type = FailureTypes.ExecutorUnavailable;
  override readonly name = FailureTypes.ExecutorUnavailable;
}
