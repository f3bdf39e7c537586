/**
 * The package's public entry: what `import { … } from 'ragomics'` gives another service (the
 * package.json `exports` point here). The SDK ({@link RagomicsClient}, {@link TreeHandle}), the
 * errors it throws (each with the CLI's exit code, to tell bad input from a missing service by
 * type), spec-file readers, and the types of specs, statuses and results. Everything else in
 * dist/ is internal and not importable from the package.
 *
 * ```ts
 * import { RagomicsClient, InvalidInputError, type TreeSpecInput } from 'ragomics';
 * const rc = await RagomicsClient.connect();   // env: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...
 * const tree = await rc.startTree(spec);
 * ```
 */
export * from './sdk';
export {
  RagomicsError, InvalidInputError, ConfigError, TreeNotFoundError, TreeFinishedError, ServiceUnavailableError, NoWorkerError, WorkspaceMissingError,
  ForkSourceError, TreeIdTakenError, GcRefusedError, type ForkSourceProblem,
} from './errors';
export { type ExportCrateOptions, type ExportCrateResult, DEFAULT_EMBED_MAX_BYTES } from './crate';
export { DEFAULT_TASK_QUEUE, type ConnectOptions } from './connection';
export { readSpecFile, readNodesFile, readAddSamplesFile, readForkFile } from './spec-file';
export { renderTimeline, TIMELINE_FORMATS, type TimelineFormat } from './timeline';
export { buildReport } from './report';
export {
  NODE_STATES, type NodeState, type TreeSpecInput, type TreeSpec, type NodeSpecInput, type NodeSpec, type Block, type SampleRow,
  type PriorityStrategy, type Resources, type ForkOrigin,
} from '../common/schemas';
export type { TreeState, NodeStatus, TreeStatus, TreeMetrics, TreeSummary, TimelineEntry, SampleStatus } from '../workflows/views';
export type { AddNodesResult, AddSamplesResult } from '../workflows/messages';
export type { Provenance, ProvenanceBy, NodeEvent, NodeEventKind } from '../workflows/provenance';
export type { TreeResult, NodeFailure } from '../workflows/analysis-tree';
