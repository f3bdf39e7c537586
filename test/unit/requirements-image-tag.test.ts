/**
 * The tag of a requirements-derived image (activities/executors/docker-image.ts): a valid Docker
 * tag derived from a sha256 of the base image Id and the normalized requirement set, whatever the
 * requirement strings look like; one tag per set, another for another set or another base.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { requirementsImageTag } from '../../activities/executors/docker-image';
import { InlineBlockSchema } from '../../common/schemas';

const BASE = 'sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';
/** Docker's reference grammar: repository path, then a tag of at most 128 characters. */
const DOCKER_REF = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function sha16(requirements: string[]): string {
  return createHash('sha256').update(JSON.stringify({ base: BASE, requirements })).digest('hex').slice(0, 16);
}

void test('odd but schema-valid requirement strings give a valid tag that holds no requirement text', () => {
  const odd = [['pip>=1..9'], ['pip>=1.9'], ['a[b,c]>=1,<2'], ['x==1.0+local'], ['x!=1.*'], ['Some_Pkg.Name~=2.0'], ['p==1', 'q>=2', 'r<3']];
  const tags = new Set<string>();
  for (const reqs of odd) {
    // Every example is something a spec may hold (the schema accepts it).
    assert.ok(InlineBlockSchema.safeParse({ code: 'x', requirements: reqs, parameters: {} }).success, JSON.stringify(reqs));
    const tag = requirementsImageTag(BASE, reqs);
    assert.match(tag, DOCKER_REF, tag);
    assert.match(tag, /^ragomics\/blocks-ext:[0-9a-f]{16}$/, tag);
    tags.add(tag);
  }
  assert.equal(tags.size, odd.length, 'distinct requirement sets get distinct tags');
  assert.notEqual(requirementsImageTag(BASE, ['pip>=1..9']), requirementsImageTag(BASE, ['pip>=1.9']));
});

void test('the tag is the sha256 of the base Id and the normalized set: order, duplicates, blanks and name spelling do not matter', () => {
  const tag = requirementsImageTag(BASE, ['six==1.16.0', 'scikit-learn>=1.3']);
  assert.equal(tag, `ragomics/blocks-ext:${sha16(['scikit-learn>=1.3', 'six==1.16.0'])}`, 'already-normalized sets hash as before (earlier images are reused)');
  assert.equal(requirementsImageTag(BASE, ['scikit-learn>=1.3', 'six==1.16.0', 'six==1.16.0']), tag);
  assert.equal(requirementsImageTag(BASE, [' Six==1.16.0', 'Scikit_Learn>=1.3 ']), tag, 'PEP 503 names: case and -_. runs alike');
  assert.equal(requirementsImageTag(BASE, ['scikit..learn>=1.3', 'SIX==1.16.0']), tag);
  // The version part is not rewritten: ==1.16 and ==1.16.0 stay two sets (two images, never a wrong one).
  assert.notEqual(requirementsImageTag(BASE, ['six==1.16', 'scikit-learn>=1.3']), tag);
});

void test('another base image gives another tag', () => {
  assert.notEqual(requirementsImageTag(BASE, ['six==1.16.0']), requirementsImageTag(BASE.replace('0f1e', '0f1f'), ['six==1.16.0']));
});
