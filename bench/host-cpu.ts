/**
 * Benchmark helpers over the host's CPU counters (activities/executors/host-cpu.ts): waiting for a
 * quiet host before a measurement, so work left over from the previous one does not count.
 */
import { cpuSince, hostCpuTimes } from '../activities/executors/host-cpu';

export { cpuSince, hostCpuTimes } from '../activities/executors/host-cpu';

/**
 * Waits until one second passes with the host's CPUs busy less than `maxBusyShare` of the time
 * (work left over from the previous measurement: a pool refilling, containers being removed), or
 * `timeoutMs` passes; resolves with the share of the last second either way (a benchmark prints it
 * rather than failing on a machine that never gets quiet).
 */
export async function waitForQuietCpu(maxBusyShare = 0.15, timeoutMs = 60_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const t0 = hostCpuTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const { busyShare } = cpuSince(t0);
    if (busyShare < maxBusyShare || performance.now() > deadline) return busyShare;
  }
}
