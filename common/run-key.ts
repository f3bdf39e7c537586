/**
 * A tree execution's run key (RunNodeInput.runKey, common/schemas.ts RunKeySchema): the name of
 * its workspace folder (`trees/<treeId>.<runKey>`) and the last part of its containers' names.
 * workflows/analysis-tree.ts derives it from the execution's first run id; readers that start
 * from what Temporal reports (the orphan sweep, workers/orphans.ts; the RO-Crate's collection,
 * client/crate/collect.ts) derive it again here, so the two agree.
 *
 * Two derivations exist. The first (before 2026-11-29) took the run id's first 8 characters. The
 * Temporal servers used here issue UUIDv7 run ids, whose first 8 hex digits are the top 32 bits
 * of a millisecond timestamp: two executions of one tree id started within the same ~65.5 s
 * (2^16 ms) shared a run key, hence a workspace folder and container names (found while writing
 * the sweep's test). Executions started since take the id's last 12 characters: its random tail
 * (48 random bits in UUIDv7 and UUIDv4). The workflow chooses behind `patched()`, so an
 * execution keeps the key it started with; readers try {@link runKeysOf} in order.
 */

/** Characters of the first run id's tail that make the run key. */
export const RUN_KEY_LENGTH = 12;
/** Characters of the first run id's head that made the run key before (executions started before the `run-key-tail` patch). */
export const LEGACY_RUN_KEY_LENGTH = 8;

/** The run key of an execution started with this code, whose first run id is `firstExecutionRunId`: its last {@link RUN_KEY_LENGTH} characters. */
export function runKeyOf(firstExecutionRunId: string): string {
  return firstExecutionRunId.slice(-RUN_KEY_LENGTH);
}

/** The run key an execution started before the `run-key-tail` patch has: the first run id's first {@link LEGACY_RUN_KEY_LENGTH} characters. */
export function legacyRunKeyOf(firstExecutionRunId: string): string {
  return firstExecutionRunId.slice(0, LEGACY_RUN_KEY_LENGTH);
}

/** Every run key an execution whose first run id is `firstExecutionRunId` can have, the current derivation first. */
export function runKeysOf(firstExecutionRunId: string): string[] {
  return [runKeyOf(firstExecutionRunId), legacyRunKeyOf(firstExecutionRunId)];
}

/** Whether `runKey` is a run key of the execution whose first run id is `firstExecutionRunId` (either derivation). */
export function isRunKeyOf(runKey: string, firstExecutionRunId: string): boolean {
  return runKeysOf(firstExecutionRunId).includes(runKey);
}
