/**
 * Where and why a JSON spec is malformed (client/spec-file.ts jsonProblem): line and column from
 * the parser's error offset (data, not JSON.parse's message text, which differs between Node
 * versions), and what is wrong there in words, for the mistakes people make in JSON by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jsonProblem, readSpecFile } from '../../client/spec-file';

void test('jsonProblem: line, column and what is wrong, for hand-written JSON mistakes', () => {
  const cases: Array<[string, string]> = [
    ['{ "nodes": [ }', '1:14 expected a value, found "}"'],
    ['{\n  "nodes": [\n    {"id": "a",, }\n  ]\n}\n', '3:16 expected a property name in double quotes, found ","'],
    ['{"a": 1,}', '1:9 expected a property name in double quotes, found "}"'],
    ['{"a": 1} // note', '1:10 comments are not JSON, found "// note"'],
    ["{'a': 1}", `1:2 unexpected character, found "'a'"`],
    ['{"a": NaN}', '1:7 unexpected character, found "NaN"'],
    ['[1 2]', `1:4 expected ',', found "2"`],
    ['{"a":\n  tru}', '2:3 unexpected character, found "tru"'],
    ['{}\n{}', '2:1 expected the end of the file, found "{"'],
    ['{"a": [1, 2', "1:12 expected ']' before the end of the file"],
  ];
  for (const [text, want] of cases) {
    assert.throws(() => JSON.parse(text), SyntaxError, `${JSON.stringify(text)} is not JSON`);
    const p = jsonProblem(text);
    assert.equal(p && `${p.line}:${p.col} ${p.message}`, want, JSON.stringify(text));
  }
});

void test('jsonProblem: nothing for valid JSON', () => {
  for (const text of ['{}', '{"nodes": [{"id": "a", "block": {"name": "sleep"}}]}', '[1, 2.5e3, "x\\u00e9", null, true]']) {
    assert.equal(jsonProblem(text), null, text);
  }
});

void test('a JSON spec saved with a byte order mark reads like one without; a malformed one is located past it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-bom-'));
  try {
    const good = path.join(dir, 'tree.json');
    writeFileSync(good, `\uFEFF${JSON.stringify({ id: 'bom-tree', nodes: [{ id: 'a', block: { name: 'sleep', parameters: { seconds: 0.1 } } }] })}`);
    assert.equal(readSpecFile(good).id, 'bom-tree');
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '\uFEFF{"id": "x", "nodes": [ }');
    assert.throws(() => readSpecFile(bad), (e: Error) => e.message === `${bad}:1:24: malformed JSON: expected a value, found "}"`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
