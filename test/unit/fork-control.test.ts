/** The fork server's control lines are checked before use, and a group kill never reaches the worker's own group or every process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ForkControlLineSchema } from '../../common/schemas';
import { killGroup } from '../../activities/executors/fork-server';

void test('control lines: the four kinds the Python fork server writes parse (extra fields kept out); malformed ones do not', () => {
  // As blocks/runtime/ragomics_runner/forkserver.py sends them (its `exited` also names the pid).
  const ok = [
    { ready: true },
    { started: { token: 7, pid: 4242 } },
    { exited: { token: 7, pid: 4242, code: 0, signal: null } },
    { exited: { token: 7, pid: 4242, code: null, signal: 9 } },
    { rejected: { token: null, error: 'the job line is not JSON' } },
    { rejected: { token: 3, error: 'fork server: cannot start a child: EAGAIN' } },
  ];
  for (const line of ok) assert.equal(ForkControlLineSchema.safeParse(line).success, true, JSON.stringify(line));
  assert.deepEqual(ForkControlLineSchema.parse({ exited: { token: 7, pid: 4242, code: 0, signal: null } }), { exited: { token: 7, code: 0, signal: null } });
  const bad = [
    { started: { token: 7, pid: 0 } }, // kill(-0): the worker's own process group
    { started: { token: 7, pid: 1 } }, // kill(-1): every process the worker may signal
    { started: { token: 7, pid: -12 } },
    { started: { token: 7, pid: '12' } },
    { started: { token: 7 } },
    { exited: { token: 7, code: 'x', signal: null } },
    { ready: false },
    { something: 1 },
    null,
  ];
  for (const line of bad) assert.equal(ForkControlLineSchema.safeParse(line).success, false, JSON.stringify(line));
});

void test('killGroup signals a child\'s group, and nothing for a missing pid, 0, 1 or a negative one', (t) => {
  const kill = t.mock.method(process, 'kill', () => true);
  for (const pid of [undefined, null, 0, 1, -1, -4242, 1.5]) killGroup(pid);
  assert.equal(kill.mock.callCount(), 0);
  killGroup(4242);
  assert.deepEqual(kill.mock.calls.map((c) => c.arguments), [[-4242, 'SIGKILL']]);
});
