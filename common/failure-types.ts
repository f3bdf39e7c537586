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
