/**
 * Errors are classified by type and gRPC status code, never by message text: gRPC errors as
 * the transport raises them (a real failed call, and ones built the way @grpc/grpc-js builds
 * them), wrapped the way the Temporal client wraps them, each with a message that would have
 * fooled the old text matching.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata, status } from '@grpc/grpc-js';
import { Connection, ServiceError, WorkflowNotFoundError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ConfigError, InvalidInputError, NoWorkerError, ServiceUnavailableError, TreeFinishedError, TreeNotFoundError } from '../../client/errors';
import { GrpcStatus, grpcStatusOf, isServerUnreachable, toRagomicsError, wrapServiceError } from '../../client/service-errors';
import { ExitCode, reportError } from '../../client/cli/exit';
import { loadWorkerConfig } from '../../workers/config';
import { describeFailureKind } from '../../workers/orphans';

/** A gRPC ServiceError as @grpc/grpc-js's callErrorFromStatus makes it. */
function grpcError(code: status, details: string): Error {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

function report(err: unknown): { code: number; lines: string[] } {
  const lines: string[] = [];
  return { code: reportError(err, (l) => lines.push(l)), lines };
}

void test('a real failed call to a closed port is gRPC UNAVAILABLE and maps to ServiceUnavailableError (exit 3)', async () => {
  // No retry interceptor, so the first refusal comes back at once.
  const connection = await Connection.lazy({ address: '127.0.0.1:1', interceptors: [] });
  try {
    let err: unknown;
    try {
      await connection.workflowService.getSystemInfo({});
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof Error, 'the call failed');
    assert.equal(grpcStatusOf(err), GrpcStatus.UNAVAILABLE);
    const wrapped = new ServiceError('Failed to query Workflow', { cause: err });
    assert.equal(isServerUnreachable(wrapped), true, 'found in the cause chain');
    const mapped = toRagomicsError(wrapped);
    assert.ok(mapped instanceof ServiceUnavailableError, String(mapped));
    assert.equal(report(mapped).code, ExitCode.unavailable);
  } finally {
    await connection.close();
  }
});

void test('status codes decide, not words: DEADLINE_EXCEEDED is unreachable, INTERNAL saying "UNAVAILABLE" is not', () => {
  assert.equal(isServerUnreachable(new ServiceError('x', { cause: grpcError(status.DEADLINE_EXCEEDED, 'deadline') })), true);
  const misleading = new ServiceError('failed to connect: ECONNREFUSED UNAVAILABLE', { cause: grpcError(status.INTERNAL, 'UNAVAILABLE ECONNREFUSED') });
  assert.equal(isServerUnreachable(misleading), false);
  assert.equal(wrapServiceError(misleading), misleading, 'left as it is');
  assert.equal(grpcStatusOf(new Error('14 UNAVAILABLE: looks like gRPC')), undefined, 'a plain Error is no gRPC error');
  assert.equal(grpcStatusOf(grpcError(status.FAILED_PRECONDITION, 'no poller seen')), GrpcStatus.FAILED_PRECONDITION);
});

void test('the client\'s own error classes map to the SDK\'s', () => {
  assert.ok(toRagomicsError(new WorkflowNotFoundError('workflow execution already completed', 't1', undefined)) instanceof TreeNotFoundError);
  const timeout = new WorkflowUpdateRPCTimeoutOrCancelledError('timeout', { cause: grpcError(status.DEADLINE_EXCEEDED, 'timeout') });
  assert.equal(toRagomicsError(timeout), undefined, 'an update the server gave up on stays as it is, although its cause is DEADLINE_EXCEEDED');
});

void test('exit codes of the typed errors: config 2, finished tree 2, no worker 3', () => {
  assert.deepEqual(report(new ConfigError(['RAGOMICS_X: bad', 'RAGOMICS_Y: worse'])), { code: ExitCode.invalidInput, lines: ['error: RAGOMICS_X: bad', 'error: RAGOMICS_Y: worse'] });
  assert.equal(report(new TreeFinishedError('tree "t" has finished; it accepts no more changes')).code, ExitCode.invalidInput);
  assert.equal(report(new NoWorkerError('no worker answered')).code, ExitCode.unavailable);
  // A plain Error whose text looks like the old worker-configuration message is no longer bad input.
  assert.equal(report(new Error('invalid worker configuration:\nRAGOMICS_X: bad')).code, ExitCode.treeFailed);
});

void test('the worker configuration throws ConfigError, one problem per variable', () => {
  const err = (() => {
    try {
      loadWorkerConfig({}, { RAGOMICS_EAGER_NODES: 'maybe', RAGOMICS_EXECUTOR: 'kubernetes' });
    } catch (e) {
      return e;
    }
    return assert.fail('accepted');
  })();
  assert.ok(err instanceof ConfigError && err instanceof InvalidInputError);
  assert.deepEqual(err.problems.map((p) => p.split(':')[0]).sort(), ['RAGOMICS_EAGER_NODES', 'RAGOMICS_EXECUTOR']);
  assert.equal(report(err).code, ExitCode.invalidInput);
});

void test('the orphan sweep tells a tree of another namespace and a server that is down from a worker set up wrongly, by type', () => {
  assert.equal(describeFailureKind(new WorkflowNotFoundError('not found', 't1', undefined)), 'not-found');
  assert.equal(describeFailureKind(new ServiceError('Failed to describe', { cause: grpcError(status.UNAVAILABLE, 'connect ECONNREFUSED') })), 'unreachable');
  // Reported (the containers are kept either way): a denied call, a namespace the server does not know.
  assert.equal(describeFailureKind(new ServiceError('Failed to describe', { cause: grpcError(status.PERMISSION_DENIED, 'not allowed: not found') })), 'problem');
  assert.equal(describeFailureKind(new ServiceError('namespace not found', { cause: grpcError(status.INVALID_ARGUMENT, 'Namespace x is not found.') })), 'problem');
  assert.equal(describeFailureKind(new Error('14 UNAVAILABLE: looks like gRPC')), 'problem', 'words decide nothing');
});
