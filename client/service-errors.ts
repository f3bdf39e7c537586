/**
 * Classifies the Temporal client's failures by type and gRPC status code, never by message
 * text, and maps them to the SDK's error classes. The client wraps the transport's
 * `ServiceError` in its own errors (`ServiceError`, `WorkflowNotFoundError`, ...) as `cause`,
 * so the whole cause chain is searched.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  isGrpcServiceError, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { InvalidInputError, RagomicsError, ServiceUnavailableError, TreeNotFoundError } from './errors';

export { GrpcStatus };

/**
 * The gRPC status code of `err`, or of the first gRPC `ServiceError` in its `cause` chain;
 * `undefined` when there is none (a local error, a workflow failure, ...).
 */
export function grpcStatusOf(err: unknown): GrpcStatus | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    if (isGrpcServiceError(e)) return e.code;
  }
  return undefined;
}

/** True when the server did not answer: gRPC UNAVAILABLE (not reachable) or DEADLINE_EXCEEDED. */
export function isServerUnreachable(err: unknown): boolean {
  const code = grpcStatusOf(err);
  return code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED;
}

/**
 * The SDK error `err` stands for, or `undefined` when it is none of the known kinds:
 * not found → {@link TreeNotFoundError}; an update's failure (validator rejections) or an id
 * taken → {@link InvalidInputError}; gRPC UNAVAILABLE / DEADLINE_EXCEEDED →
 * {@link ServiceUnavailableError}. An update call the server gave up on stays as it is.
 */
export function toRagomicsError(err: unknown): RagomicsError | undefined {
  if (err instanceof RagomicsError) return err;
  if (err instanceof WorkflowNotFoundError) return new TreeNotFoundError(`no tree with id "${err.workflowId}"`, { cause: err });
  // Update validators' rejections arrive as the update's failure.
  if (err instanceof WorkflowUpdateFailedError) return new InvalidInputError(String((err.cause as Error | undefined)?.message ?? err.message), { cause: err });
  if (err instanceof WorkflowExecutionAlreadyStartedError) return new InvalidInputError(`a tree with id "${err.workflowId}" already exists`, { cause: err });
  // An update the server gave up waiting for is its own kind: left to the caller.
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return undefined;
  if (isServerUnreachable(err)) {
    return new ServiceUnavailableError(`the Temporal server stopped answering (${(err as Error).message.split('\n')[0]})`, { cause: err });
  }
  return undefined;
}

/** Maps Temporal client errors to the SDK's error classes; anything else is returned as is. */
export function wrapServiceError(err: unknown): unknown {
  return toRagomicsError(err) ?? err;
}
