/**
 * Activities that call external services on the tree's behalf: the expansion policy (the seed's
 * function selector: "which children should this node get?") and the fixer (the seed's bug
 * fixer: "here is code that failed; send a patch"). Both are plain JSON over HTTP POST, bounded
 * by the tree's `callbackTimeout` (the activity's start-to-close timeout) and by the abort
 * signal Temporal gives the activity.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureTypes } from '../common/failure-types';
import {
  ExpansionPolicyResponseSchema, FixerResponseSchema, formatZodError,
  type ExpansionPolicyRequest, type ExpansionPolicyResponse, type FixerRequest, type FixerResponse,
} from '../common/schemas';

/** Largest answer accepted from an endpoint, in bytes. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * The body's text, or null when it is larger than `max` bytes. Read as it streams and stopped
 * at the limit (a declared Content-Length above it is refused before reading), so an endpoint
 * that answers without end costs at most `max` bytes, not the worker's memory until the timeout.
 */
export async function readBounded(res: Response, max: number): Promise<string | null> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return null;
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function postJson<T>(url: string, body: unknown, schema: z.ZodType<T>, what: string): Promise<T> {
  let signal: AbortSignal | undefined;
  try {
    signal = Context.current().cancellationSignal;
  } catch {
    signal = undefined; // called outside an activity (unit use)
  }
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
  } catch (err) {
    // Network errors are worth a retry (the activity's retry policy decides).
    throw ApplicationFailure.retryable(`${what} at ${url} is unreachable: ${(err as Error).message}`, 'CallbackUnreachable');
  }
  let text: string | null;
  try {
    text = await readBounded(res, MAX_RESPONSE_BYTES);
  } catch (err) {
    throw ApplicationFailure.retryable(`${what} at ${url} broke off its answer: ${(err as Error).message}`, 'CallbackUnreachable');
  }
  if (text === null) throw ApplicationFailure.nonRetryable(`${what} at ${url} answered more than ${MAX_RESPONSE_BYTES} bytes`, FailureTypes.CallbackFailed);
  if (!res.ok) {
    const retry = res.status >= 500 || res.status === 429;
    const msg = `${what} at ${url} answered HTTP ${res.status}: ${text.slice(0, 300)}`;
    throw retry ? ApplicationFailure.retryable(msg, 'CallbackUnreachable') : ApplicationFailure.nonRetryable(msg, FailureTypes.CallbackFailed);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw ApplicationFailure.nonRetryable(`${what} answered something that is not JSON: ${text.slice(0, 200)}`, FailureTypes.CallbackFailed);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`${what} answer is invalid:\n${formatZodError(parsed.error)}`, FailureTypes.CallbackFailed);
  return parsed.data;
}

/** Asks the expansion policy endpoint which nodes to add after a node completed. */
export async function callExpansionPolicy(url: string, request: ExpansionPolicyRequest): Promise<ExpansionPolicyResponse> {
  return postJson(url, request, ExpansionPolicyResponseSchema, 'expansion policy');
}

/** Asks the fixer endpoint for patched code after a code failure. */
export async function callFixer(url: string, request: FixerRequest): Promise<FixerResponse> {
  return postJson(url, request, FixerResponseSchema, 'fixer');
}
