/**
 * Defaults of the crate export that the CLI's help names, kept apart from the exporter (which
 * loads the zip writer) so the help can show them without loading it.
 */

/** Files up to this size are embedded by default (1 MiB): figures and result files, not AnnData of real size. */
export const DEFAULT_EMBED_MAX_BYTES = 1024 * 1024;
