/**
 * common/run-key.ts: the run key is the first run id's random tail; the head (the derivation
 * before) is still recognised, and UUIDv7 ids started within one 2^16 ms window get two keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRunKeyOf, legacyRunKeyOf, runKeyOf, runKeysOf } from '../../common/run-key';
import { RunKeySchema } from '../../common/schemas';

// Two UUIDv7 run ids seen on the dev server seconds apart: same 32-bit timestamp head, different random tails.
const A = '01a22867-ddc4-7a51-9c0e-3f5b2a7d10e4';
const B = '01a22867-dddf-7c12-8b44-90aa61c2f7b3';

test('run key: the random tail, distinct for ids whose timestamp heads agree', () => {
  assert.equal(runKeyOf(A), '3f5b2a7d10e4');
  assert.notEqual(runKeyOf(A), runKeyOf(B));
  assert.equal(legacyRunKeyOf(A), legacyRunKeyOf(B), 'the head the key was before: shared within 2^16 ms');
  for (const k of [...runKeysOf(A), ...runKeysOf(B)]) assert.ok(RunKeySchema.safeParse(k).success, `${k} is a valid run key`);
});

test('run key: an execution is recognised by either derivation, never by another execution\'s key', () => {
  assert.deepEqual(runKeysOf(A), ['3f5b2a7d10e4', '01a22867']);
  assert.ok(isRunKeyOf('3f5b2a7d10e4', A));
  assert.ok(isRunKeyOf('01a22867', A), 'a key made before the patch');
  assert.ok(!isRunKeyOf(runKeyOf(B), A));
  assert.ok(!isRunKeyOf('zzzz9999', A));
});
