/**
 * bench/first-run-checks.ts: the first-run bench reads the demo's step lines and summary, picks a
 * bridge subnet no route uses, and refuses a run whose demo did not build and run on the private
 * engine (a demo that reached another engine must fail the bench, never record a row).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completedNodes, parseSteps, pickBridgeSubnet, privateEngineProblem } from '../../bench/first-run-checks';

void test('parseSteps: step_timer lines (took and FAILED) in order, other lines ignored, tenths kept', () => {
  const steps = parseSteps([
    '[ragomics] node dependencies installed in 14.5s',
    '  [ragomics] step "npm packages" took 14.6s  ',
    '[ragomics] step "blocks image (in the background)" took 120.3s',
    '[ragomics] step "dataset" FAILED (exit 3) after 2.0s',
    '[ragomics] step "build" took 7.0 s', // not step_timer's shape: no space before s
  ]);
  assert.deepEqual([...steps], [['npm packages', 14600], ['blocks image (in the background)', 120300], ['dataset', 2000]]);
  assert.equal(parseSteps(['nothing here']).size, 0);
});

void test('completedNodes: n/n completed and 0 failed counts; fewer completed, a failure or no summary does not', () => {
  assert.equal(completedNodes(['x', 'tree pbmc-demo COMPLETED: 9/9 completed (0 cached), 0 failed']), 9);
  assert.equal(completedNodes(['tree pbmc-demo COMPLETED: 8/9 completed, 0 failed']), undefined);
  assert.equal(completedNodes(['tree pbmc-demo COMPLETED: 9/9 completed, 1 failed']), undefined);
  assert.equal(completedNodes(['tree pbmc-demo FAILED: 3/9 completed, 6 failed']), undefined);
  assert.equal(completedNodes([]), undefined);
});

void test('pickBridgeSubnet: skips /24s a route mentions; refuses when 10.231/16 or 10/8 is routed', () => {
  const routes = 'default via 192.0.2.1 dev eth0\n172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1\n10.231.0.0/24 dev x\n10.231.1.0/24 dev y';
  assert.equal(pickBridgeSubnet(routes, () => 0), '10.231.2.1/24');
  assert.equal(pickBridgeSubnet(routes, () => 0.999999), '10.231.255.1/24');
  assert.throws(() => pickBridgeSubnet('10.231.0.0/16 dev z', () => 0), /no free \/24/);
  assert.throws(() => pickBridgeSubnet('10.0.0.0/8 via 192.0.2.9 dev eth0', () => 0), /no free \/24/);
});

void test('privateEngineProblem: the image and a start of it on the private engine count; anything missing fails', () => {
  const tag = 'ragomics/blocks:abc';
  const imageId = 'sha256:0123456789abcdef0123456789abcdef';
  assert.equal(privateEngineProblem({ tag, imageId, startedImages: [tag] }), undefined);
  assert.equal(privateEngineProblem({ tag, imageId, startedImages: ['busybox', '0123456789ab'] }), undefined, 'a start by short id counts');
  assert.equal(privateEngineProblem({ tag, imageId, startedImages: ['sha256:0123456789abcdef0123456789abcdef'] }), undefined);
  assert.match(privateEngineProblem({ tag: undefined, imageId, startedImages: [tag] }) ?? '', /no blocks image tag/);
  assert.match(privateEngineProblem({ tag, imageId: undefined, startedImages: [tag] }) ?? '', /has no image ragomics\/blocks:abc/);
  assert.match(privateEngineProblem({ tag, imageId, startedImages: [] }) ?? '', /no container of ragomics\/blocks:abc started/);
  // Intermediate build containers (other images) and too-short id prefixes do not count.
  assert.match(privateEngineProblem({ tag, imageId, startedImages: ['sha256:ffff', '0123'] }) ?? '', /no container/);
});
