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
    { treeId: 'pbmc', nodeId: 'normalize', attempt: 1, activityAttempt: 1, runKey: '3f2a9c1e' },
    { treeId: 'a.', nodeId: 'x.', attempt: 2, activityAttempt: 3, runKey: '1-2' },
    { treeId: long, nodeId: `${'n'.repeat(127)}.`, attempt: 999_999_999, activityAttempt: 999_999_999, runKey: 'k'.repeat(36) },
    { treeId: 'pbmc', nodeId: 'normalize', attempt: 1, activityAttempt: 1, localRun: '9c0e77a1', runKey: '3f2a9c1e' },
    { treeId: 'a.', nodeId: 'x.', attempt: 2, activityAttempt: 3, localRun: '0', runKey: '1-2' },
    { treeId: 'pbmc', nodeId: 'qc', attempt: 1, activityAttempt: 1, localRun: 'deadbeef' },
    { treeId: long, nodeId: `${'n'.repeat(127)}.`, attempt: 999_999_999, activityAttempt: 999_999_999, localRun: 'f'.repeat(32), runKey: 'k'.repeat(36) },
  ];
  for (const key of keys) {
    const name = containerName(key);
    assert.ok(name !== null && DOCKER_NAME.test(name), `${name} is a Docker name`);
    assert.deepEqual(parseContainerName(name!), key);
    assert.deepEqual(parseContainerName(`/${name!}`), key, 'with the leading "/" of the API');
  }
  assert.equal(containerName(keys[0]!), 'ragomics-pbmc..normalize..1-1', 'no run key: the previous version\'s name');
  assert.equal(containerName(keys[4]!), 'ragomics-pbmc..normalize..1-1..3f2a9c1e');
  assert.equal(containerName(keys[6]!)!.length, 326, 'the longest name of a regular activity (a 326-character name was checked against Docker 20.10.24 by hand)');
  assert.equal(containerName(keys[7]!), 'ragomics-pbmc..normalize..1-1-9c0e77a1..3f2a9c1e', 'a local run: its tag after the attempts, as its attempt folder is named');
  assert.equal(containerName(keys[9]!), 'ragomics-pbmc..qc..1-1-deadbeef');
  assert.equal(containerName(keys[10]!)!.length, 359, 'the longest name (checked against Docker 20.10.24 by hand)');
});

void test('containerName: a local run on another worker (attempt numbers restarted, a new tag) never takes the dead worker\'s name', () => {
  const attempt = { treeId: 'pbmc', nodeId: 'qc', attempt: 1, activityAttempt: 1, runKey: 'aaaa1111' };
  const names = new Set([containerName(attempt), containerName({ ...attempt, localRun: '0a0a0a0a' }), containerName({ ...attempt, localRun: '1b1b1b1b' })]);
  assert.equal(names.size, 3);
  for (const localRun of ['', 'X1', '0a-1', 'g', 'f'.repeat(33)]) {
    assert.equal(containerName({ ...attempt, localRun }), null, `local run tag ${JSON.stringify(localRun)}`);
  }
});

void test('containerName: two executions of one tree id (run keys) never share a name; neither does one with and one without a run key', () => {
  const attempt = { treeId: 'pbmc', nodeId: 'qc', attempt: 1, activityAttempt: 1 };
  const names = new Set([containerName(attempt), containerName({ ...attempt, runKey: 'aaaa1111' }), containerName({ ...attempt, runKey: 'bbbb2222' })]);
  assert.equal(names.size, 3);
});

void test('containerName refuses what is not an attempt; parseContainerName refuses names it did not make', () => {
  assert.equal(containerName({ treeId: 'a..b', nodeId: 'n', attempt: 1, activityAttempt: 1 }), null);
  assert.equal(containerName({ treeId: '.a', nodeId: 'n', attempt: 1, activityAttempt: 1 }), null);
  assert.equal(containerName({ treeId: 'a', nodeId: 'n/x', attempt: 1, activityAttempt: 1 }), null);
  assert.equal(containerName({ treeId: 'a', nodeId: 'n', attempt: 0, activityAttempt: 1 }), null);
  assert.equal(containerName({ treeId: 'a', nodeId: 'n', attempt: 1, activityAttempt: 1.5 }), null);
  for (const runKey of ['', 'a.b', 'a_b', 'k'.repeat(37)]) {
    assert.equal(containerName({ treeId: 'a', nodeId: 'n', attempt: 1, activityAttempt: 1, runKey }), null, `run key ${JSON.stringify(runKey)}`);
  }
  for (const bad of ['musing_shockley', 'ragomics-a..b', 'ragomics-a..b..c', 'ragomics-a..b..1-x', 'ragomics-a..b..c..1-1', 'ragomics-..b..1-1', 'other-a..b..1-1',
    'ragomics-a..b..1-1..', 'ragomics-a..b..1-1..k.', 'ragomics-a..b..1-1..k..x', 'ragomics-a..b..k..1-1', 'ragomics-a..b..1-1...k',
    'ragomics-a..b..1-1-', 'ragomics-a..b..1-1-XY..k', 'ragomics-a..b..1-1-0a-0b', `ragomics-a..b..1-1-${'f'.repeat(33)}`]) {
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

void test('containerNameFilter: tree and node filters match names with and without a run key; a run key narrows to that execution', () => {
  const at = (treeId: string, nodeId: string, runKey?: string): string => `/${containerName({ treeId, nodeId, attempt: 2, activityAttempt: 1, ...(runKey === undefined ? {} : { runKey }) })!}`;
  for (const name of [at('t.1', 'qc'), at('t.1', 'qc', 'aaaa1111')]) {
    assert.match(name, new RegExp(containerNameFilter('t.1')), name);
    assert.match(name, new RegExp(containerNameFilter('t.1', 'qc')), name);
    assert.doesNotMatch(name, new RegExp(containerNameFilter('t.1', 'q')), name);
  }
  assert.match(at('t.1', 'qc', 'aaaa1111'), new RegExp(containerNameFilter('t.1', undefined, 'aaaa1111')));
  assert.match(at('t.1', 'qc', 'aaaa1111'), new RegExp(containerNameFilter('t.1', 'qc', 'aaaa1111')));
  assert.match(at('t', 'qc.', 'aaaa1111'), new RegExp(containerNameFilter('t', undefined, 'aaaa1111')), 'a node id ending in "."');
  assert.doesNotMatch(at('t.1', 'qc', 'bbbb2222'), new RegExp(containerNameFilter('t.1', undefined, 'aaaa1111')), 'another execution');
  assert.doesNotMatch(at('t.1', 'qc', 'aaaa11112'), new RegExp(containerNameFilter('t.1', undefined, 'aaaa1111')), 'a run key that only starts like it');
  assert.doesNotMatch(at('t.1', 'qc', 'aaaa1111'), new RegExp(containerNameFilter('t.1', 'q', 'aaaa1111')), 'another node');
  assert.doesNotMatch(at('t.10', 'qc', 'aaaa1111'), new RegExp(containerNameFilter('t.1', undefined, 'aaaa1111')), 'another tree');
  // A name without a run key whose attempts look like one: never taken for an execution's.
  assert.doesNotMatch(at('t', 'x'), new RegExp(containerNameFilter('t', undefined, '2-1')));
  // A local run's name (tag after the attempts) is found by every filter alike.
  const local = `/${containerName({ treeId: 't.1', nodeId: 'qc', attempt: 2, activityAttempt: 1, localRun: '9c0e77a1', runKey: 'aaaa1111' })!}`;
  for (const filter of [containerNameFilter('t.1'), containerNameFilter('t.1', 'qc'), containerNameFilter('t.1', undefined, 'aaaa1111'), containerNameFilter('t.1', 'qc', 'aaaa1111')]) {
    assert.match(local, new RegExp(filter), filter);
  }
  assert.doesNotMatch(local, new RegExp(containerNameFilter('t.1', undefined, 'bbbb2222')), 'another execution');
});

const job = { treeId: 'tree-1', nodeId: 'qc', attempt: 2, activityAttempt: 3, workerId: 'w1' } as ExecJob;

void test('containerIdentity: a cold container by its labels, whatever its name', () => {
  const c = { Labels: containerLabels(job), Names: ['/musing_shockley'] } as Pick<Docker.ContainerInfo, 'Labels' | 'Names'>;
  assert.deepEqual(containerIdentity(c), { treeId: 'tree-1', nodeId: 'qc', attempt: 2, activityAttempt: 3, runKey: null, localRun: null, workerId: 'w1', pooled: false });
  const keyed = { Labels: containerLabels({ ...job, runKey: 'aaaa1111' }), Names: ['/musing_shockley'] };
  assert.equal(containerIdentity(keyed)?.runKey, 'aaaa1111', 'label ragomics.run-key');
  assert.ok(identityMatches(keyed, { treeId: 'tree-1', runKey: 'aaaa1111' }));
  assert.ok(!identityMatches(keyed, { treeId: 'tree-1', runKey: 'bbbb2222' }));
  assert.ok(identityMatches(c, { treeId: 'tree-1', nodeId: 'qc' }));
  assert.ok(!identityMatches(c, { treeId: 'tree-1', nodeId: 'other' }));
  assert.ok(identityMatches(c, { workerId: 'w1' }));
  const local = { Labels: containerLabels({ ...job, localRun: '9c0e77a1' }), Names: ['/musing_shockley'] };
  assert.equal(containerIdentity(local)?.localRun, '9c0e77a1', 'label ragomics.local-run');
  assert.equal(containerIdentity({ Labels: { ...local.Labels, 'ragomics.local-run': 'X/..' }, Names: [] })?.localRun, null, 'a label that is no tag');
});

void test('containerIdentity: a pooled container by its name (set at hand-over), its worker by its label; idle or unmanaged ones have none', () => {
  const pool = { 'ragomics.managed': 'true', 'ragomics.pool': 'true', 'ragomics.worker': 'w1' };
  const assigned = { Labels: pool, Names: [`/${containerName(job)!}`] };
  assert.deepEqual(containerIdentity(assigned), { treeId: 'tree-1', nodeId: 'qc', attempt: 2, activityAttempt: 3, runKey: null, localRun: null, workerId: 'w1', pooled: true });
  const keyed = { Labels: pool, Names: [`/${containerName({ ...job, runKey: 'aaaa1111' })!}`] };
  assert.deepEqual(containerIdentity(keyed), { treeId: 'tree-1', nodeId: 'qc', attempt: 2, activityAttempt: 3, runKey: 'aaaa1111', localRun: null, workerId: 'w1', pooled: true });
  const local = { Labels: pool, Names: [`/${containerName({ ...job, localRun: '9c0e77a1', runKey: 'aaaa1111' })!}`] };
  assert.deepEqual(containerIdentity(local), { treeId: 'tree-1', nodeId: 'qc', attempt: 2, activityAttempt: 3, runKey: 'aaaa1111', localRun: '9c0e77a1', workerId: 'w1', pooled: true });
  assert.equal(containerIdentity({ Labels: pool, Names: ['/nostalgic_turing'] }), null, 'idle member');
  assert.ok(!identityMatches({ Labels: pool, Names: ['/nostalgic_turing'] }, { workerId: 'w1' }), 'an idle member runs no attempt');
  assert.equal(containerIdentity({ Labels: {}, Names: [`/${containerName(job)!}`] }), null, 'not managed: a name alone is no identity');
  assert.equal(containerIdentity({ Labels: { 'ragomics.managed': 'true', 'ragomics.tree': 't' }, Names: [] }), null, 'incomplete labels');
});

void test('upgrade: containers named or labelled by the previous version (no run key) keep their identity, so the clean-up by tree and the sweep still find them', () => {
  // Verbatim what the previous version produced: the name `ragomics-<tree>..<node>..<a>-<k>` of a
  // pooled container, and a cold container's labels without `ragomics.run-key`.
  const pool = { 'ragomics.managed': 'true', 'ragomics.pool': 'true', 'ragomics.worker': 'old-w' };
  const pooled = { Labels: pool, Names: ['/ragomics-pbmc..normalize..1-2'] };
  assert.deepEqual(containerIdentity(pooled), { treeId: 'pbmc', nodeId: 'normalize', attempt: 1, activityAttempt: 2, runKey: null, localRun: null, workerId: 'old-w', pooled: true });
  const cold = { Labels: { 'ragomics.managed': 'true', 'ragomics.tree': 'pbmc', 'ragomics.node': 'qc', 'ragomics.attempt': '1', 'ragomics.activity-attempt': '1', 'ragomics.worker': 'old-w' }, Names: ['/ragomics-pbmc..qc..1-1'] };
  assert.deepEqual(containerIdentity(cold), { treeId: 'pbmc', nodeId: 'qc', attempt: 1, activityAttempt: 1, runKey: null, localRun: null, workerId: 'old-w', pooled: false });
  // The clean-up by tree and the sweep select by identity.treeId / workerId: both match.
  for (const c of [pooled, cold]) {
    assert.ok(identityMatches(c, { treeId: 'pbmc' }));
    assert.ok(identityMatches(c, { workerId: 'old-w' }));
    assert.match(c.Names[0]!, new RegExp(containerNameFilter('pbmc')), 'the documented docker ps filter');
  }
});
