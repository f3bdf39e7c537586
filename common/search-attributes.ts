/**
 * Search attributes every tree keeps up to date, so the Temporal Web UI and visibility queries
 * (`RagomicsTreeState = "RUNNING"`) can find and sort trees without the CLI.
 * `scripts/ensure-temporal.sh` registers them on the dev server (through
 * `scripts/register-search-attributes.js`); a production cluster needs
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

/** Every key above, in registration order: the one list `scripts/register-search-attributes.js` registers. */
export const SEARCH_ATTRIBUTE_KEYS = [TreeIdKey, UserRequestKey, TreeStateKey, NodesTotalKey, NodesCompletedKey, NodesFailedKey, NodesRunningKey] as const;

/** The `temporal` CLI's spelling of each type (`--type Keyword`). */
const CLI_TYPE = {
  [SearchAttributeType.TEXT]: 'Text', [SearchAttributeType.KEYWORD]: 'Keyword', [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double', [SearchAttributeType.BOOL]: 'Bool', [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
} as const;

/** Name and type of each attribute as the `temporal` CLI spells them (`temporal operator search-attribute create`). */
export const SEARCH_ATTRIBUTES: ReadonlyArray<{ name: string; type: (typeof CLI_TYPE)[SearchAttributeType] }> =
  SEARCH_ATTRIBUTE_KEYS.map((k) => ({ name: k.name, type: CLI_TYPE[k.type] }));
