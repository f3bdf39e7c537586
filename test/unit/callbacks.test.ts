/**
 * The HTTP side of the expansion policy and fixer calls (activities/callbacks.ts) against a real
 * local HTTP server: answers are read only up to MAX_RESPONSE_BYTES, so an endpoint that streams
 * without end, or declares a huge body, is refused at the limit (non-retryable CallbackFailed)
 * instead of being buffered until the call's timeout.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MAX_RESPONSE_BYTES, callFixer, readBounded } from '../../activities/callbacks';
import { FailureTypes } from '../../common/failure-types';

let server: Server;
let base: string;
/** Bytes the endless endpoint wrote before the client stopped reading. */
let streamed = 0;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) streamed += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => undefined);
      pump();
      return;
    }
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(MAX_RESPONSE_BYTES + 1) });
      res.write('{');
      return; // never finishes: the declared length alone is refused
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'def run(adata=None, **parameters):\n    return adata\n', explanation: 'ok' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

const refused = (e: unknown) => e instanceof ApplicationFailure && e.type === FailureTypes.CallbackFailed && e.nonRetryable && /answered more than \d+ bytes/.test(e.message);

void test('an endpoint that answers without end is refused at the size limit, having read little more than it', async () => {
  await assert.rejects(callFixer(`${base}/endless`, {} as never), refused);
  assert.ok(streamed < MAX_RESPONSE_BYTES * 4, `the server wrote ${streamed} bytes before the client stopped`);
});

void test('a declared Content-Length above the limit is refused before reading', async () => {
  await assert.rejects(callFixer(`${base}/declared`, {} as never), refused);
});

void test('a normal answer is read whole and parsed', async () => {
  const answer = await callFixer(`${base}/ok`, {} as never);
  assert.match(answer.code ?? '', /def run/);
  const res = await fetch(`${base}/ok`, { method: 'POST' });
  assert.equal(await readBounded(res, 10), null, 'the same answer above a 10-byte limit');
});
