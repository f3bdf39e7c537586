/**
 * Classifies the Temporal client's failures by type and gRPC status code, never by message
 * text, and maps them to the SDK's error classes. The client wraps the transport's
 * `ServiceError` in its own errors (`ServiceError`, `WorkflowNotFoundError`, ...) as `cause`,
 * so the whole cause chain is searched.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { NamespaceNotFoundError } from '@temporalio/common';
import {
  isGrpcServiceError, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ConfigError, InvalidInputError, RagomicsError, ServiceUnavailableError, TreeNotFoundError } from './errors';

export { GrpcStatus };

/**
 * The gRPC status code of `err`, or of the first gRPC `ServiceError` in its `cause` chain;
 * `undefined` when there is none (a local error, a workflow failure, ...).
 */
export function grpcStatusOf(err: unknown): GrpcStatus | undefined {
  return grpcErrorOf(err)?.code;
}

/** The first gRPC `ServiceError` in `err`'s `cause` chain (its `code`, and the server's reason in `details`). */
function grpcErrorOf(err: unknown): { code: GrpcStatus; details: string } | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    if (isGrpcServiceError(e)) return { code: e.code, details: e.details };
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
 * {@link ServiceUnavailableError}; the server refusing the request itself (gRPC INVALID_ARGUMENT,
 * e.g. a malformed list query) or another NOT_FOUND → {@link InvalidInputError} with the server's
 * reason; an unknown namespace (NamespaceNotFoundError), refused credentials or a denied
 * operation → {@link ConfigError} naming the settings; a call the server does not implement (not
 * a Temporal frontend, or too old) → {@link ServiceUnavailableError}. An update call the server gave up on stays
 * as it is.
 */
export function toRagomicsError(err: unknown): RagomicsError | undefined {
  if (err instanceof RagomicsError) return err;
  if (err instanceof WorkflowNotFoundError) return new TreeNotFoundError(`no tree with id "${err.workflowId}"`, { cause: err });
  // Update validators' rejections arrive as the update's failure.
  if (err instanceof WorkflowUpdateFailedError) return new InvalidInputError(String((err.cause as Error | undefined)?.message ?? err.message), { cause: err });
  if (err instanceof WorkflowExecutionAlreadyStartedError) return new InvalidInputError(`a tree with id "${err.workflowId}" already exists`, { cause: err });
  if (err instanceof NamespaceNotFoundError) return new ConfigError(`the Temporal server has no namespace "${err.namespace}"; check TEMPORAL_NAMESPACE`, { cause: err });
  // An update the server gave up waiting for is its own kind: left to the caller.
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return undefined;
  if (isServerUnreachable(err)) {
    return new ServiceUnavailableError(`the Temporal server stopped answering (${(err as Error).message.split('\n')[0]})`, { cause: err });
  }
  const g = grpcErrorOf(err);
  if (!g) return undefined;
  const reason = g.details || (err as Error).message.split('\n')[0];
  switch (g.code) {
    case GrpcStatus.INVALID_ARGUMENT:
      return new InvalidInputError(`the Temporal server refused the request: ${reason}`, { cause: err });
    // An unknown namespace is NamespaceNotFoundError and a workflow WorkflowNotFoundError (above):
    // this is something else the server did not find (a history removed meanwhile, say).
    case GrpcStatus.NOT_FOUND:
      return new InvalidInputError(`the Temporal server found nothing for this request: ${reason}`, { cause: err });
    case GrpcStatus.UNAUTHENTICATED:
      return new ConfigError(`the Temporal server refused the credentials (${reason}); check TEMPORAL_API_KEY and the TEMPORAL_TLS_* settings`, { cause: err });
    // Bad credentials' rights, or an operation the namespace has switched off: the reason says which.
    case GrpcStatus.PERMISSION_DENIED:
      return new ConfigError(`the Temporal server does not permit this (${reason}); check the credentials (TEMPORAL_API_KEY, TEMPORAL_TLS_*) and the namespace's settings`, { cause: err });
    case GrpcStatus.UNIMPLEMENTED:
      return new ServiceUnavailableError(`the server at TEMPORAL_ADDRESS does not implement this call (${reason}): it is not a Temporal frontend, or older than this client needs`, { cause: err });
    default:
      return undefined;
  }
}

/** Maps Temporal client errors to the SDK's error classes; anything else is returned as is. */
export function wrapServiceError(err: unknown): unknown {
  return toRagomicsError(err) ?? err;
}
