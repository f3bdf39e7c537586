/**
 * Search attributes every tree keeps up to date, so the Temporal Web UI and visibility queries
 * (`RagomicsTreeState = "RUNNING"`) can find and sort trees without the CLI.
 * `scripts/ensure-temporal.sh` registers them on the dev server; a production cluster needs
 * `temporal operator search-attribute create` with the same names and types.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TreeIdKey = defineSearchAttributeKey('RagomicsTreeId', SearchAttributeType.KEYWORD);
export const UserRequestKey = defineSearchAttributeKey('RagomicsUserRequest', SearchAttributeType.TEXT);
export const TreeStateKey = defineSearchAttributeKey('RagomicsTreeState', SearchAttributeType.KEYWORD);
export const NodesTotalKey = defineSearchAttributeKey('RagomicsNodesTotal', SearchAttributeType.INT);
export const NodesCompletedKey = defineSearchAttributeKey('RagomicsNodesCompleted', SearchAttributeType.INT);
export const NodesFailedKey = defineSearchAttributeKey('RagomicsNodesFailed', SearchAttributeType.INT);
// Double, not Int: the dev server's SQLite visibility store has only three Int slots.
export const NodesRunningKey = defineSearchAttributeKey('RagomicsNodesRunning', SearchAttributeType.DOUBLE);

/** Name and type of each attribute, for registering them (`temporal operator search-attribute create`). */
export const SEARCH_ATTRIBUTES: ReadonlyArray<{ name: string; type: 'Keyword' | 'Text' | 'Int' | 'Double' }> = [
  { name: TreeIdKey.name, type: 'Keyword' },
  { name: UserRequestKey.name, type: 'Text' },
  { name: TreeStateKey.name, type: 'Keyword' },
  { name: NodesTotalKey.name, type: 'Int' },
  { name: NodesCompletedKey.name, type: 'Int' },
  { name: NodesFailedKey.name, type: 'Int' },
  { name: NodesRunningKey.name, type: 'Double' },
];
