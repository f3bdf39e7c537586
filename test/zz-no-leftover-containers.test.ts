/**
 * Runs last (file order): after the whole suite, no container with the system's label is left on
 * the Docker engine: every test's attempts were removed on success, failure, timeout and
 * cancellation, and dead workers' containers were cleaned up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';

test('after the whole suite, no container labelled ragomics.managed=true remains', async () => {
  const left = await new Docker().listContainers({ all: true, filters: JSON.stringify({ label: ['ragomics.managed=true'] }) });
  assert.deepEqual(left.map((c) => `${c.Names.join(',')} ${c.State} tree=${c.Labels['ragomics.tree']} node=${c.Labels['ragomics.node']}`), []);
});
