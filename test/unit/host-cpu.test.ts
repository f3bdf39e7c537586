/**
 * The idle-CPU gauge (activities/executors/host-cpu.ts) with stand-in counters: idle CPUs are the
 * idle time gained per wall-clock time over the last window, Infinity before any evidence, and
 * unreadable counters never hold the pool back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuSince, createIdleCpuGauge, hostCpuTimes, type CpuTimes } from '../../activities/executors/host-cpu';

/** Waits for `cond` (polling every 5 ms; fails after 5 s). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(cond(), what);
}

void test('the gauge reads idle CPUs from the counters: a host whose idle time grows 1.5 ms per ms has 1.5 idle CPUs', async () => {
  const t0 = performance.now();
  // Idle time advancing 1.5x wall time, whenever it is read.
  const read = (): CpuTimes => ({ busyMs: 0, idleMs: (performance.now() - t0) * 1.5 });
  const gauge = createIdleCpuGauge(20, read);
  assert.equal(gauge.idleCpus(), Infinity, 'no window completed yet: no evidence of a busy host');
  await until(() => Number.isFinite(gauge.idleCpus()), 'a window completes');
  assert.ok(Math.abs(gauge.idleCpus() - 1.5) < 0.05, `1.5 idle CPUs, got ${gauge.idleCpus()}`);
  gauge.stop();
});

void test('a saturated host reads 0 idle CPUs; counters going backwards never read negative', async () => {
  let idle = 1000;
  const gauge = createIdleCpuGauge(10, () => ({ busyMs: 0, idleMs: (idle -= 5) }));
  await until(() => Number.isFinite(gauge.idleCpus()), 'a window completes');
  assert.equal(gauge.idleCpus(), 0);
  gauge.stop();
});

void test('unreadable counters read Infinity (never a reason to hold the pool back)', async () => {
  let calls = 0;
  const gauge = createIdleCpuGauge(10, () => {
    calls++;
    if (calls > 1) throw new Error('no /proc');
    return { busyMs: 0, idleMs: 0 };
  });
  await until(() => calls > 2, 'sampled again');
  assert.equal(gauge.idleCpus(), Infinity);
  gauge.stop();
});

void test('hostCpuTimes and cpuSince read this host: busy time only grows, the share stays within 0..1', async () => {
  const t0 = hostCpuTimes();
  const end = Date.now() + 50;
  while (Date.now() < end); // spin: this process is busy for 50 ms
  const { busySeconds, busyShare } = cpuSince(t0);
  assert.ok(busySeconds > 0, `busy time grew (${busySeconds} s)`);
  assert.ok(busyShare > 0 && busyShare <= 1, `share ${busyShare}`);
});
