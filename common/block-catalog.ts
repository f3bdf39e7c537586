/**
 * Parameter schemas of the built-in function blocks.
 *
 * This is the single source of truth: the client and the workflow validate with these zod
 * schemas before any container starts, and `scripts/gen-catalog` writes them as JSON Schema to
 * `blocks/catalog.json`, which the Python runner validates against again inside the container.
 * Parameter names are the Python keyword arguments of each block's `run(adata=None, **parameters)`
 * (`run(adatas=None, samples=None, **parameters)` for the blocks of several inputs, see
 * {@link BlockInputs}).
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
/** An obs/obsm/layer key: a plain identifier-like name. */
const key = () => z.string().min(1).max(64).regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/);

export const BlockParameterSchemas = {
  /** Diagnostic block of CONTRACT.md: sleeps, may fail, may hold memory. */
  sleep: z.strictObject({
    seconds: z.number().min(0).max(7 * 24 * 3600).default(0),
    fail: z.boolean().default(false),
    memoryMB: int(0, 262_144).default(0),
  }),
  /** QC metrics, mitochondrial share, cell and gene filters. */
  quality_control: z.strictObject({
    min_genes: int(0, 1_000_000).default(200),
    max_genes: int(1, 1_000_000).nullable().default(null),
    min_cells: int(0, 1_000_000).default(3),
    max_pct_mito: z.number().min(0).max(100).nullable().default(20),
    mito_prefix: z.string().min(1).max(20).default('MT-'),
  }),
  /** Library-size normalisation and log1p. */
  normalize: z.strictObject({
    target_sum: z.number().positive().max(1e9).default(1e4),
    log1p: z.boolean().default(true),
  }),
  /** Highly variable genes. */
  highly_variable_genes: z.strictObject({
    n_top_genes: int(10, 100_000).default(2000),
    flavor: z.enum(['seurat', 'cell_ranger', 'seurat_v3']).default('seurat'),
    subset: z.boolean().default(false),
  }),
  /** Scale to unit variance and zero mean. */
  scale: z.strictObject({
    max_value: z.number().positive().nullable().default(10),
    zero_center: z.boolean().default(true),
  }),
  /** Principal component analysis. */
  pca: z.strictObject({
    n_comps: int(2, 500).default(50),
    use_highly_variable: z.boolean().default(true),
  }),
  /** Neighbour graph and UMAP embedding. */
  umap: z.strictObject({
    n_neighbors: int(2, 500).default(15),
    n_pcs: int(2, 500).nullable().default(null),
    /**
     * Valid up to 1, the embedding's spread: umap-learn refuses min_dist > spread, and scanpy,
     * which skips that check, fits a degenerate curve and returns a meaningless embedding. The
     * schema keeps 10, the bound running trees were validated with (the workflow validates
     * additions with it, so lowering it would change their replay); the client refuses more than
     * 1 (`validateTreeSpec`, `blockValueErrors`) and so does the block (InvalidParameters).
     */
    min_dist: z.number().min(0).max(10).default(0.5),
    random_state: int(0, 2 ** 31 - 1).default(0),
    /**
     * obsm key the graph is built on (e.g. X_pca_harmony after integrate), or `X` for the
     * expression matrix itself; absent or null: X_pca (a missing PCA is an error, not a silent
     * PCA of X). No default, so the normalised parameters of existing trees stay as they were.
     */
    use_rep: key().nullable().optional(),
  }),
  /** Leiden clustering (builds the neighbour graph when missing). */
  leiden: z.strictObject({
    resolution: z.number().positive().max(100).default(1),
    n_neighbors: int(2, 500).default(15),
    n_pcs: int(2, 500).nullable().default(null),
    key_added: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).max(64).default('leiden'),
    random_state: int(0, 2 ** 31 - 1).default(0),
    /**
     * obsm key the graph is built on (e.g. X_pca_harmony after integrate), or `X` for the
     * expression matrix itself; absent or null: X_pca (a missing PCA is an error, not a silent
     * PCA of X). No default, so the normalised parameters of existing trees stay as they were.
     */
    use_rep: key().nullable().optional(),
  }),
  /** Marker genes per cluster (rank_genes_groups). */
  marker_genes: z.strictObject({
    groupby: z.string().min(1).max(64).default('leiden'),
    method: z.enum(['wilcoxon', 't-test', 't-test_overestim_var', 'logreg']).default('wilcoxon'),
    n_genes: int(1, 1000).default(25),
  }),
  /**
   * Several inputs (one per sample) into one AnnData: obs `sample_key` holds the sample id, the
   * sample sheet's columns become obs columns; outer join = union of genes (0 where missing).
   * A gene counts as highly variable when selected in >= min_hvg_fraction of the samples.
   */
  concatenate: z.strictObject({
    join: z.enum(['outer', 'inner']).default('outer'),
    sample_key: key().default('sample'),
    min_hvg_fraction: z.number().min(0).max(1).default(0.5),
  }),
  /** Harmony batch integration of a PCA (harmonypy); writes obsm[adjusted_basis]. */
  integrate: z.strictObject({
    batch_key: key().default('batch'),
    basis: key().default('X_pca'),
    adjusted_basis: key().default('X_pca_harmony'),
    theta: z.number().min(0).max(100).default(2),
    max_iter_harmony: int(1, 1000).default(20),
    random_state: int(0, 2 ** 31 - 1).default(0),
    /** Cells (seeded subsample) on which batch mixing is measured before and after. */
    metric_cells: int(100, 1_000_000).default(5000),
  }),
  /**
   * Pseudobulk (counts summed per sample x group) differential expression with PyDESeq2:
   * `~ covariates + condition_key`, test_level vs reference (null: the sorted levels, second vs first).
   */
  pseudobulk_de: z.strictObject({
    condition_key: key().default('condition'),
    reference: z.string().min(1).max(200).nullable().default(null),
    test_level: z.string().min(1).max(200).nullable().default(null),
    sample_key: key().default('sample'),
    /** Cell group column (e.g. cell_type, leiden); null: all cells of a sample form one pseudobulk. */
    groupby: key().nullable().default(null),
    /** Layer of raw counts; null: X (must then hold raw counts). */
    layer: key().nullable().default('counts'),
    covariates: z.array(key()).max(10).default([]),
    /**
     * Covariates (each also in `covariates`) fitted as a slope, their values read as numbers (a
     * sample sheet's columns arrive as text); the others are categories. No default, so the
     * normalised parameters of existing trees stay as they were.
     */
    numeric_covariates: z.array(key()).max(10).optional(),
    min_cells: int(1, 1_000_000).default(10),
    min_samples: int(2, 10_000).default(2),
    min_counts: int(0, 1_000_000_000).default(10),
    alpha: z.number().gt(0).lt(1).default(0.05),
  }),
} as const;

export type BuiltinBlockName = keyof typeof BlockParameterSchemas;
export const BUILTIN_BLOCK_NAMES = Object.keys(BlockParameterSchemas) as [BuiltinBlockName, ...BuiltinBlockName[]];

/**
 * How many inputs a built-in block takes:
 * - `one`: a node with `parentId` (or a root reading the tree's input); its Python `run(adata=None, ...)`;
 * - `many`: a node with `inputs` (a gather or a list, even of one); its Python `run(adatas=None, ...)`;
 * - `any`: either (only the diagnostic `sleep`, so scheduling tests can run cohorts).
 */
export type BlockInputCount = 'one' | 'many' | 'any';

/**
 * The input count of every built-in block. Adding a block to {@link BlockParameterSchemas}
 * without an entry here is a type error: a new block declares `name: 'one'` or `name: 'many'`.
 * Generated into `blocks/catalog.json` (`inputs`) beside the parameter schemas; checked by
 * `checkBlockInputs` (common/block-inputs.ts) before a tree starts, and by the runner again.
 */
export const BlockInputs: { readonly [K in BuiltinBlockName]: BlockInputCount } = {
  sleep: 'any',
  quality_control: 'one',
  normalize: 'one',
  highly_variable_genes: 'one',
  scale: 'one',
  pca: 'one',
  umap: 'one',
  leiden: 'one',
  marker_genes: 'one',
  concatenate: 'many',
  integrate: 'one',
  pseudobulk_de: 'one',
};

/**
 * Whether each built-in block is deterministic: the same input, parameters and runtime give the
 * same output, so its result may be reused across trees (activities/cache). The scanpy blocks
 * are (they fix their `random_state`); `sleep` is not: it is a diagnostic block whose point is
 * to take time (and to fail or hold memory on demand), so reusing it would defeat its purpose.
 * Adding a block without an entry here is a type error. Generated into `blocks/catalog.json`
 * (`deterministic`).
 */
export const BlockDeterministic: { readonly [K in BuiltinBlockName]: boolean } = {
  sleep: false,
  quality_control: true,
  normalize: true,
  highly_variable_genes: true,
  scale: true,
  pca: true,
  umap: true,
  leiden: true,
  marker_genes: true,
  concatenate: true,
  integrate: true,
  pseudobulk_de: true,
};

/** The catalog as JSON Schema, as written to `blocks/catalog.json` for the Python runner (`blocks`: parameter schemas; `inputs`: {@link BlockInputs}; `deterministic`: {@link BlockDeterministic}). */
export function blockCatalogJsonSchema(): Record<string, unknown> {
  const blocks: Record<string, unknown> = {};
  for (const name of BUILTIN_BLOCK_NAMES) {
    blocks[name] = z.toJSONSchema(BlockParameterSchemas[name], { io: 'input' });
  }
  return { $comment: 'Generated from common/block-catalog.ts by scripts/gen-catalog.js; do not edit.', blocks, inputs: { ...BlockInputs }, deterministic: { ...BlockDeterministic } };
}
