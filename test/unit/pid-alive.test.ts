/**
 * scripts/lib.sh's pid_alive: the one liveness check of the set-up scripts (ensure-docker's wait
 * for the daemon it launched, ensure-temporal's and stop-temporal's waits). It must judge a
 * process from its state, never from its command line, which reads empty while a process execs:
 * ensure-docker once took a launcher caught becoming dockerd for a daemon that had exited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../activities/executors/repo-root';

const LIB = path.join(repoRoot(), 'scripts', 'lib.sh');

/** pid_alive's verdict on ARG, from a fresh bash that sources lib.sh. */
function pidAlive(arg: string): boolean {
  const r = spawnSync('bash', ['-c', 'source "$0"; pid_alive "$1"', LIB, arg], { env: { ...process.env, RAGOMICS_QUIET: '1' }, encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 1, `pid_alive ${arg}: exit ${r.status}, ${r.stderr}`);
  return r.status === 0;
}

/** A process's state letter: the first field after its command name in /proc/PID/stat. */
function procState(pid: number): string | undefined {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[0];
}

void test('pid_alive: a running process is alive; a missing pid, an empty or a non-numeric argument is not', () => {
  assert.equal(pidAlive(String(process.pid)), true);
  assert.equal(pidAlive(''), false);
  assert.equal(pidAlive('abc'), false);
  assert.equal(pidAlive('-1'), false);
  // Above the kernel's pid_max (at most 2^22): no such process.
  assert.equal(pidAlive(String(2 ** 22 + 1)), false);
});

void test('pid_alive: a live process whose command line reads empty is alive (a kernel thread here; a process in the middle of its exec in ensure-docker)', () => {
  const kernelThread = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).find((d) => {
    try {
      return readFileSync(`/proc/${d}/cmdline`).length === 0 && procState(Number(d)) !== 'Z';
    } catch {
      return false; // gone meanwhile
    }
  });
  assert.ok(kernelThread, 'a process with an empty command line (a kernel thread) is listed in /proc');
  assert.equal(pidAlive(kernelThread), true);
});

void test('pid_alive: a zombie (exited, not reaped) is not alive', async () => {
  // The parent execs into a long sleep that never reaps: its short-lived child stays a zombie.
  const parent = spawn('bash', ['-c', 'sleep 0.01 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const childPid = await new Promise<number>((resolve, reject) => {
      parent.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
      parent.once('error', reject);
    });
    // Until the child has exited: a live odd-named process first, then a zombie.
    let sawZombie = false;
    for (let i = 0; i < 200 && !sawZombie; i++) {
      if (procState(childPid) === 'Z') sawZombie = true;
      else await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(sawZombie, `the child ${childPid} became a zombie within 5 s`);
    assert.equal(pidAlive(String(childPid)), false, 'a zombie is not alive');
    assert.equal(pidAlive(String(parent.pid)), true, 'its parent is');
  } finally {
    parent.kill('SIGKILL');
  }
});

void test('pid_alive: a live process named "x) Z y" is alive (its state is read after the last parenthesis of its name)', async () => {
  // A parser taking the third space-separated field of /proc/PID/stat would read "Z" here.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pid-alive-'));
  const odd = path.join(dir, 'x) Z y');
  symlinkSync(spawnSync('bash', ['-c', 'command -v sleep'], { encoding: 'utf8' }).stdout.trim(), odd);
  const p = spawn(odd, ['60'], { stdio: 'ignore' });
  try {
    await new Promise<void>((resolve, reject) => { p.once('spawn', resolve); p.once('error', reject); });
    // Its name in /proc/PID/stat once the exec is done (spawn resolves after it).
    let named = false;
    for (let i = 0; i < 200 && !named; i++) {
      named = readFileSync(`/proc/${p.pid}/stat`, 'utf8').includes('(x) Z y)');
      if (!named) await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(named, `/proc/${p.pid}/stat names the process "x) Z y"`);
    assert.equal(pidAlive(String(p.pid)), true);
  } finally {
    p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
