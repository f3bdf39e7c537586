/**
 * The host's CPU time, from the kernel's per-CPU counters (`os.cpus()`, i.e. /proc/stat on
 * Linux). The worker, the Docker engine and every container share the host, so these counters see
 * all of them: the warm pool reads how much CPU its running nodes leave idle
 * ({@link createIdleCpuGauge}), and the benchmarks how much a tree took in all.
 */
import os from 'node:os';

/** Busy and idle CPU time (ms) summed over every CPU since boot. */
export interface CpuTimes {
  busyMs: number;
  idleMs: number;
}

/** Now's counters. Busy is user + nice + sys + irq; idle is the kernel's idle time (I/O wait is in neither). */
export function hostCpuTimes(): CpuTimes {
  let busyMs = 0;
  let idleMs = 0;
  for (const { times } of os.cpus()) {
    busyMs += times.user + times.nice + times.sys + times.irq;
    idleMs += times.idle;
  }
  return { busyMs, idleMs };
}

/** CPU-seconds spent busy since `since`, and the busy share of all CPU time in between (0–1). */
export function cpuSince(since: CpuTimes): { busySeconds: number; busyShare: number } {
  const now = hostCpuTimes();
  const busy = now.busyMs - since.busyMs;
  const idle = now.idleMs - since.idleMs;
  return { busySeconds: busy / 1000, busyShare: busy + idle > 0 ? busy / (busy + idle) : 0 };
}

/** A reading of how many CPUs sat idle lately; see {@link createIdleCpuGauge}. */
export interface IdleCpuGauge {
  /**
   * Idle CPUs (0 … the host's count, fractional) over the last completed window, e.g. 1.4 on a
   * 2-core host with 30% of its time busy. Infinity until the first window completes (no evidence
   * of a busy host yet). Never throws.
   */
  idleCpus(): number;
  /** Stops sampling; idempotent. */
  stop(): void;
}

/**
 * Samples the host's counters every `windowMs` (an unref'd timer: it never keeps the process
 * alive) and keeps the idle CPUs of the last window. Reading it costs nothing; the sampling one
 * `os.cpus()` call per window. `read` replaces the counters (unit tests). @default windowMs 500
 */
export function createIdleCpuGauge(windowMs = 500, read: () => CpuTimes = hostCpuTimes): IdleCpuGauge {
  let last: { at: number; times: CpuTimes } | null = null;
  let idle = Infinity;
  const sample = (): void => {
    try {
      const at = performance.now();
      const times = read();
      if (last && at > last.at) idle = Math.max(0, (times.idleMs - last.times.idleMs) / (at - last.at));
      last = { at, times };
    } catch {
      idle = Infinity; // counters unreadable: say nothing rather than hold the pool back
    }
  };
  sample();
  const timer = setInterval(sample, windowMs);
  timer.unref();
  return {
    idleCpus: () => idle,
    stop: () => clearInterval(timer),
  };
}
