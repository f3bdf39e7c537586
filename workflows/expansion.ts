/**
 * Reactive expansion turned into plain `addNodes` requests: children suggested by a block's
 * result manifest, and the declarative rules of the spec ("after block X completes, add Y").
 * Pure and deterministic: request ids derive from the completed node, so a replay or a repeated
 * completion never adds the same children twice.
 */
import type { AddNodesRequest, ExpansionRule, NodeSpecInput, SuggestedChild } from '../common/schemas';
import { blockLabel } from './node-record';
import type { Block } from '../common/schemas';
import { ruleName } from './provenance';

/** Children suggested by a block's `result.json`, as one request (or none). */
export function requestFromSuggestions(parentId: string, suggestions: readonly SuggestedChild[]): AddNodesRequest | null {
  if (suggestions.length === 0) return null;
  const nodes: NodeSpecInput[] = suggestions.map((s, i) => ({
    id: s.id ?? `${parentId}.${blockLabel(s.block)}${suggestions.length > 1 ? `-${i + 1}` : ''}`,
    parentId,
    block: s.block,
    priority: s.priority ?? 0,
  }));
  return { requestId: `result:${parentId}`, source: 'result', nodes: nodes as AddNodesRequest['nodes'] };
}

/**
 * Children the declarative rules add after a node running `block` completed: one request per
 * matching rule, with the rule's display name (its `name`, else `rule <index> (after <block>)`)
 * for the nodes' provenance.
 */
export function requestsFromRules(parentId: string, block: Block, rules: readonly ExpansionRule[]): Array<{ request: AddNodesRequest; rule: string }> {
  const label = blockLabel(block);
  const out: Array<{ request: AddNodesRequest; rule: string }> = [];
  rules.forEach((rule, r) => {
    if (rule.after !== label) return;
    const nodes = rule.add.map((a) => ({ id: `${parentId}.${a.idSuffix}`, parentId, block: a.block, priority: a.priority, dependencies: [] }));
    out.push({ request: { requestId: `rule:${parentId}:${r}`, source: 'rule', nodes: nodes as AddNodesRequest['nodes'] }, rule: ruleName(rule, r) });
  });
  return out;
}
