/**
 * Reactive expansion from a block's own result: with `expansion.fromResults`, the children a
 * block suggests in its result manifest are added as soon as it completes (validated like an
 * update); without it they are only recorded. Real server, real Docker, inline blocks using the
 * runner's `report.suggest_child`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uid, withWorker } from './helpers/harness';

const SUGGESTS = [
  'from ragomics_runner import report',
  'def run(adata=None, **parameters):',
  '    import anndata, numpy as np',
  '    report.suggest_child(block={"name": "sleep", "parameters": {"seconds": 0}}, priority=1)',
  '    report.suggest_child(block={"name": "no_such_block"})',
  '    return anndata.AnnData(np.ones((3, 2), dtype=np.float32))',
  '',
].join('\n');

test('children suggested by a block become its children when expansion.fromResults is on, never by default', { timeout: 180_000 }, async () => {
  await withWorker({ executor: 'docker', maxConcurrentNodes: 2, defaultMemoryMB: 512 }, async ({ client }) => {
    const on = await client.startTree({ id: uid('suggest-on'), expansion: { fromResults: true }, nodes: [{ id: 'root', block: { code: SUGGESTS, parameters: {} } }] });
    const off = await client.startTree({ id: uid('suggest-off'), nodes: [{ id: 'root', block: { code: SUGGESTS, parameters: {} } }] });
    const [r1, r2] = await Promise.all([on.result(), off.result()]);
    assert.equal(r2.state, 'COMPLETED');
    assert.deepEqual((await off.status()).nodes.map((n) => n.id), ['root'], 'suggestions are not applied by default');
    assert.equal(r1.state, 'COMPLETED');
    // The suggestion naming an unknown block fails the manifest schema and is dropped by the
    // worker (with a warning in its log); the valid one becomes a child and runs.
    const s1 = await on.status();
    assert.deepEqual(s1.nodes.map((n) => [n.id, n.parentId, n.state]), [['root', null, 'COMPLETED'], ['root.sleep', 'root', 'COMPLETED']]);
  });
});
