/**
 * Unit tests of the cohort blocks' catalog entries: input arity of every block, the generated
 * catalog.json carrying it, and the parameter schemas of concatenate, integrate, pseudobulk_de
 * and use_rep (defaults filled in, bad values rejected).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BUILTIN_BLOCK_NAMES, BlockInputs, BlockParameterSchemas, blockCatalogJsonSchema } from '../../common/block-catalog';

describe('block catalog: inputs and cohort blocks', () => {
  void test('every built-in block declares one or many inputs; only concatenate takes many', () => {
    assert.deepEqual(Object.keys(BlockInputs).sort(), [...BUILTIN_BLOCK_NAMES].sort());
    assert.deepEqual(BUILTIN_BLOCK_NAMES.filter((n) => BlockInputs[n] === 'many'), ['concatenate']);
  });

  void test('blocks/catalog.json is the generated catalog, inputs included', () => {
    const file = path.join(__dirname, '..', '..', '..', 'blocks', 'catalog.json');
    const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { inputs: Record<string, string>; deterministic: Record<string, boolean> };
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(blockCatalogJsonSchema())));
    assert.equal(onDisk.inputs.concatenate, 'many');
    // Whether a result may be reused across trees (activities/cache): every block but the diagnostic sleep.
    assert.equal(onDisk.deterministic.sleep, false);
    assert.equal(onDisk.deterministic.quality_control, true);
    assert.deepEqual(Object.keys(onDisk.deterministic).sort(), [...BUILTIN_BLOCK_NAMES].sort());
  });

  void test('defaults of the cohort blocks', () => {
    assert.deepEqual(BlockParameterSchemas.concatenate.parse({}), { join: 'outer', sample_key: 'sample', min_hvg_fraction: 0.5 });
    const integ = BlockParameterSchemas.integrate.parse({});
    assert.equal(integ.batch_key, 'batch');
    assert.equal(integ.adjusted_basis, 'X_pca_harmony');
    const de = BlockParameterSchemas.pseudobulk_de.parse({ groupby: 'cell_type', covariates: ['batch'] });
    assert.equal(de.layer, 'counts');
    assert.equal(de.alpha, 0.05);
    assert.equal(de.reference, null);
    assert.equal('use_rep' in BlockParameterSchemas.leiden.parse({}), false);
    assert.equal(BlockParameterSchemas.umap.parse({ use_rep: 'X_pca_harmony' }).use_rep, 'X_pca_harmony');
  });

  void test('bad values are rejected, naming the parameter', () => {
    const join = BlockParameterSchemas.concatenate.safeParse({ join: 'left' });
    assert.equal(join.success, false);
    assert.deepEqual(join.error?.issues[0]?.path, ['join']);
    const alpha = BlockParameterSchemas.pseudobulk_de.safeParse({ alpha: 1 });
    assert.deepEqual(alpha.error?.issues[0]?.path, ['alpha']);
    const rep = BlockParameterSchemas.umap.safeParse({ use_rep: 'X pca' });
    assert.deepEqual(rep.error?.issues[0]?.path, ['use_rep']);
    const unknown = BlockParameterSchemas.integrate.safeParse({ batch: 'x' });
    assert.equal(unknown.success, false);
  });
});
