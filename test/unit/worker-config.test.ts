/** Worker configuration from the environment: the eager-dispatch switch, the local Python, the node cap's default per executor, and their errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { defaultMaxConcurrentNodes, defaultWarmPool, loadWorkerConfig, nodeCapIsSet } from '../../workers/config';
import { parseWarmPool } from '../../client/cli/worker';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { dispatchOptions, dockerExecutorUserProblem, setWorkflowStackFrames } from '../../workers/create-worker';
import { InvalidInputError } from '../../client/errors';
import { resolveLocalPython } from '../../activities/executors/local';

void test('RAGOMICS_EAGER_NODES: on by default, switched off by 0/false/off/no, on by 1/true/on/yes', () => {
  assert.equal(loadWorkerConfig({}, {}).eagerNodes, true);
  for (const v of ['0', 'false', 'OFF', 'no']) assert.equal(loadWorkerConfig({}, { RAGOMICS_EAGER_NODES: v }).eagerNodes, false, v);
  for (const v of ['1', 'true', 'On', 'yes']) assert.equal(loadWorkerConfig({}, { RAGOMICS_EAGER_NODES: v }).eagerNodes, true, v);
  assert.equal(loadWorkerConfig({ eagerNodes: false }, { RAGOMICS_EAGER_NODES: '1' }).eagerNodes, false, 'an explicit option wins over the environment');
});

void test('RAGOMICS_EAGER_NODES: any other value is refused, naming the variable and what it accepts', () => {
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_EAGER_NODES: 'maybe' }), /RAGOMICS_EAGER_NODES: must be 1\/true\/on\/yes or 0\/false\/off\/no/);
});

void test('node cap: without RAGOMICS_MAX_CONCURRENT_NODES the default fits the executor', () => {
  assert.equal(defaultMaxConcurrentNodes('inprocess', 2), 100, 'in-process sleep nodes are not containers');
  assert.equal(defaultMaxConcurrentNodes('local', 8), 8, 'local: one Python process per core');
  assert.equal(defaultMaxConcurrentNodes('local', 1), 2, 'local: at least 2');
  assert.equal(defaultMaxConcurrentNodes('docker', 64), 4, 'docker: containers with 2 GiB each by default');
  const cores = availableParallelism();
  assert.equal(loadWorkerConfig({}, {}).maxConcurrentNodes, 4, 'the default executor is docker');
  assert.equal(loadWorkerConfig({}, { RAGOMICS_EXECUTOR: 'inprocess' }).maxConcurrentNodes, 100);
  assert.equal(loadWorkerConfig({ executor: 'local' }, {}).maxConcurrentNodes, Math.max(2, cores));
  assert.equal(nodeCapIsSet({}, {}), false);
  assert.equal(nodeCapIsSet({}, { RAGOMICS_MAX_CONCURRENT_NODES: '' }), false, 'an empty variable is unset');
});

void test('node cap: a set value wins over the executor default, flags over the environment', () => {
  assert.equal(loadWorkerConfig({}, { RAGOMICS_EXECUTOR: 'inprocess', RAGOMICS_MAX_CONCURRENT_NODES: '3' }).maxConcurrentNodes, 3);
  assert.equal(loadWorkerConfig({ maxConcurrentNodes: 7 }, { RAGOMICS_EXECUTOR: 'inprocess', RAGOMICS_MAX_CONCURRENT_NODES: '3' }).maxConcurrentNodes, 7);
  assert.equal(nodeCapIsSet({}, { RAGOMICS_MAX_CONCURRENT_NODES: '3' }), true);
  assert.equal(nodeCapIsSet({ maxConcurrentNodes: 7 }, {}), true);
});

void test('node cap: a bad value is refused, naming the variable', () => {
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_MAX_CONCURRENT_NODES: '0' }), /RAGOMICS_MAX_CONCURRENT_NODES: /);
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_MAX_CONCURRENT_NODES: 'lots' }), /RAGOMICS_MAX_CONCURRENT_NODES: /);
});

void test('RAGOMICS_WORKFLOW_BUNDLE: a path with no file is refused, naming it (the worker used to bundle at start without a word)', () => {
  const missing = path.join(__dirname, 'no-such-bundle.js');
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_WORKFLOW_BUNDLE: missing }), (e: unknown) => e instanceof InvalidInputError && e.message === `RAGOMICS_WORKFLOW_BUNDLE: no file at "${missing}" (write one with \`node scripts/bundle-workflows.js\`, or unset it to bundle at start)`);
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_WORKFLOW_BUNDLE: __dirname }), /RAGOMICS_WORKFLOW_BUNDLE: no file at/, 'a folder is not a bundle');
  assert.equal(loadWorkerConfig({}, { RAGOMICS_WORKFLOW_BUNDLE: __filename }).workflowBundle, __filename);
});

void test('heartbeat interval and sticky timeout: defaults, the environment, flags, and bad values named', () => {
  const d = loadWorkerConfig({}, {});
  assert.equal(d.heartbeatIntervalSeconds, 2);
  assert.equal(d.stickyTimeoutSeconds, 2);
  const e = loadWorkerConfig({}, { RAGOMICS_HEARTBEAT_INTERVAL: '4', RAGOMICS_STICKY_TIMEOUT: '10' });
  assert.equal(e.heartbeatIntervalSeconds, 4);
  assert.equal(e.stickyTimeoutSeconds, 10);
  assert.equal(loadWorkerConfig({ heartbeatIntervalSeconds: 1 }, { RAGOMICS_HEARTBEAT_INTERVAL: '4' }).heartbeatIntervalSeconds, 1, 'a flag wins over the environment');
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_HEARTBEAT_INTERVAL: '0' }), /RAGOMICS_HEARTBEAT_INTERVAL: /);
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_STICKY_TIMEOUT: 'soon' }), /RAGOMICS_STICKY_TIMEOUT: /);
});

void test('warm pool: 2 for local and docker (at most the node cap), 0 in-process; the environment and flags set it', () => {
  assert.equal(defaultWarmPool('inprocess', 100), 0);
  assert.equal(defaultWarmPool('local', 8), 2);
  assert.equal(defaultWarmPool('local', 1), 1, 'never more members than node slots');
  assert.equal(defaultWarmPool('docker', 4), 2, 'docker: on (a pooled container is named for its node at hand-over)');
  assert.equal(defaultWarmPool('docker', 1), 1, 'docker: never more members than node slots');
  assert.equal(loadWorkerConfig({}, {}).warmPool, 2, 'docker by default: on');
  assert.equal(loadWorkerConfig({ warmPool: 0 }, {}).warmPool, 0, 'docker: off when asked');
  assert.equal(loadWorkerConfig({}, { RAGOMICS_EXECUTOR: 'inprocess' }).warmPool, 0);
  assert.equal(loadWorkerConfig({}, { RAGOMICS_EXECUTOR: 'local', RAGOMICS_MAX_CONCURRENT_NODES: '1' }).warmPool, 1);
  assert.equal(loadWorkerConfig({}, { RAGOMICS_WARM_POOL: '0' }).warmPool, 0, '0 turns it off');
  assert.equal(loadWorkerConfig({ warmPool: 5 }, { RAGOMICS_WARM_POOL: '3' }).warmPool, 5, 'a flag wins over the environment');
});

void test('warm pool: a bad RAGOMICS_WARM_POOL or --warm is refused, naming it', () => {
  for (const v of ['-1', 'some', '1.5', '65']) assert.throws(() => loadWorkerConfig({}, { RAGOMICS_WARM_POOL: v }), /^.*RAGOMICS_WARM_POOL: must be a whole number 0-64/s, v);
  for (const v of ['-1', 'some', '1.5', '65', '']) assert.throws(() => parseWarmPool(v), (e: unknown) => e instanceof InvalidInputError && /^--warm: must be a whole number 0-64 .*got "/.test(e.message), v);
  assert.equal(parseWarmPool('0'), 0);
  assert.equal(parseWarmPool('4'), 4);
});

void test('RAGOMICS_WARM_REFILL: spare-cpu by default, always on request, anything else refused naming it', () => {
  assert.equal(loadWorkerConfig({}, {}).warmRefill, 'spare-cpu');
  assert.equal(loadWorkerConfig({}, { RAGOMICS_WARM_REFILL: 'always' }).warmRefill, 'always');
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_WARM_REFILL: 'eager' }), /RAGOMICS_WARM_REFILL: must be spare-cpu or always/);
});

void test('RAGOMICS_WARM_INLINE_CODE: off by default, an on/off word, anything else refused naming it', () => {
  assert.equal(loadWorkerConfig({}, {}).warmInlineCode, false, 'inline code gets a container of its own by default');
  for (const v of ['1', 'true', 'ON']) assert.equal(loadWorkerConfig({}, { RAGOMICS_WARM_INLINE_CODE: v }).warmInlineCode, true, v);
  for (const v of ['0', 'no']) assert.equal(loadWorkerConfig({}, { RAGOMICS_WARM_INLINE_CODE: v }).warmInlineCode, false, v);
  assert.throws(() => loadWorkerConfig({}, { RAGOMICS_WARM_INLINE_CODE: 'sometimes' }), /RAGOMICS_WARM_INLINE_CODE: must be 1\/true\/on\/yes or 0\/false\/off\/no/);
});

test('eager dispatch: a workflow task may take as many nodes as the worker has slots, through few polls; off: none eagerly', () => {
  assert.deepEqual(dispatchOptions({ eagerNodes: true, maxConcurrentNodes: 10 }), {
    activityTaskPollerBehavior: { type: 'simple-maximum', maximum: 2 }, maxEagerActivityReservationsPerWorkflowTask: 10,
  });
  // Below 8 slots one poll, so that the other slots stay free for eager hand-over.
  assert.deepEqual(dispatchOptions({ eagerNodes: true, maxConcurrentNodes: 4 }), {
    activityTaskPollerBehavior: { type: 'simple-maximum', maximum: 1 }, maxEagerActivityReservationsPerWorkflowTask: 4,
  });
  assert.deepEqual(dispatchOptions({ eagerNodes: false, maxConcurrentNodes: 10 }), { maxEagerActivityReservationsPerWorkflowTask: 0 });
});

test('workflow stack frames: 6 by default, from RAGOMICS_WORKFLOW_STACK_FRAMES, a one-line error when not a whole number >= 1', () => {
  assert.equal(loadWorkerConfig({}, {}).workflowStackFrames, 6);
  assert.equal(loadWorkerConfig({}, { RAGOMICS_WORKFLOW_STACK_FRAMES: '12' }).workflowStackFrames, 12);
  for (const bad of ['0', '2.5', 'deep']) assert.throws(() => loadWorkerConfig({}, { RAGOMICS_WORKFLOW_STACK_FRAMES: bad }), /RAGOMICS_WORKFLOW_STACK_FRAMES: /, bad);
});

test('setWorkflowStackFrames: new realms and threads capture that many frames, this realm keeps its own', async () => {
  const before = Error.stackTraceLimit;
  try {
    setWorkflowStackFrames(4);
    assert.equal(Error.stackTraceLimit, before, 'the activities\' realm is unchanged');
    assert.equal(runInNewContext('Error.stackTraceLimit'), 4, 'a new V8 context (the workflow sandbox)');
    const inThread = await new Promise<unknown>((resolve, reject) => {
      const w = new Worker('require("node:worker_threads").parentPort.postMessage(Error.stackTraceLimit)', { eval: true });
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.equal(inThread, 4, 'a new thread (the workflow thread)');
    assert.throws(() => setWorkflowStackFrames(0), RangeError);
  } finally {
    setWorkflowStackFrames(10); // V8's default, for whatever this test process creates next
  }
});

test('workspace: a relative RAGOMICS_WORKSPACE is made absolute (published output paths travel in results)', () => {
  assert.equal(loadWorkerConfig({}, { RAGOMICS_WORKSPACE: 'ws-rel' }).workspace, path.resolve('ws-rel'));
  assert.ok(path.isAbsolute(loadWorkerConfig({}, {}).workspace));
});

void test('the Docker executor needs a root worker: another uid is refused at start, naming the uid and the way out', () => {
  assert.equal(dockerExecutorUserProblem(0), null);
  assert.equal(dockerExecutorUserProblem(undefined), null, 'a platform without uids');
  const problem = dockerExecutorUserProblem(1000) ?? '';
  assert.match(problem, /^--executor docker: the worker runs as uid 1000, and must run as root: blocks write their outputs as uid 10001/);
  assert.match(problem, /or use --executor local$/);
  assert.equal(problem.includes('\n'), false, 'one line');
});

void test('resolveLocalPython: RAGOMICS_PYTHON as a relative path is resolved against the current directory (the runner starts elsewhere); a bare name is left for PATH', () => {
  assert.equal(resolveLocalPython({ RAGOMICS_PYTHON: '.tools/blocks-venv/bin/python' }), path.resolve('.tools/blocks-venv/bin/python'));
  assert.equal(resolveLocalPython({ RAGOMICS_PYTHON: '/opt/py/bin/python' }), '/opt/py/bin/python');
  assert.equal(resolveLocalPython({ RAGOMICS_PYTHON: 'python3.11' }), 'python3.11');
});
