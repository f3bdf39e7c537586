/**
 * Bench-only workflow (bundled by bench/carry-latency/run.ts, never by the project's worker): it
 * loads the tree state a reference points to and saves it again for the next run, through the
 * same code and local activities a tree uses (workflows/carried-state.ts), and continues as new,
 * `left` times. Each run is what a tree's continue-as-new costs for its carried state: reading
 * the chunks, inflating, parsing and checking, deflating, writing the chunks, and the server
 * storing the histories and handing over.
 */
import { continueAsNew, workflowInfo } from '@temporalio/workflow';
import type { CarriedRef } from '../../common/schemas';
import { runKeyOf } from '../../common/run-key';
import { loadState, saveState } from '../../workflows/carried-state';

/** Carries the state `ref` points to through `left` continue-as-new runs; returns the number of nodes at the end. */
export async function carryLoop(left: number, ref: CarriedRef): Promise<number> {
  const state = await loadState(ref, `${ref.runId}.json.deflate`);
  if (left <= 0) return state.nodes.length;
  const info = workflowInfo();
  const next = await saveState({ ...state, runs: state.runs + 1 }, { treeId: info.workflowId, runKey: runKeyOf(info.firstExecutionRunId), runId: info.runId }, [ref.runId]);
  return await continueAsNew<typeof carryLoop>(left - 1, next);
}
