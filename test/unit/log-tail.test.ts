/**
 * The one form of a log tail inside a failure message (common/log-tail.ts): what the workers
 * write is what the report recognises, for a block's failure (with its line count), a timeout and
 * a requirements build (without); a message naming a log in other words is not taken for one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasLogTailSection, logTailSection } from '../../common/log-tail';

void test('log tail section: written with and without a line count, recognised both ways', () => {
  const crash = `the block raised (exit code 1): ValueError${logTailSection('/ws/t/nodes/a/attempts/1-1/stderr.log', 'Traceback\nValueError: x', 40)}`;
  assert.equal(crash, 'the block raised (exit code 1): ValueError\n--- last 40 lines of /ws/t/nodes/a/attempts/1-1/stderr.log ---\nTraceback\nValueError: x');
  const timeout = `node a ran longer than its timeout of 5 s${logTailSection('/ws/stderr.log', 'still going')}`;
  assert.equal(timeout, 'node a ran longer than its timeout of 5 s\n--- last lines of /ws/stderr.log ---\nstill going');
  assert.ok(hasLogTailSection(crash));
  assert.ok(hasLogTailSection(timeout), 'a timeout\'s tail (no line count) is recognised too');
});

void test('log tail section: nothing for an empty tail; other text is not taken for a section', () => {
  assert.equal(logTailSection('/ws/stderr.log', ''), '');
  assert.equal(hasLogTailSection(`node a ran longer than its timeout of 5 s${logTailSection('/ws/stderr.log', '')}`), false);
  assert.equal(hasLogTailSection(null), false);
  assert.equal(hasLogTailSection('see the last lines of stderr.log'), false);
  assert.equal(hasLogTailSection('a message quoting "--- last lines of x ---" inline'), false, 'only at a line start, followed by the tail');
});
