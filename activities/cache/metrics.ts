/**
 * Cache statistics as Prometheus counters of the worker: the Temporal runtime's metric meter
 * (`Context.current().metricMeter`, SDK >= 1.12), so they appear on the worker's
 * RAGOMICS_METRICS_PORT beside Temporal's own metrics (tagged with namespace, task queue and
 * activity type). Without a metrics port the meter records nowhere, at no cost.
 *
 * - `ragomics_cache_hits`: nodes that completed from a verified cache entry;
 * - `ragomics_cache_misses`: cacheable nodes with no (usable) entry, which then computed;
 * - `ragomics_cache_bytes_saved`: bytes of the entries reused (neither computed nor stored again);
 * - `ragomics_cache_published`: entries created from computed results;
 * - `ragomics_cache_corrupt`: entries that failed verification and were moved aside.
 */
import type { MetricCounter, MetricMeter } from '@temporalio/common';

/** The counters, made once per meter. */
export interface CacheCounters {
  hits: MetricCounter;
  misses: MetricCounter;
  bytesSaved: MetricCounter;
  published: MetricCounter;
  corrupt: MetricCounter;
}

const made = new WeakMap<MetricMeter, CacheCounters>();

/** The cache counters on `meter`. */
export function cacheCounters(meter: MetricMeter): CacheCounters {
  let c = made.get(meter);
  if (!c) {
    c = {
      hits: meter.createCounter('ragomics_cache_hits', 'nodes', 'Nodes that completed from a verified cache entry (nothing ran)'),
      misses: meter.createCounter('ragomics_cache_misses', 'nodes', 'Cacheable nodes without a usable cache entry'),
      bytesSaved: meter.createCounter('ragomics_cache_bytes_saved', 'bytes', 'Bytes of cache entries reused instead of computed'),
      published: meter.createCounter('ragomics_cache_published', 'entries', 'Cache entries created from computed results'),
      corrupt: meter.createCounter('ragomics_cache_corrupt', 'entries', 'Cache entries that failed verification and were moved aside'),
    };
    made.set(meter, c);
  }
  return c;
}
