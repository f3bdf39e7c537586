/**
 * scripts/bench-baseline.sh (the BASELINE=REF of `npm run bench`): a ref that is not a commit is
 * refused with one line and exit 2, a built checkout (its `.built` stamp names the commit) is
 * reused without building, and a folder in its place that is not that commit's checkout is
 * refused rather than built over. Builds nothing (npm ci of a whole checkout is the bench's job);
 * each case runs with RAGOMICS_DATA_DIR in a temp dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../activities/executors/repo-root';

const ROOT = repoRoot();
const SCRIPT = path.join(ROOT, 'scripts', 'bench-baseline.sh');

function run(dataDir: string, ...args: string[]) {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, RAGOMICS_DATA_DIR: dataDir } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

void test('bench-baseline: bad ref, reuse of a built checkout, a foreign folder in its place', () => {
  const data = mkdtempSync(path.join(tmpdir(), 'bench-baseline-'));
  try {
    let r = run(data, 'no-such-ref-anywhere');
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^\[ragomics\] ERROR: BASELINE=no-such-ref-anywhere: not a commit of /);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(run(data).code, 2, 'no REF');

    const sha = execFileSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const short = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', sha], { encoding: 'utf8' }).trim();
    const dir = path.join(data, 'bench', `baseline-${short}`);
    // A folder that is not a checkout of the commit (no stamp): refused, not built over.
    mkdirSync(dir, { recursive: true });
    r = run(data, 'HEAD');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} exists but is not a checkout of ${short}`));
    // Its stamp names the commit: reused as it is, the path on stdout.
    writeFileSync(path.join(dir, '.built'), `${sha}\n`);
    r = run(data, 'HEAD');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${dir}\n`);
    assert.match(r.stderr, /built checkout reused/);
    // A stamp of another commit is not a build of this one.
    writeFileSync(path.join(dir, '.built'), `${'0'.repeat(40)}\n`);
    assert.equal(run(data, 'HEAD').code, 1);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
