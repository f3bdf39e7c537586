/**
 * Missing prerequisites: a skip on a developer's machine, a failure in CI.
 *
 * The README says what `npm test` installs (Docker engine, blocks image, the local executor's
 * venv, Chromium, docker-compose, ...). Under CI=true (.ci/run sets it) a test that finds one
 * of them missing must fail, or a broken install step would hide the feature it guards behind a
 * green run. Outside CI the test skips with the reason, and scripts/test.sh lists every skip
 * after the run.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/** True under CI=true (or CI=1): every prerequisite the README promises must be there. */
export const IN_CI = ['true', '1'].includes((process.env.CI ?? '').toLowerCase());

/**
 * Skips the test with `reason` outside CI; under CI=true fails it with the same reason.
 * Call it and `return` right after (outside CI the test body must stop there).
 */
export function skipUnlessCI(t: TestContext, reason: string): void {
  if (IN_CI) assert.fail(`${reason} — CI=true: the README says this is installed, so a missing prerequisite is a failure here, not a skip`);
  t.skip(reason);
}
