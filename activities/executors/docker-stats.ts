/**
 * Peak memory of a running container, sampled. The cgroup (and its high-water mark) is gone
 * once the container stops, so the executor samples while it runs; an attempt shorter than
 * one interval reports null, and the last interval before exit may be missed.
 */
import type Docker from 'dockerode';

/** A running sampler; `stop` returns the peak in MB seen so far (null when none). */
export interface MemorySampler {
  stop(): number | null;
}

/** Samples `container`'s memory every `intervalMs` (one-shot stats, cheap for the engine). */
export function sampleMemory(container: Docker.Container, intervalMs = 2000): MemorySampler {
  let peakBytes = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return; // a slow engine must not pile up requests
    busy = true;
    container
      .stats({ stream: false, 'one-shot': true })
      .then((s) => {
        // cgroup v1 reports the high-water mark itself; v2 only the current usage.
        const m = s.memory_stats as { max_usage?: number; usage?: number } | undefined;
        peakBytes = Math.max(peakBytes, m?.max_usage ?? 0, m?.usage ?? 0);
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return peakBytes > 0 ? Math.round(peakBytes / 1024 / 1024) : null;
    },
  };
}
