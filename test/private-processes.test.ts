/**
 * The reliability suite's private Temporal server and Docker engine (test/helpers/processes.ts):
 * a start that fails leaves nothing running. With a start timeout of 0 s the start scripts
 * launch the server / daemon in the background and then give up at once (the situation of a
 * start that ran out of time), so start() must kill what they launched before it throws. The
 * shared server on 7233 and the system dockerd are never touched (own DB file, own data root).
 *
 * ensure-docker.sh's start over what a killed daemon left (its pid files and sockets: what a
 * machine restored from a snapshot holds, /run being on its disk) and its report of a daemon that
 * exits at its start are proved on the same private engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { PrivateDockerd, PrivateTemporalServer, killStartedByFailedStart, pidsWithCommandLine, removeTree, sleep, tempDir } from './helpers/processes';

/**
 * None of the processes whose command line holds `needle` is alive during a whole window: a
 * process of the failed start that a late exec or a fork brought back would be seen at any of
 * the looks, not only at one look after a fixed time.
 */
async function noneForAWhile(needle: string, what: string): Promise<void> {
  for (let look = 0; look < 12; look++) {
    assert.deepEqual(pidsWithCommandLine(needle), [], `${what} (look ${look + 1} of 12, ${look * 250} ms after the start failed)`);
    await sleep(250);
  }
}

void test('a private Temporal server whose start fails is killed, not left running', { timeout: 180_000 }, async () => {
  const base = tempDir('private-temporal-fail');
  const server = new PrivateTemporalServer(path.join(base, 'data'), { startTimeoutS: 0 });
  const needle = `--db-filename ${server.dbFile}`;
  try {
    await assert.rejects(server.start(), (e: Error) => {
      assert.match(e.message, /ensure-temporal\.sh failed for the private server/);
      // The script had launched the server: the start must say it killed it.
      assert.match(e.message, /killed what it had started: \d+ /, e.message);
      return true;
    });
    assert.equal(server.pid, 0);
    await noneForAWhile(needle, 'no process of the failed start is left');
  } finally {
    await server.destroy();
    await removeTree(base);
  }
});

void test('a private dockerd whose start fails is killed and its mounts are gone', { timeout: 180_000 }, async () => {
  const base = tempDir('private-dockerd-fail');
  const engine = new PrivateDockerd(path.join(base, 'engine'), { startTimeoutS: 0 });
  try {
    await assert.rejects(engine.start(), (e: Error) => {
      assert.match(e.message, /ensure-docker\.sh \(private root .*\) failed/);
      assert.match(e.message, /killed what it had started: \d+ /, e.message);
      return true;
    });
    assert.equal(engine.pid, 0);
    await noneForAWhile(engine.root, 'no process of the failed start (dockerd, containerd) is left');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(engine.root));
    assert.deepEqual(mounts, [], 'nothing stays mounted below its root');
  } finally {
    await engine.destroy();
    await removeTree(base);
  }
});

void test('a dockerd killed with SIGKILL starts again over what it left (its pid files, sockets and run state)', { timeout: 300_000 }, async () => {
  const base = tempDir('private-dockerd-leftovers');
  const engine = new PrivateDockerd(path.join(base, 'engine'));
  try {
    await engine.start();
    // What a session's end (or a snapshot of a running machine) does to it: the daemon and its
    // containerd die at once, and nothing is cleaned up.
    const killed = await killStartedByFailedStart(engine.root);
    assert.ok(killed.some((k) => k.endsWith('(dockerd)')), `the daemon was among the killed: ${killed.join(', ')}`);
    // Where a system containerd runs, the daemon uses it and starts no containerd of its own.
    const ownContainerd = !existsSync('/run/containerd/containerd.sock');
    const left = ['docker.pid', 'docker.sock', ...(ownContainerd ? ['exec/containerd/containerd.pid'] : [])].map((f) => path.join(engine.root, f));
    for (const f of left) assert.ok(existsSync(f), `${f} is left behind by the killed daemon`);
    engine.pid = 0;
    await engine.start();
    assert.ok(statSync(engine.socket).isSocket());
    assert.match((await engine.docker(['info', '--format', '{{.ServerVersion}}'])).trim(), /^\d+\.\d+/);
    // At the first start: the stale files were cleared before it, not after a failed one.
    assert.match(engine.lastStartLog, /removing stale .*docker\.pid/, engine.lastStartLog);
    assert.doesNotMatch(engine.lastStartLog, /exited during its start/, engine.lastStartLog);
  } finally {
    await engine.destroy();
    await removeTree(base);
  }
});

void test('a dockerd that exits at its start is tried once more, then fails in a line naming its reason, with its log tail', { timeout: 180_000 }, async () => {
  const base = tempDir('private-dockerd-exits');
  const engine = new PrivateDockerd(path.join(base, 'engine'), { extraArgs: '--no-such-dockerd-flag' });
  try {
    await assert.rejects(engine.start(), (e: Error) => {
      // The reason dockerd printed (a plain line, not a logrus record) is in the error line itself.
      assert.match(e.message, /ERROR: Docker could not be started: dockerd exited \(.*unknown flag: --no-such-dockerd-flag/, e.message);
      assert.match(e.message, /dockerd exited during its start .*starting it once more/, 'it was started a second time');
      assert.match(e.message, /--- last lines of .*dockerd\.log ---/, 'the log tail is printed for a machine whose log is gone afterwards');
      return true;
    });
    assert.equal(engine.pid, 0);
    await noneForAWhile(engine.root, 'nothing of the failed starts is left');
  } finally {
    await engine.destroy();
    await removeTree(base);
  }
});
