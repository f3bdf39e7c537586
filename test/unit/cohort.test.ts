/**
 * Unit tests of cohorts (issue 12): sample rows, template expansion, gathers and lists of inputs,
 * every validation error (one line naming row/column or node), the scheduler's addDependencies,
 * and TreeState.addSamples (all or nothing, idempotent, rejected once a gather started).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { expandTemplates, resolveInputs, samplesFromRows, type Sample } from '../../common/cohort';
import { TreeSpecSchema, type TreeSpecInput } from '../../common/schemas';
import { validateTreeSpec, type NormalizedNode, type ValidationResult } from '../../common/tree-validation';
import { TreeScheduler } from '../../workflows/scheduler';
import { TreeState } from '../../workflows/tree-state';

const sleep = { name: 'sleep' as const, parameters: { seconds: 0 } };

function cohortSpec(extra: Partial<TreeSpecInput> = {}): TreeSpecInput {
  return {
    maxNodes: 100,
    maxChildrenPerNode: 2,
    samples: [
      { sample: 'S1', path: '/d/s1.h5ad', condition: 'ctrl', batch: 'b1' },
      { sample: 'S2', path: '/d/s2.h5ad', condition: 'stim', batch: 'b1' },
      { sample: 'S3', path: '/d/s3.h5ad', condition: 'stim', batch: 'b2' },
    ],
    forEachSample: [
      { id: 'qc_{sample}', block: sleep },
      { id: 'norm_{sample}', parentId: 'qc_{sample}', block: sleep },
    ],
    nodes: [
      { id: 'merge', inputs: { gather: 'norm_{sample}' }, block: sleep },
      { id: 'after', parentId: 'merge', block: sleep },
    ],
    ...extra,
  };
}

function validate(input: TreeSpecInput): ValidationResult {
  return validateTreeSpec(TreeSpecSchema.parse(input));
}
function errorsOf(r: ValidationResult): string[] {
  assert.equal(r.ok, false, 'expected validation to fail');
  return r.ok ? [] : r.errors;
}
function nodesOf(r: ValidationResult): NormalizedNode[] {
  if (!r.ok) assert.fail(`expected validation to pass, got:\n${r.errors.join('\n')}`);
  return r.nodes;
}

void describe('expansion', () => {
  void test('sample by sample in sheet order, template order within a sample; gather = one input per sample in sheet order', () => {
    const nodes = nodesOf(validate(cohortSpec()));
    assert.deepEqual(nodes.map((n) => n.id), ['qc_S1', 'norm_S1', 'qc_S2', 'norm_S2', 'qc_S3', 'norm_S3', 'merge', 'after']);
    assert.deepEqual(nodes.map((n) => n.sample ?? null), ['S1', 'S1', 'S2', 'S2', 'S3', 'S3', null, null]);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    assert.equal(byId.get('norm_S2')?.parentId, 'qc_S2');
    assert.equal(byId.get('qc_S1')?.parentId, null);
    const merge = byId.get('merge');
    assert.deepEqual(merge?.inputs, ['norm_S1', 'norm_S2', 'norm_S3']);
    assert.equal(merge?.gather, 'norm_{sample}');
    assert.deepEqual(merge?.dependencies, ['norm_S1', 'norm_S2', 'norm_S3']);
    // Depth of a multi-input node: max input depth + 1.
    assert.equal(merge?.depth, 2);
    assert.equal(byId.get('after')?.depth, 3);
  });

  void test('gather edges are not children: maxChildrenPerNode 2 holds with 3 inputs, and a list of inputs works', () => {
    const nodes = nodesOf(validate(cohortSpec({
      nodes: [
        { id: 'merge', inputs: { gather: 'norm_{sample}' }, block: sleep },
        { id: 'pair', inputs: ['norm_S3', 'qc_S1'], dependencies: ['merge'], block: sleep },
      ],
    })));
    const pair = nodes.find((n) => n.id === 'pair');
    assert.deepEqual(pair?.inputs, ['norm_S3', 'qc_S1']);
    assert.equal(pair?.gather, undefined);
    assert.deepEqual(pair?.dependencies, ['norm_S3', 'qc_S1', 'merge']);
  });

  void test('is deterministic and pure', () => {
    const spec = TreeSpecSchema.parse(cohortSpec());
    const copy = JSON.parse(JSON.stringify(spec)) as unknown;
    assert.deepEqual(nodesOf(validateTreeSpec(spec)), nodesOf(validateTreeSpec(spec)));
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), copy);
  });

  void test('a spec without samples validates exactly as before', () => {
    const nodes = nodesOf(validate({ nodes: [{ id: 'a', block: sleep }, { id: 'b', parentId: 'a', block: sleep }] }));
    assert.deepEqual(nodes.map((n) => Object.keys(n).includes('inputs') || Object.keys(n).includes('sample')), [false, false]);
  });
});

void describe('validation errors: one line naming row and column, or node and field', () => {
  void test('duplicate sample ids', () => {
    const r = samplesFromRows([{ sample: 'A', path: '/a.h5ad' }, { sample: 'B', path: '/b.h5ad' }, { sample: 'A', path: '/c.h5ad' }]);
    assert.deepEqual(r.ok ? [] : r.errors, ['samples[2].sample: duplicate sample id "A" (also samples[0].sample)']);
    const sheet = samplesFromRows([{ sample: 'A', path: '/a.h5ad' }], (row, col) => `s.csv: row ${row + 1}, column "${col}"`, [{ sample: 'A', path: '/x.h5ad', columns: {} }]);
    assert.deepEqual(sheet.ok ? [] : sheet.errors, ['s.csv: row 1, column "A"'.replace('"A"', '"sample"') + ': duplicate sample id "A" (already in the tree)']);
  });

  void test('missing sample or path values, bad ids and non-.h5ad paths', () => {
    const r = samplesFromRows([{ sample: '', path: '/a.h5ad' }, { sample: 'B' }, { sample: 'x/y', path: '/c.h5ad' }, { sample: 'D', path: '/d.csv' }]);
    assert.deepEqual(r.ok ? [] : r.errors, [
      'samples[0].sample: missing (every row needs a "sample" value)',
      'samples[1].path: missing (every row needs a "path" value)',
      'samples[2].sample: may hold only letters, digits, "-", "_" and "." and must not start with "." or "-"',
      'samples[3].path: must be an .h5ad file',
    ]);
  });

  void test('inline rows in a spec: duplicates are reported by the spec validation', () => {
    const e = errorsOf(validate(cohortSpec({ samples: [{ sample: 'S1', path: '/a.h5ad' }, { sample: 'S1', path: '/b.h5ad' }] })));
    assert.deepEqual(e, ['samples[1].sample: duplicate sample id "S1" (also samples[0].sample)']);
  });

  void test('inline rows of the wrong shape are named by row and column, not as a union', () => {
    const parse = (samples: unknown) => {
      const r = TreeSpecSchema.safeParse({ samples });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    assert.deepEqual(parse([{ sample: 'A', path: '/a.h5ad' }, { sample: 'B', path: '/b.h5ad', batch: 2 }]), ['samples.1.batch: column values must be strings']);
    assert.deepEqual(parse(5), ['samples: must be a sample sheet path (CSV/TSV) or a list of rows {sample, path, ...columns}']);
    assert.deepEqual(parse('sheet.csv'), []);
  });

  void test('a template id without {sample}, a duplicate template, unknown template references', () => {
    const e = errorsOf(validate(cohortSpec({
      forEachSample: [
        { id: 'qc', block: sleep },
        { id: 'norm_{sample}', parentId: 'qcx_{sample}', dependencies: ['other_{sample}'], block: sleep },
        { id: 'norm_{sample}', block: sleep },
      ],
      nodes: [],
    })));
    assert.deepEqual(e, [
      'forEachSample[0].id: "qc" must contain {sample} (a template makes one node per sample)',
      'forEachSample[2].id: duplicate template id "norm_{sample}" (also forEachSample[1])',
      'forEachSample[1].parentId: unknown template "qcx_{sample}"',
      'forEachSample[1].dependencies[0]: unknown template "other_{sample}"',
    ]);
  });

  void test('templates without samples, and a sheet path the client did not read', () => {
    assert.deepEqual(errorsOf(validate(cohortSpec({ samples: undefined, nodes: [] }))), ['forEachSample: templates need samples (a sheet path or rows under samples:)']);
    assert.match(errorsOf(validate(cohortSpec({ samples: 'sheet.csv' })))[0] ?? '', /^samples: "sheet.csv" is a sample sheet path; read it first/);
  });

  void test('parentId and inputs together; inputs naming unknown nodes; gather of a non-template id', () => {
    const e = errorsOf(validate(cohortSpec({
      nodes: [
        { id: 'both', parentId: 'qc_S1', inputs: ['norm_S1', 'norm_S2'], block: sleep },
        { id: 'unknown', inputs: ['norm_S1', 'nope'], block: sleep },
        { id: 'plain', inputs: { gather: 'norm_S1' }, block: sleep },
        { id: 'notemplate', inputs: { gather: 'pca_{sample}' }, block: sleep },
      ],
    })));
    assert.deepEqual(e, [
      'nodes[0].inputs: a node reads either its parentId or its inputs, not both',
      'nodes[1].inputs[1]: unknown node "nope"',
      'nodes[2].inputs.gather: gather needs a forEachSample template id holding {sample}, got "norm_S1" (list node ids as inputs: [a, b] instead)',
      'nodes[3].inputs.gather: gather over "pca_{sample}": no forEachSample template has this id',
    ]);
  });

  void test('a built-in block that takes one input on a multi-input node is refused before anything starts', () => {
    const e = errorsOf(validate(cohortSpec({ nodes: [{ id: 'merge', inputs: { gather: 'norm_{sample}' }, block: { name: 'pca', parameters: {} } }] })));
    assert.deepEqual(e, ['nodes[0].block: node "merge": block "pca" takes one input (parentId), but the node has 3 inputs (inputs); use a block that takes several, such as concatenate']);
  });

  void test('a problem of a template is reported once, not once per sample; a node naming an unknown sample', () => {
    const e = errorsOf(validate(cohortSpec({
      forEachSample: [{ id: 'qc_{sample}', dependencies: ['missing'], block: sleep }],
      nodes: [{ id: 'x', sample: 'S9', block: sleep }],
    })));
    assert.deepEqual(e, ['forEachSample[0].dependencies[0]: unknown node "missing"', 'nodes[0].sample: unknown sample "S9"']);
  });

  void test('an expanded id that becomes too long names the template and the sample', () => {
    const samples: Sample[] = [{ sample: 'S'.repeat(126), path: '/a.h5ad', columns: {} }];
    const r = expandTemplates([TreeSpecSchema.parse(cohortSpec()).forEachSample[0]!], samples);
    assert.deepEqual(r.ok ? [] : r.errors, [`forEachSample[0].id: "qc_${'S'.repeat(126)}" (for sample "${'S'.repeat(126)}") must be at most 128 characters`]);
  });

  void test('resolveInputs without a cohort', () => {
    const r = resolveInputs({ gather: 'a_{sample}' }, undefined);
    assert.equal(r.ok, false);
  });
});

void describe('TreeScheduler.addDependencies', () => {
  function chain(): TreeScheduler {
    const s = new TreeScheduler({ strategy: 'fifo', usePriority: true, maxParallel: 10 });
    s.addNode({ id: 'a', blockKey: 'k' });
    s.addNode({ id: 'g', dependencies: ['a'], blockKey: 'k' });
    s.addNode({ id: 'h', parentId: 'g', blockKey: 'k' });
    s.addNode({ id: 'b', blockKey: 'k' });
    return s;
  }

  void test('a WAITING node waits for the new dependency too; it and its dependents move to the end of the order', () => {
    const s = chain();
    const { transitions, moved } = s.addDependencies('g', ['b']);
    assert.deepEqual(transitions, []);
    assert.deepEqual(moved, ['g', 'h']);
    assert.deepEqual(s.list().map((n) => n.id), ['a', 'b', 'g', 'h']);
    assert.deepEqual(s.list().find((n) => n.id === 'g')?.dependencies, ['a', 'b']);
    // Insertion order stays topological: a restore (continue-as-new) accepts it.
    const restored = TreeScheduler.restore({ nodes: s.list(), stats: [] }, { strategy: 'fifo', usePriority: true, maxParallel: 10 });
    assert.deepEqual(restored.list(), s.list());
    // a and b start; g only after both completed.
    assert.deepEqual(s.next().start, ['a', 'b']);
    assert.deepEqual(s.finish('a', 'COMPLETED').map((t) => t.nodeId), ['a']);
    assert.deepEqual(s.finish('b', 'COMPLETED').map((t) => `${t.nodeId}:${t.to}`), ['b:COMPLETED', 'g:READY']);
  });

  void test('a READY node goes back to WAITING; the READY queue never returns it twice', () => {
    const s = chain();
    s.next(); // a, b RUNNING
    s.finish('a', 'COMPLETED'); // g READY
    s.addNode({ id: 'c', blockKey: 'k' }); // READY
    const { transitions } = s.addDependencies('g', ['c']);
    assert.deepEqual(transitions, [{ nodeId: 'g', from: 'READY', to: 'WAITING', reason: 'new dependencies' }]);
    assert.deepEqual(s.next().start, ['c']);
    s.finish('c', 'COMPLETED');
    assert.deepEqual(s.next().start, ['g']);
    assert.deepEqual(s.next().start, []);
    assert.equal(s.counts().READY, 0);
  });

  void test('depth grows with a deeper new dependency, for the node and its dependents', () => {
    const s = chain();
    s.addNode({ id: 'd1', parentId: 'b', blockKey: 'k' });
    s.addNode({ id: 'd2', parentId: 'd1', blockKey: 'k' });
    s.addDependencies('g', ['d2']);
    assert.equal(s.depthOf('g'), 3);
    assert.equal(s.depthOf('h'), 4);
  });

  void test('a failed new dependency cancels the node and its dependents', () => {
    const s = chain();
    s.next();
    s.finish('b', 'FAILED');
    const { transitions } = s.addDependencies('g', ['b']);
    assert.deepEqual(transitions.map((t) => `${t.nodeId}:${t.to}`), ['g:CANCELLED', 'h:CANCELLED']);
  });

  void test('refuses a started node, an unknown id, itself and a cycle, changing nothing', () => {
    const s = chain();
    const before = JSON.stringify(s.list());
    assert.throws(() => s.addDependencies('g', ['nope']), { code: 'UNKNOWN_DEPENDENCY' });
    assert.throws(() => s.addDependencies('g', ['g']), { code: 'UNKNOWN_DEPENDENCY' });
    assert.throws(() => s.addDependencies('g', ['h']), { code: 'INVALID_ARGUMENT' });
    assert.equal(JSON.stringify(s.list()), before);
    s.next();
    assert.throws(() => s.addDependencies('a', ['b']), { code: 'ILLEGAL_TRANSITION' });
  });
});

void describe('TreeState.addSamples', () => {
  function started(): TreeState {
    const t = new TreeState(TreeSpecSchema.parse(cohortSpec()));
    const out = t.start(0);
    assert.ok(out.ok, out.ok ? '' : out.errors.join('\n'));
    return t;
  }
  const S4 = { sample: 'S4', path: '/d/s4.h5ad', condition: 'ctrl', batch: 'b2' };

  void test('expands the templates for the new sample and adds it to the gather, after the existing inputs', () => {
    const t = started();
    const out = t.addSamples({ requestId: 'r1', samples: [S4] }, 1);
    assert.deepEqual(out, { ok: true, samples: ['S4'], added: ['qc_S4', 'norm_S4'], gathers: ['merge'], duplicate: false });
    const merge = t.nodes.get('merge');
    assert.deepEqual(merge?.inputs, ['norm_S1', 'norm_S2', 'norm_S3', 'norm_S4']);
    assert.deepEqual(merge?.dependencies, ['norm_S1', 'norm_S2', 'norm_S3', 'norm_S4']);
    assert.deepEqual(t.samples.map((s) => s.sample), ['S1', 'S2', 'S3', 'S4']);
    assert.deepEqual(t.samples[3]?.columns, { condition: 'ctrl', batch: 'b2' });
    // Records follow the scheduler's order, which stays topological (carried across continue-as-new).
    assert.deepEqual(t.order.map((r) => r.id), t.scheduler.list().map((n) => n.id));
    assert.deepEqual(t.order.slice(-4).map((r) => r.id), ['qc_S4', 'norm_S4', 'merge', 'after']);
    const carried = new TreeState(t.spec, JSON.parse(JSON.stringify(t.carry())) as ReturnType<TreeState['carry']>);
    assert.deepEqual(carried.samples, t.samples);
    assert.deepEqual(carried.nodes.get('merge')?.inputs, merge?.inputs);
    assert.equal(carried.nodes.get('qc_S4')?.sample, 'S4');
  });

  void test('the same request id twice is a no-op', () => {
    const t = started();
    t.addSamples({ requestId: 'r1', samples: [S4] }, 1);
    const version = t.version;
    assert.deepEqual(t.addSamples({ requestId: 'r1', samples: [S4] }, 2), { ok: true, samples: [], added: [], gathers: [], duplicate: true });
    assert.equal(t.version, version);
    assert.equal(t.order.length, 10);
  });

  void test('rejected once a gather started, naming it and its state; nothing changes', () => {
    const t = started();
    // Run everything up to and including the start of the gather.
    for (let i = 0; i < 10; i++) {
      const { start, transitions } = t.scheduler.next();
      t.apply(transitions, 0);
      if (start.includes('merge')) break;
      for (const id of start) t.apply(t.scheduler.finish(id, 'COMPLETED'), 0);
    }
    assert.equal(t.nodes.get('merge')?.state, 'RUNNING');
    const before = JSON.stringify(t.carry());
    const out = t.addSamples({ requestId: 'r2', samples: [S4] }, 1);
    assert.equal(out.ok, false);
    assert.deepEqual(out.ok ? [] : out.errors, ['gather node "merge" (over "norm_{sample}") is RUNNING: it has already read its inputs, so samples can no longer be added to it; nothing was changed (start a new tree for the new samples)']);
    assert.equal(JSON.stringify(t.carry()), before);
  });

  void test('bad rows (duplicate, bad column) are rejected all or nothing', () => {
    const t = started();
    const before = JSON.stringify(t.carry());
    const out = t.addSamples({ requestId: 'r3', samples: [S4, { sample: 'S1', path: '/x.h5ad' }] }, 1);
    assert.deepEqual(out.ok ? [] : out.errors, ['samples[1].sample: duplicate sample id "S1" (already in the tree)']);
    assert.equal(JSON.stringify(t.carry()), before);
  });
});
