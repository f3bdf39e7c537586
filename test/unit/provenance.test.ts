/**
 * Provenance as the tree state records it (no server): every way a node is added, the events
 * helper's bounds, records from before provenance existed, the Web UI's bounded summary, and the
 * carried state keeping all of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TreeSpecSchema } from '../../common/schemas';
import { decodeState, encodeState } from '../../workflows/carried-state';
import { requestsFromRules } from '../../workflows/expansion';
import {
  MAX_EVENTS_PER_NODE, MAX_EVENT_DETAIL, addedBy, latestAdditions, provenanceOf, provenanceText, recordEvent, ruleName,
} from '../../workflows/provenance';
import { TreeState } from '../../workflows/tree-state';
import { nodeStatus } from '../../workflows/views';

const T = Date.parse('2026-11-29T08:00:00.000Z');
const sleep = { name: 'sleep', parameters: { seconds: 0 } };

function tree(extra: Record<string, unknown> = {}): TreeState {
  const t = new TreeState(TreeSpecSchema.parse({ id: 't', maxNodes: 100, maxChildrenPerNode: 10, nodes: [{ id: 'root', block: sleep }], ...extra }));
  const out = t.start(T);
  assert.ok(out.ok);
  return t;
}

void test('each origin is recorded: spec, update with client identity and label, signal, rule name, policy url and per-node reason, result', () => {
  const t = tree();
  assert.deepEqual(t.nodes.get('root')?.provenance, { by: 'spec', at: '2026-11-29T08:00:00.000Z', requestId: 'spec' });
  assert.ok(t.addNodes({ requestId: 'u1', client: 'alice@lab pid 7', nodes: [{ id: 'a', parentId: 'root', block: sleep }] }, { by: 'client' }, T + 1000).ok);
  assert.deepEqual(t.nodes.get('a')?.provenance, { by: 'client', at: '2026-11-29T08:00:01.000Z', requestId: 'u1', client: 'alice@lab pid 7' });
  assert.equal(t.nodes.get('a')?.source, 'client', 'source stays, equal to provenance.by');
  // A source label other than the origin's word prefixes the identity.
  t.addNodes({ requestId: 'u2', source: 'cli', client: 'bob@h pid 1', nodes: [{ id: 'b', parentId: 'root', block: sleep }] }, { by: 'client' }, T);
  assert.equal(t.nodes.get('b')?.provenance?.client, 'cli: bob@h pid 1');
  t.addNodes({ requestId: 's1', nodes: [{ id: 'c', parentId: 'root', block: sleep }] }, { by: 'signal' }, T);
  assert.deepEqual(t.nodes.get('c')?.provenance, { by: 'signal', at: '2026-11-29T08:00:00.000Z', requestId: 's1' });
  t.addNodes({ requestId: 'rule:a:0', source: 'rule', nodes: [{ id: 'a.x', parentId: 'a', block: sleep }] }, { by: 'rule', rule: 'probe', from: 'a' }, T);
  assert.deepEqual(t.nodes.get('a.x')?.provenance, { by: 'rule', at: '2026-11-29T08:00:00.000Z', requestId: 'rule:a:0', rule: 'probe', from: 'a' });
  const reasons = new Map([['p1', 'seven clusters']]);
  t.addNodes({ requestId: 'policy:a', source: 'policy', nodes: [{ id: 'p1', parentId: 'a', block: sleep }, { id: 'p2', parentId: 'a', block: sleep }] }, { by: 'policy', url: 'http://agent/', from: 'a', reasons }, T);
  assert.equal(t.nodes.get('p1')?.provenance?.reason, 'seven clusters');
  assert.equal(t.nodes.get('p2')?.provenance?.reason, undefined, 'a node without a reason has none');
  assert.equal(t.nodes.get('p2')?.provenance?.url, 'http://agent/');
  assert.notEqual(t.nodes.get('p1')?.provenance, t.nodes.get('p2')?.provenance, 'each record has its own object');
  t.addNodes({ requestId: 'result:b', source: 'result', nodes: [{ id: 'b.s', parentId: 'b', block: sleep }] }, { by: 'result', from: 'b' }, T);
  assert.equal(addedBy(t.nodes.get('b.s')?.provenance), 'result b');
  // A rejected request adds nothing and records no provenance.
  const bad = t.addNodes({ requestId: 'u3', nodes: [{ id: 'z', parentId: 'ghost', block: sleep }] }, { by: 'client' }, T);
  assert.equal(bad.ok, false);
  assert.equal(t.nodes.has('z'), false);
  // The status shows it.
  const s = nodeStatus(t.nodes.get('p1')!);
  assert.equal(s.provenance?.reason, 'seven clusters');
  assert.equal(s.events, undefined, 'no events: no field');
  assert.match(provenanceText(s.provenance!), /^policy http:\/\/agent\/ after a · request policy:a · 2026-11-29T08:00:00\.000Z · reason: seven clusters$/);
});

void test('rules are named by `name`, else `rule <index> (after <block>)`', () => {
  const rules = [
    { name: 'markers', after: 'sleep', add: [{ idSuffix: 'm', block: sleep, priority: 0 }] },
    { after: 'sleep', add: [{ idSuffix: 'n', block: sleep, priority: 0 }] },
    { after: 'pca', add: [{ idSuffix: 'o', block: sleep, priority: 0 }] },
  ];
  const parsed = TreeSpecSchema.parse({ expansion: { rules } }).expansion.rules;
  assert.deepEqual(requestsFromRules('x', { name: 'sleep', parameters: {} }, parsed).map((r) => [r.request.requestId, r.rule]), [['rule:x:0', 'markers'], ['rule:x:1', 'rule 1 (after sleep)']]);
  assert.equal(ruleName({ after: 'leiden' }, 4), 'rule 4 (after leiden)');
  assert.equal(TreeSpecSchema.safeParse({ expansion: { rules: [{ ...rules[0], name: '' }] } }).success, false, 'an empty name is invalid');
});

void test('samples and fork origins; a fork names the node it reads, on root nodes only', () => {
  // `origin` is the fork feature's TreeSpec field (set by `ragomics fork`); put on the parsed spec
  // here so this test does not depend on that schema.
  const spec = TreeSpecSchema.parse({ id: 'f', nodes: [{ id: 'r', block: sleep }, { id: 'k', parentId: 'r', block: sleep }] });
  const t = new TreeState(Object.assign(spec, { origin: { treeId: 'old', nodeId: 'pca' } }));
  assert.ok(t.start(T).ok);
  assert.deepEqual(t.nodes.get('r')?.provenance, { by: 'fork', at: '2026-11-29T08:00:00.000Z', requestId: 'spec', from: 'old/pca' });
  assert.equal(t.nodes.get('r')?.source, 'fork');
  assert.equal(t.nodes.get('k')?.provenance?.by, 'spec');
  const cohort = new TreeState(TreeSpecSchema.parse({
    id: 'c', samples: [{ sample: 'S1', path: '/d/s1.h5ad' }], forEachSample: [{ id: 'qc_{sample}', block: sleep }],
  }));
  assert.ok(cohort.start(T).ok);
  assert.equal(cohort.nodes.get('qc_S1')?.provenance?.by, 'spec');
  const more = cohort.addSamples({ requestId: 'more-1', samples: [{ sample: 'S2', path: '/d/s2.h5ad' }] }, T + 5000);
  assert.ok(more.ok);
  assert.deepEqual(cohort.nodes.get('qc_S2')?.provenance, { by: 'samples', at: '2026-11-29T08:00:05.000Z', requestId: 'more-1' });
});

void test('recordEvent keeps the latest 20 events and cuts long details; old records get a derived provenance', () => {
  const rec = { source: 'rule', queuedAt: T } as { source: string; queuedAt: number; events?: Array<{ kind: string; at: string; detail: string }> };
  for (let i = 0; i < MAX_EVENTS_PER_NODE + 5; i++) recordEvent(rec as never, 'repair', `repair ${i}`, T + i);
  assert.equal(rec.events?.length, MAX_EVENTS_PER_NODE);
  assert.equal(rec.events?.[0]?.detail, 'repair 5', 'the oldest went');
  recordEvent(rec as never, 'cache-hit', 'x'.repeat(5000), T);
  assert.equal(rec.events?.at(-1)?.detail.length, MAX_EVENT_DETAIL);
  assert.deepEqual(provenanceOf(rec as never), { by: 'rule', at: '2026-11-29T08:00:00.000Z' });
  assert.equal(provenanceOf({ source: 'agent', queuedAt: T }).by, 'client', 'an unknown legacy word counts as a client');
});

void test('the Web UI summary is bounded: latest additions first, one line per request, each line cut', () => {
  const t = tree({ maxNodes: 200 });
  for (let i = 0; i < 50; i++) t.addNodes({ requestId: `u${i}`, client: 'c'.repeat(200), nodes: [{ id: `n${i}`, block: sleep }, { id: `m${i}`, block: sleep }] }, { by: 'client' }, T + i * 1000);
  // A client identity longer than 200 characters is refused.
  assert.equal(t.addNodes({ requestId: 'long', client: 'c'.repeat(201), nodes: [{ id: 'l', block: sleep }] }, { by: 'client' }, T).ok, false);
  const lines = latestAdditions(t.order, 5, 160);
  assert.equal(lines.length, 5);
  assert.match(lines[0]!, /^08:00:49 update u49 from c+…$/);
  assert.ok(lines.every((l) => l.length <= 9 + 160));
  assert.deepEqual(latestAdditions(tree().order), ['08:00:00 spec: 1 node']);
  assert.deepEqual(latestAdditions([]), []);
});

void test('provenance and events survive the carried state (continue-as-new) unchanged', () => {
  const t = tree();
  t.addNodes({ requestId: 'policy:root', nodes: [{ id: 'p', parentId: 'root', block: sleep }] }, { by: 'policy', url: 'http://a/', from: 'root', reasons: new Map([['p', 'why not']]) }, T);
  recordEvent(t.nodes.get('p')!, 'repair', 'gave up: no idea', T + 1);
  const carried = decodeState(encodeState(t.carry()), 'test');
  const back = new TreeState(TreeSpecSchema.parse({ id: 't', maxNodes: 100 }), carried);
  assert.deepEqual(back.nodes.get('p')?.provenance, t.nodes.get('p')?.provenance);
  assert.deepEqual(back.nodes.get('p')?.events, [{ kind: 'repair', at: '2026-11-29T08:00:00.001Z', detail: 'gave up: no idea' }]);
});
