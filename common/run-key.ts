/**
 * A tree execution's run key (RunNodeInput.runKey, common/schemas.ts RunKeySchema): how
 * workflows/analysis-tree.ts derives it from the execution's first run id, and how the orphan
 * sweep (workers/orphans.ts) derives it again from what Temporal reports, so the two agree.
 *
 * Known limit (found while writing the sweep, 2026-11-29): the Temporal dev server of this
 * project issues UUIDv7 run ids, whose first 8 hex digits are the top 32 bits of a millisecond
 * timestamp. Two executions of one tree id started within the same ~65.5 s window (2^16 ms)
 * therefore get the same run key: the same workspace folder `<treeId>.<runKey>` and the same
 * container names. Changing the derivation (e.g. to the id's random tail) is a change of the
 * workflow's inputs and needs a `patched()` gate in the workflow; this function is the one place
 * the sweep follows.
 */

/** Characters of the first run id that make the run key. */
export const RUN_KEY_LENGTH = 8;

/** The run key of the execution whose first run id is `firstExecutionRunId` (its first {@link RUN_KEY_LENGTH} characters). */
export function runKeyOf(firstExecutionRunId: string): string {
  return firstExecutionRunId.slice(0, RUN_KEY_LENGTH);
}
