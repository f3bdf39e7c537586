/**
 * The reliability suite's private Temporal server and Docker engine (test/helpers/processes.ts):
 * a start that fails leaves nothing running. With a start timeout of 0 s the start scripts
 * launch the server / daemon in the background and then give up at once (the situation of a
 * start that ran out of time), so start() must kill what they launched before it throws. The
 * shared server on 7233 and the system dockerd are never touched (own DB file, own data root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PrivateDockerd, PrivateTemporalServer, pidsWithCommandLine, removeTree, sleep, tempDir } from './helpers/processes';

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
