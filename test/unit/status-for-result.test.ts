/** A tree's result carries its final status only within the budget of statusForResult. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FINAL_STATUS_MAX_CHARS, FINAL_STATUS_MAX_NODES, statusForResult, type TreeStatus } from '../../workflows/views';

function status(nodes: number, errorChars = 0): TreeStatus {
  const list = Array.from({ length: nodes }, (_, i) => ({ id: `n${i}`, state: 'FAILED', error: 'x'.repeat(errorChars) }));
  return { treeId: 't', state: 'FAILED', offset: 0, totalNodes: nodes, nodes: list } as unknown as TreeStatus;
}

test('a small status travels in the result unchanged', () => {
  const s = status(3, 10);
  assert.equal(statusForResult(s), s);
});

test('a status over the character budget is left out', () => {
  const chars = JSON.stringify(status(2, 0)).length;
  assert.ok(chars < FINAL_STATUS_MAX_CHARS);
  assert.equal(statusForResult(status(2, FINAL_STATUS_MAX_CHARS / 2)), undefined);
});

test('a status over the node budget, or not holding every node, is left out', () => {
  assert.equal(statusForResult(status(FINAL_STATUS_MAX_NODES + 1)), undefined);
  const page = status(4);
  assert.equal(statusForResult({ ...page, totalNodes: 5 }), undefined);
  assert.equal(statusForResult({ ...page, offset: 1 }), undefined);
});
