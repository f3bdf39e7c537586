/** A container's attempt identity (activities/executors/docker-identity.ts): the name round trip, labels of cold containers, the name of pooled ones. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { containerIdentity, containerName, containerNameFilter, identityMatches, parseContainerName } from '../../activities/executors/docker-identity';
import { containerLabels } from '../../activities/executors/docker-spec';
import type { ExecJob } from '../../activities/executors/types';

/** Docker's rule for container names. */
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

void test('containerName: the ids verbatim, valid for Docker, inverted exactly (ids ending in ".", starting with "_", 128 characters)', () => {
  const long = `${'t'.repeat(127)}.`;
  const keys = [
    { treeId: 'pbmc', nodeId: 'normalize', attempt: 1, activityAttempt: 1 },
    { treeId: 'a.b-c_d', nodeId: 'x.', attempt: 3, activityAttempt: 12 },
    { treeId: 'tree.', nodeId: '_n.1', attempt: 2, activityAttempt: 1 },
    { treeId: long, nodeId: 'n'.repeat(128), attempt: 100, activityAttempt: 100 },
  ];
  for (const key of keys) {
    const name = containerName(key);
    assert.ok(name !== null && DOCKER_NAME.test(name), `${name} is a Docker name`);
    assert.deepEqual(parseContainerName(name!), key);
    assert.deepEqual(parseContainerName(`/${name!}`), key, 'with the leading "/" of the API');
  }
  assert.equal(containerName(keys[0]!), 'ragomics-pbmc..normalize..1-1');
});

void test('containerName refuses what is not an attempt; parseContainerName refuses names it did not make', () => {
  assert.equal(containerName({ treeId: 'a..b', nodeId: 'n', attempt: 1, activityAttempt: 1 }), null);
  assert.equal(containerName({ treeId: '.a', nodeId: 'n', attempt: 1, activityAttempt: 1 }), null);
  assert.equal(containerName({ treeId: 'a', nodeId: 'n/x', attempt: 1, activityAttempt: 1 }), null);
  assert.equal(containerName({ treeId: 'a', nodeId: 'n', attempt: 0, activityAttempt: 1 }), null);
  assert.equal(containerName({ treeId: 'a', nodeId: 'n', attempt: 1, activityAttempt: 1.5 }), null);
  for (const bad of ['musing_shockley', 'ragomics-a..b', 'ragomics-a..b..c', 'ragomics-a..b..1-x', 'ragomics-a..b..c..1-1', 'ragomics-..b..1-1', 'other-a..b..1-1']) {
    assert.equal(parseContainerName(bad), null, bad);
  }
});

void test('containerNameFilter: a regular expression matching the tree\'s (or node\'s) names only', () => {
  const name = `/${containerName({ treeId: 't.1', nodeId: 'qc', attempt: 1, activityAttempt: 2 })!}`;
  assert.match(name, new RegExp(containerNameFilter('t.1')));
  assert.match(name, new RegExp(containerNameFilter('t.1', 'qc')));
  assert.doesNotMatch(name, new RegExp(containerNameFilter('t.1', 'q')));
  assert.doesNotMatch(name, new RegExp(containerNameFilter('tx1')), 'a "." in an id is literal');
  assert.doesNotMatch(`/${containerName({ treeId: 't.10', nodeId: 'qc', attempt: 1, activityAttempt: 1 })!}`, new RegExp(containerNameFilter('t.1')));
  // Ids may end in ".": tree `pbmc.` is not tree `pbmc`, node `qc.` is not node `qc`.
  assert.doesNotMatch(`/${containerName({ treeId: 'pbmc.', nodeId: 'x', attempt: 1, activityAttempt: 1 })!}`, new RegExp(containerNameFilter('pbmc')));
  assert.doesNotMatch(`/${containerName({ treeId: 't', nodeId: 'qc.', attempt: 1, activityAttempt: 1 })!}`, new RegExp(containerNameFilter('t', 'qc')));
  assert.match(`/${containerName({ treeId: 'pbmc.', nodeId: 'x', attempt: 1, activityAttempt: 1 })!}`, new RegExp(containerNameFilter('pbmc.')));
  assert.match(`/${containerName({ treeId: 't', nodeId: 'qc.', attempt: 1, activityAttempt: 1 })!}`, new RegExp(containerNameFilter('t', 'qc.')));
});

const job = { treeId: 'tree-1', nodeId: 'qc', attempt: 2, activityAttempt: 3, workerId: 'w1' } as ExecJob;

void test('containerIdentity: a cold container by its labels, whatever its name', () => {
  const c = { Labels: containerLabels(job), Names: ['/musing_shockley'] } as Pick<Docker.ContainerInfo, 'Labels' | 'Names'>;
  assert.deepEqual(containerIdentity(c), { treeId: 'tree-1', nodeId: 'qc', attempt: 2, activityAttempt: 3, workerId: 'w1', pooled: false });
  assert.ok(identityMatches(c, { treeId: 'tree-1', nodeId: 'qc' }));
  assert.ok(!identityMatches(c, { treeId: 'tree-1', nodeId: 'other' }));
  assert.ok(identityMatches(c, { workerId: 'w1' }));
});

void test('containerIdentity: a pooled container by its name (set at hand-over), its worker by its label; idle or unmanaged ones have none', () => {
  const pool = { 'ragomics.managed': 'true', 'ragomics.pool': 'true', 'ragomics.worker': 'w1' };
  const assigned = { Labels: pool, Names: [`/${containerName(job)!}`] };
  assert.deepEqual(containerIdentity(assigned), { treeId: 'tree-1', nodeId: 'qc', attempt: 2, activityAttempt: 3, workerId: 'w1', pooled: true });
  assert.equal(containerIdentity({ Labels: pool, Names: ['/nostalgic_turing'] }), null, 'idle member');
  assert.ok(!identityMatches({ Labels: pool, Names: ['/nostalgic_turing'] }, { workerId: 'w1' }), 'an idle member runs no attempt');
  assert.equal(containerIdentity({ Labels: {}, Names: [`/${containerName(job)!}`] }), null, 'not managed: a name alone is no identity');
  assert.equal(containerIdentity({ Labels: { 'ragomics.managed': 'true', 'ragomics.tree': 't' }, Names: [] }), null, 'incomplete labels');
});
