/** The age parser of `ragomics gc --older-than` (client/cli/age.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAge } from '../../client/cli/age';
import { InvalidInputError } from '../../client/errors';

void test('ages: one or more integer-unit parts, s m h d w', () => {
  assert.equal(parseAge('--older-than', '90s'), 90_000);
  assert.equal(parseAge('--older-than', '30m'), 1_800_000);
  assert.equal(parseAge('--older-than', '12h'), 43_200_000);
  assert.equal(parseAge('--older-than', '7d'), 604_800_000);
  assert.equal(parseAge('--older-than', '1w2d'), 9 * 86_400_000);
  assert.equal(parseAge('--older-than', '1d12h30m'), 86_400_000 + 43_200_000 + 1_800_000);
  assert.equal(parseAge('--older-than', '0s'), 0);
  assert.equal(parseAge('--older-than', ' 2H '), 7_200_000, 'case and surrounding blanks do not matter');
});

void test('not an age: one InvalidInputError line naming the option and the value', () => {
  for (const bad of ['', '7', 'd', '7x', '-1d', '1.5h', '7 d', '1d-2h', 'seven days', '1e3s']) {
    assert.throws(() => parseAge('--older-than', bad), (e: unknown) => {
      assert.ok(e instanceof InvalidInputError);
      assert.equal(e.problems.length, 1);
      assert.equal(e.problems[0], `--older-than: "${bad}" is not an age such as 7d, 12h, 30m, 90s or 1w2d (an integer and a unit s, m, h, d or w, repeated)`);
      return true;
    }, bad);
  }
  assert.throws(() => parseAge('--older-than', '99999999w'), /--older-than: "99999999w" is longer than 100 years/);
});
