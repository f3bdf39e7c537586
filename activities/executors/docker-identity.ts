/**
 * Which attempt a ragomics container runs, read back from the Docker API alone: the one place
 * that knows how cold and pooled containers carry it.
 *
 * A cold container is created for its attempt and labelled with it (docker-spec.ts
 * `containerLabels`). A warm pool container is created before its node is known, and Docker
 * cannot change labels after create, so at hand-over the executor renames it to
 * {@link containerName} of the attempt (docker-warm.ts `assignJob`), before the job line is
 * sent: from the moment it runs the node, its name says which one. Cold containers get the same
 * name at create (when it is free), so one `docker ps --filter name=...` finds both kinds.
 *
 * Both marks are set by the worker through the Docker API, which no block can reach (no socket,
 * no network), and both outlive the worker, so a sweep can judge a dead worker's containers.
 */
import type Docker from 'dockerode';
import { IdSchema, RunKeySchema } from '../../common/schemas';
import { attemptFolderName, isLocalRunTag, parseAttemptFolder } from '../workspace';
import { LOCAL_RUN_LABEL, MANAGED_LABEL, POOL_LABEL, RUN_KEY_LABEL } from './docker-spec';

/** Prefix of every attempt's container name. */
export const CONTAINER_NAME_PREFIX = 'ragomics-';

/** What names an attempt: the inputs of {@link containerName}. */
export interface AttemptKey {
  treeId: string;
  nodeId: string;
  /** Workflow attempt (1-based). */
  attempt: number;
  /** Temporal's attempt of the activity (1-based). */
  activityAttempt: number;
  /**
   * The tree execution's run key (RunNodeInput.runKey, common/schemas.ts RunKeySchema), which
   * tells two executions of one tree id apart. Absent: a job without one (an old workflow
   * history, a direct caller), or a container named by a version before run keys.
   */
  runKey?: string;
  /**
   * A local activity run's tag (ExecJob.localRun): a local run's attempt numbers restart at 1
   * when its workflow task moves to another worker, so without it the run there would want the
   * name of the dead worker's container, still running or not yet swept. Absent: a regular activity's.
   */
  localRun?: string;
}

/** The attempt a container runs, and who runs it. */
export interface ContainerIdentity extends Omit<AttemptKey, 'runKey' | 'localRun'> {
  /** The run key in its name or label `ragomics.run-key`; null for a container without one (named or labelled by a previous version, or a job without a run key). */
  runKey: string | null;
  /** The local run's tag in its name or label `ragomics.local-run`; null for a regular activity's container (and one of a version before local runs were tagged). */
  localRun: string | null;
  /** The worker that started it (label `ragomics.worker`), null when unlabelled. */
  workerId: string | null;
  /** A warm pool container (identity from its name), else a cold one (identity from its labels). */
  pooled: boolean;
}

/** Separator of the name's fields: tree and node ids never hold "..", and never start with "." (common/schemas.ts IdSchema). */
const SEP = '..';
/** Splits at a separator: a run of three dots is an id ending in "." followed by the separator. */
const SPLIT = /\.\.(?!\.)/;

/**
 * The container name of an attempt:
 * `ragomics-<tree>..<node>..<attempt>-<activityAttempt>[-<localRun>]..<runKey>`, e.g.
 * `ragomics-pbmc..normalize..1-1..3f5b2a7d10e4`, or `ragomics-pbmc..normalize..1-1-9c0e77a1..3f5b2a7d10e4`
 * for a local activity's run (the attempts field is the attempt folder's name: workspace.ts
 * attemptFolderName; see {@link AttemptKey.localRun} for why). The run key makes the name unique per tree
 * execution: without it two executions of one tree id on one engine (an id used again while a
 * container of its earlier run is still being removed, two servers or namespaces sharing the
 * engine) would want the same name, and the second hand-over's rename would fail (that node
 * then ran cold); unique as far as run keys are (two executions started within ~65 s share one:
 * common/run-key.ts). It comes last so that the tree and node filters ({@link containerNameFilter},
 * docs/cli.md) match names with and without it alike. A key without a run key gives the
 * previous version's name, `ragomics-<tree>..<node>..<attempt>-<activityAttempt>`.
 *
 * Tree and node ids are IdSchema ids, whose characters (`[A-Za-z0-9_.-]`) are all allowed in
 * Docker names and which never contain ".."; a run key holds no "." at all; so the name is the
 * ids verbatim and {@link parseContainerName} inverts it exactly: no sanitising, no hash. The
 * longest is 359 characters (two 128-character ids, two 9-digit counts, a 32-character local run tag, a 36-character run key;
 * real run keys have 12, or 8 before the `run-key-tail` patch: common/run-key.ts; real local run tags 8); Docker sets no length limit on names (a 326-character name was
 * accepted by Docker 20.10.24 when this was written, and the 359-character one on 2026-12-02:
 * each created, listed by an exact name filter and removed by hand). Returns null when an id
 * is not an IdSchema id or the run key not a RunKeySchema key (the activity validates them, so
 * this is a guard, not a path) or a count is not a positive integer.
 */
export function containerName(key: AttemptKey): string | null {
  if (!IdSchema.safeParse(key.treeId).success || !IdSchema.safeParse(key.nodeId).success) return null;
  if (!isCount(key.attempt) || !isCount(key.activityAttempt)) return null;
  if (key.runKey !== undefined && !RunKeySchema.safeParse(key.runKey).success) return null;
  if (key.localRun !== undefined && !isLocalRunTag(key.localRun)) return null;
  const run = key.runKey === undefined ? '' : `${SEP}${key.runKey}`;
  // The attempts field is the attempt folder's name (workspace.ts), tag included.
  return `${CONTAINER_NAME_PREFIX}${key.treeId}${SEP}${key.nodeId}${SEP}${attemptFolderName(key.attempt, key.activityAttempt, key.localRun)}${run}`;
}

/**
 * The attempt named by a container name (with or without Docker's leading "/"), or null when it
 * is not one of {@link containerName}'s. A name of the previous version (no run key) gives a key
 * without `runKey`, so containers named before an upgrade are still recognised.
 */
export function parseContainerName(name: string): AttemptKey | null {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!bare.startsWith(CONTAINER_NAME_PREFIX)) return null;
  const parts = bare.slice(CONTAINER_NAME_PREFIX.length).split(SPLIT);
  if (parts.length !== 3 && parts.length !== 4) return null;
  const [treeId, nodeId, attempts, runKey] = parts as [string, string, string, string | undefined];
  const f = parseAttemptFolder(attempts);
  if (!f) return null;
  const key: AttemptKey = {
    treeId, nodeId, attempt: f.attempt, activityAttempt: f.activityAttempt,
    ...(f.localRun === null ? {} : { localRun: f.localRun }), ...(runKey === undefined ? {} : { runKey }),
  };
  return containerName(key) === bare ? key : null;
}

/**
 * A regular expression for `docker ps --filter name=...` (and the API's `name` filter) that
 * matches the containers of `treeId`, or of its node `nodeId`, of every execution of the tree
 * and with or without a run key in the name: e.g. `^/ragomics-pbmc\.\.normalize\.\.[^.]`. The
 * `[^.]` after the last separator keeps out an id that only starts like this one and ends in
 * "." (tree `pbmc.` for `pbmc`): what follows a separator (the next id, or the attempt number)
 * never starts with ".". With `runKey`, only that execution's containers (named with it):
 * e.g. `^/ragomics-pbmc\.\.[^.].*\.\.[0-9]+-[0-9]+\.\.3f5b2a7d10e4$` (the attempts before the key
 * keep out an old name whose attempts look like a run key; a local run's tag may follow them). Plain syntax only: Docker matches
 * with Go's regexp, which has no look-ahead.
 */
export function containerNameFilter(treeId: string, nodeId?: string, runKey?: string): string {
  const esc = (s: string): string => s.replace(/\./g, '\\.');
  const head = `^/${esc(CONTAINER_NAME_PREFIX + treeId + SEP)}${nodeId === undefined ? '' : esc(nodeId + SEP)}`;
  if (runKey === undefined) return `${head}[^.]`;
  return `${head}${nodeId === undefined ? '[^.].*\\.\\.' : ''}[0-9]+-[0-9]+(-[0-9a-f]+)?\\.\\.${runKey}$`;
}

/**
 * The identity of a listed container (`docker.listContainers` entry, any state), or null for a
 * container that runs no attempt (an idle pool member, or one not ragomics-managed).
 * - Cold: its labels `ragomics.tree`, `ragomics.node`, `ragomics.attempt`, `ragomics.activity-attempt`, `ragomics.worker`, `ragomics.run-key` (absent: runKey null), `ragomics.local-run` (absent: localRun null).
 * - Pooled (label `ragomics.pool=true`): its name ({@link containerName}, set at hand-over; a name without a run key gives runKey null, without a local run tag localRun null) and its `ragomics.worker` label.
 * Never throws; labels or a name that do not parse give null.
 */
export function containerIdentity(c: Pick<Docker.ContainerInfo, 'Labels' | 'Names'>): ContainerIdentity | null {
  const labels = c.Labels ?? {};
  if (labels[MANAGED_LABEL] !== 'true') return null;
  const workerId = labels['ragomics.worker'] ?? null;
  if (labels[POOL_LABEL] === 'true') {
    for (const name of c.Names ?? []) {
      const key = parseContainerName(name);
      if (key) return { ...key, runKey: key.runKey ?? null, localRun: key.localRun ?? null, workerId, pooled: true };
    }
    return null;
  }
  const treeId = labels['ragomics.tree'];
  const nodeId = labels['ragomics.node'];
  const attempt = Number(labels['ragomics.attempt']);
  const activityAttempt = Number(labels['ragomics.activity-attempt']);
  if (!treeId || !nodeId || !isCount(attempt) || !isCount(activityAttempt)) return null;
  const localRun = labels[LOCAL_RUN_LABEL];
  return {
    treeId, nodeId, attempt, activityAttempt, runKey: labels[RUN_KEY_LABEL] ?? null,
    localRun: localRun !== undefined && isLocalRunTag(localRun) ? localRun : null, workerId, pooled: false,
  };
}

/** Which identities {@link identityMatches} accepts; every given field must be equal. */
export type IdentityFilter = Partial<Omit<ContainerIdentity, 'pooled'>>;

/** True when `c` runs an attempt and every field of `filter` equals its identity's. */
export function identityMatches(c: Pick<Docker.ContainerInfo, 'Labels' | 'Names'>, filter: IdentityFilter): boolean {
  const id = containerIdentity(c);
  if (!id) return false;
  return (Object.keys(filter) as (keyof IdentityFilter)[]).every((k) => filter[k] === undefined || filter[k] === id[k]);
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n >= 1;
}
