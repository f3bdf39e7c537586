/** Worker configuration from the environment: the eager-dispatch switch and its errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorkerConfig } from '../../workers/config';

void test('RAGOMICS_EAGER_NODES: on by default, switched off by 0/false/off/no, on by 1/true/on/yes', () => {
  assert.equal(loadWorkerConfig({}, {}).eagerNodes, true);
  for (const v of ['0', 'false', 'OFF', 'no']) assert.equal(loadWorkerConfig({}, { RAGOMICS_EAGER_NODES: v }).eagerNodes, false, v);
  for (const v of ['1', 'true', 'On', 'yes']) assert.equal(loadWorkerConfig({}, { RAGOMICS_EAGER_NODES: v }).eagerNodes, true, v);
  assert.equal(loadWorkerConfig({ eagerNodes: false }, { RAGOMICS_EAGER_NODES: '1' }).eagerNodes, false, 'an explicit option wins over the environment');
});

void test('RAGOMICS_EAGER_NODES: any other value is refused, naming the variable and what it accepts', () => {
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_EAGER_NODES: 'maybe' }), /RAGOMICS_EAGER_NODES: must be 1\/true\/on\/yes or 0\/false\/off\/no/);
});
