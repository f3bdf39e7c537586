/**
 * Failure type names shared by activities (which throw them) and the workflow (which maps them
 * to node states and retry decisions). The activity error class names equal these strings, so
 * Temporal's `nonRetryableErrorTypes` and the workflow's checks match on one spelling.
 */
export const FailureTypes = {
  /** Parameters rejected by the block's schema (TypeScript or Python side). Never retried. */
  InvalidParameters: 'InvalidParametersError',
  /** Inline code that does not compile or has no `run` function. Never retried. */
  InvalidBlockCode: 'InvalidBlockCodeError',
  /** Input `.h5ad` missing or unreadable. Never retried. */
  InputMissing: 'InputMissingError',
  /**
   * A block taking one input on a node with several (`inputs`), or one taking several on a node
   * with one (runner exit 67). Bad input, like InputMissing: never retried.
   */
  InputCountMismatch: 'InputCountMismatchError',
  /** The block raised or exited non-zero. Retried by the node's retry policy. */
  BlockCrashed: 'BlockCrashedError',
  /** The container was killed for memory. The workflow may retry with more memory. */
  OutOfMemory: 'OutOfMemoryError',
  /** The attempt ran past its timeout and was killed. */
  BlockTimeout: 'BlockTimeoutError',
  /** Docker (or the local Python) is not available on this worker. Retried. */
  ExecutorUnavailable: 'ExecutorUnavailableError',
  /** An expansion policy or fixer endpoint failed or answered nonsense. */
  CallbackFailed: 'CallbackFailedError',
  /**
   * A node that waited for another tree's node computing the same cache key, whose computation
   * failed (workflows/key-lease.ts). The message names that tree and node and their error.
   * Failures are not cached: the next tree that reaches the key computes afresh.
   */
  SharedComputationFailed: 'SharedComputationFailedError',
} as const;
export type FailureType = (typeof FailureTypes)[keyof typeof FailureTypes];

/** Failure types that no retry can fix. */
export const NON_RETRYABLE_FAILURE_TYPES: string[] = [
  FailureTypes.InvalidParameters,
  FailureTypes.InvalidBlockCode,
  FailureTypes.InputMissing,
  FailureTypes.InputCountMismatch,
  // OOM is retried by the workflow (with more memory), never blindly by Temporal.
  FailureTypes.OutOfMemory,
];

/**
 * Failure types that follow from the node's input, parameters and code alone, so every node with
 * the same cache key would fail the same way: a key's owner that failed with one of these tells
 * the key's waiters `failed` (workflows/key-lease.ts). Any other end (a timeout, out of memory, a
 * lost worker, an unavailable executor) depends on the owner's own limits and hosts: its waiters
 * compute themselves, one at a time.
 */
export const INPUT_DETERMINED_FAILURE_TYPES: readonly string[] = [
  FailureTypes.InvalidParameters,
  FailureTypes.InvalidBlockCode,
  FailureTypes.InputMissing,
  FailureTypes.InputCountMismatch,
  FailureTypes.BlockCrashed,
];

/**
 * Failure types of the carried-state activities (activities/carried-state.ts). A tree whose
 * carried state is missing or corrupt fails with one of these rather than starting empty.
 */
export const CarriedStateErrors = {
  /** The state file of the previous run (or a chunk being written) is not in the workspace. */
  Missing: 'CarriedStateMissingError',
  /** The state file's size or sha256 differs from the reference, or it does not inflate and parse to a tree state. */
  Corrupt: 'CarriedStateCorruptError',
  /** An activity input that cannot be right (a bug, not the disk). */
  Invalid: 'CarriedStateInvalidError',
  /** The workspace kept failing (I/O errors, timeouts) through the activities' retries. */
  Unavailable: 'CarriedStateUnavailableError',
} as const;
