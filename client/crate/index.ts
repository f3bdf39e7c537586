/**
 * `ragomics crate TREE` and `RagomicsClient.exportCrate`: a tree as a Workflow Run RO-Crate
 * following the Provenance Run Crate profile (docs/crate.md). Three steps: collect the facts
 * (server + workspace, collect.ts), build the metadata (pure, graph.ts), write zip or folder
 * atomically (write.ts).
 *
 * A running tree can be exported: the crate then records an unfinished run (the tree's
 * CreateAction and OrganizeAction have `ActiveActionStatus` and no `endTime`, running nodes
 * likewise, nodes that never started have a step but no action) and {@link ExportCrateResult}
 * says `incomplete: true`.
 */
import { InvalidInputError } from '../errors';
import type { RagomicsClient } from '../sdk';
import { collectCrateFacts } from './collect';
import { buildCrate } from './graph';
import { checkCrateTarget, writeCrate } from './write';

import { DEFAULT_EMBED_MAX_BYTES } from './defaults';

export { DEFAULT_EMBED_MAX_BYTES };

/** Licence text of a crate exported without `license`: RO-Crate requires one, and ragomics cannot choose it for the data. */
export const DEFAULT_CRATE_LICENSE = 'not specified by the exporter (ragomics crate --license URL sets one)';

/** Options of {@link exportCrate}. */
export interface ExportCrateOptions {
  /** Output files larger than this many bytes are referenced by `file://` URI, not embedded. @default 1 MiB */
  embedMaxBytes?: number;
  /** Replace an existing crate at the same path. @default false */
  force?: boolean;
  /** Workspace root when no node output reveals it. @default env RAGOMICS_WORKSPACE, else `<data dir>/workspace` */
  workspace?: string;
  /** The crate's licence: a URL such as https://spdx.org/licenses/CC-BY-4.0 or free text. @default {@link DEFAULT_CRATE_LICENSE} */
  license?: string;
}

/** What {@link exportCrate} wrote. */
export interface ExportCrateResult {
  file: string;
  format: 'zip' | 'dir';
  /** True when the tree was still running: the crate records an unfinished run. */
  incomplete: boolean;
  nodes: number;
  /** Output files embedded in the crate, and referenced by path. */
  embedded: number;
  referenced: number;
  entities: number;
}

/**
 * Exports tree `treeId` as a run crate at `file` (a zip when the name ends in `.zip`, else a folder).
 * @throws InvalidInputError for a bad option or an existing `file` (without `force`);
 *   TreeNotFoundError for an unknown tree; WorkspaceMissingError when its workspace is gone.
 *   Nothing is written in any of these cases.
 */
export async function exportCrate(rc: RagomicsClient, treeId: string, file: string, options: ExportCrateOptions = {}): Promise<ExportCrateResult> {
  const embedMaxBytes = options.embedMaxBytes ?? DEFAULT_EMBED_MAX_BYTES;
  if (!Number.isSafeInteger(embedMaxBytes) || embedMaxBytes < 0) throw new InvalidInputError(`embedMaxBytes: must be a whole number of bytes (0 or more), got ${String(options.embedMaxBytes)}`);
  if (file.trim() === '' || file === '-') throw new InvalidInputError('output: a crate is a file or a folder, not stdout; name one with -o');
  // Before any work: an existing crate is refused at once (and checked again when writing).
  await checkCrateTarget(file, options.force ?? false);
  const facts = await collectCrateFacts(rc, treeId, { workspace: options.workspace });
  const crate = buildCrate(facts, { embedMaxBytes, license: options.license ?? DEFAULT_CRATE_LICENSE });
  const format = await writeCrate(file, crate, options.force ?? false);
  return {
    file, format, incomplete: crate.incomplete, nodes: facts.nodes.length, embedded: crate.embedded, referenced: crate.referenced,
    entities: crate.metadata['@graph'].length,
  };
}
