/**
 * Does a node's input count fit its block? The client calls this while validating a spec so a
 * multi-input node on a single-input block (or the reverse) is rejected before anything starts;
 * the runner checks the same rule again from the block's Python signature (exit code 67).
 * Pure (no I/O): imported by client and workflow code alike.
 */
import { BlockInputs, type BlockInputCount, type BuiltinBlockName } from './block-catalog';

/** The inputs a node reads, as the check needs them. */
export interface NodeInputShape {
  /** True for a node with `inputs` (a gather or an explicit list, even of one input). */
  multiInput: boolean;
  /** How many inputs it has (for the message); a single-input node has 1, a root without input 0. */
  count: number;
}

/**
 * The input count a block takes, or null when it cannot be known before running: inline code
 * (its `run` signature decides, in the runner) or a name that is not a built-in block (the
 * block schema rejects that on its own).
 */
export function blockInputCount(block: { name: string } | { code: string }): BlockInputCount | null {
  if (!('name' in block) || !Object.hasOwn(BlockInputs, block.name)) return null;
  return BlockInputs[block.name as BuiltinBlockName];
}

/**
 * Checks a node's inputs against its block.
 *
 * @returns null when they fit (or the block is inline code), else one line naming the node,
 *   the block, what the block takes and what the node has.
 */
export function checkBlockInputs(nodeId: string, block: { name: string } | { code: string }, inputs: NodeInputShape): string | null {
  const takes = blockInputCount(block);
  if (takes === null || takes === 'any') return null;
  const name = (block as { name: string }).name;
  const has = `${inputs.count} input${inputs.count === 1 ? '' : 's'}`;
  if (takes === 'one' && inputs.multiInput) {
    return `node "${nodeId}": block "${name}" takes one input (parentId), but the node has ${has} (inputs); use a block that takes several, such as concatenate`;
  }
  if (takes === 'many' && !inputs.multiInput) {
    return `node "${nodeId}": block "${name}" takes several inputs (inputs: a gather or a list of node ids), but the node has ${has}`;
  }
  return null;
}
