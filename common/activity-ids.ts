/**
 * Activity ids of node runs. The workflow gives each node run's activity an id that names the
 * node, so a client can match the workflow's pending activities (from `describe()`) to nodes
 * without reading the history: that is how `status` tells a node a worker runs from one that
 * waits for a worker slot. Shared by the workflow (bundled: no Node built-ins) and the client.
 */

/** Prefix of node activity ids; Temporal's default ids are bare sequence numbers, so they never start with it. */
const PREFIX = 'node:';

/**
 * The activity id of run `run` of node `nodeId` (`run` counts every activity the node ever
 * scheduled, so ids never repeat within a workflow run). Node ids cannot contain `:`
 * (letters, digits, `-`, `_`, `.`), so the id parses back unambiguously.
 */
export function nodeActivityId(nodeId: string, run: number): string {
  return `${PREFIX}${nodeId}:${run}`;
}

/** The node id in a node activity id, or null for any other activity id (e.g. a callback's). */
export function nodeIdOfActivity(activityId: string): string | null {
  if (!activityId.startsWith(PREFIX)) return null;
  const end = activityId.lastIndexOf(':');
  return end > PREFIX.length ? activityId.slice(PREFIX.length, end) : null;
}
