/** Memory limits of node attempts, growing after out-of-memory failures. Pure: the workflow decides the growth, the activity applies the result. */
import type { Resources } from './schemas';

/** Factor applied per earlier OOM attempt when the node sets no `memoryGrowthFactor`. */
export const DEFAULT_MEMORY_GROWTH_FACTOR = 2;
/** Largest limit the schema allows; the cap when the node sets no `maxMemoryMB`. */
export const MAX_MEMORY_MB = 262_144;

/**
 * Memory limit (MB) of an attempt: `base × growthFactor^previousOomCount`, capped.
 *
 * - base: `resources.memoryMB`, else `defaultMB` (the worker's default).
 * - growthFactor: `resources.memoryGrowthFactor`, @default 2. Retrying an OOM with the same
 *   limit would only fail again, hence a default above 1.
 * - cap: `resources.maxMemoryMB`, @default 262144. The cap wins even below base.
 *
 * Returns a whole number of MB, never below 64 (the schema's minimum).
 */
export function memoryForAttempt(resources: Resources | undefined, previousOomCount: number, defaultMB: number): number {
  const base = resources?.memoryMB ?? defaultMB;
  const factor = resources?.memoryGrowthFactor ?? DEFAULT_MEMORY_GROWTH_FACTOR;
  const cap = resources?.maxMemoryMB ?? MAX_MEMORY_MB;
  const grown = base * factor ** Math.max(0, Math.floor(previousOomCount));
  return Math.max(64, Math.round(Math.min(cap, grown)));
}
