/**
 * The production-like stack (docker-compose.yml, workers/Dockerfile). No image can be pulled
 * here, so the stack is checked statically: the compose file parses, holds the services and
 * mounts the design needs, registers exactly the search attributes the code uses, and, when a
 * compose implementation is installed (`docker compose` or `docker-compose`), passes
 * `config -q` (without one: a skip, and under CI=true a failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes';
import { skipUnlessCI } from './helpers/prereq';
import { repoRoot } from '../activities/executors/repo-root';

const ROOT = repoRoot();

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: string | number };
  command?: string[] | string;
  profiles?: string[];
}

// merge: compose files use YAML merge keys (`<<: *anchor`), which YAML 1.2 leaves off by default.
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };

void test('compose: PostgreSQL, schema setup, Temporal, namespace setup, Web UI and N workers', () => {
  const s = compose.services;
  assert.deepEqual(Object.keys(s).sort(), ['blocks', 'postgresql', 'temporal', 'temporal-schema', 'temporal-setup', 'temporal-ui', 'worker']);
  assert.match(s.postgresql?.image ?? '', /^postgres:/);
  assert.ok('postgres-data' in compose.volumes, 'the database persists in a named volume');
  assert.match(s.temporal?.image ?? '', /^temporalio\/server:/);
  assert.equal(s.temporal?.environment?.DB, 'postgres12');
  assert.equal(s.temporal?.depends_on?.['temporal-schema']?.condition, 'service_completed_successfully');
  assert.match(s['temporal-ui']?.image ?? '', /^temporalio\/ui:/);
  assert.equal(s.worker?.depends_on?.['temporal-setup']?.condition, 'service_completed_successfully');
  assert.deepEqual(s.blocks?.profiles, ['build'], 'the blocks image is built on demand, not started');
});

void test('compose: the Temporal server gets the dynamic configuration the dev server gets (eager activities)', () => {
  const t = compose.services.temporal as Service;
  const target = t.environment?.DYNAMIC_CONFIG_FILE_PATH;
  assert.ok(target, 'DYNAMIC_CONFIG_FILE_PATH is set');
  const mount = (t.volumes ?? []).find((v) => v.split(':')[1] === target);
  assert.ok(mount, `a volume mounts a file at ${target}`);
  const config = parse(readFileSync(path.join(ROOT, mount.split(':')[0]!), 'utf8')) as Record<string, { value: unknown }[]>;
  assert.deepEqual(config['system.enableActivityEagerExecution'], [{ value: true }]);
  assert.match(readFileSync(path.join(ROOT, 'scripts', 'ensure-temporal.sh'), 'utf8'), /system\.enableActivityEagerExecution=true/, 'the dev server is started with the same value');
});

void test('compose: workers are built from the project and reach the host Docker and workspace at the same paths', () => {
  const w = compose.services.worker as Service;
  assert.equal(w.build?.dockerfile, 'workers/Dockerfile');
  assert.equal(w.build?.context, '.');
  assert.match(String(w.deploy?.replicas), /RAGOMICS_WORKERS/);
  assert.equal(w.environment?.RAGOMICS_EXECUTOR, 'docker');
  assert.equal(w.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
  const vols = w.volumes ?? [];
  assert.ok(vols.includes('/var/run/docker.sock:/var/run/docker.sock'));
  const workspace = vols.find((v) => v.includes('RAGOMICS_WORKSPACE'));
  assert.ok(workspace, 'a workspace mount');
  const [host, inside] = workspace.split(/:(?=\$)/);
  assert.equal(host, inside, 'the workspace is mounted at the same path inside and outside');
  assert.equal(w.environment?.RAGOMICS_WORKSPACE, host, 'the worker is told that path');
});

void test('compose: the setup registers exactly the search attributes the code uses', () => {
  const cmd = String((compose.services['temporal-setup']?.command as string[] | undefined)?.[0] ?? '');
  const registered = [...cmd.matchAll(/(Ragomics\w+)=(\w+)/g)].map((m) => `${m[1]}=${m[2]}`).sort();
  assert.deepEqual(registered, SEARCH_ATTRIBUTES.map((a) => `${a.name}=${a.type}`).sort());
});

void test('worker Dockerfile: Node base by ARG, npm ci, build, workflow bundle, runs `ragomics worker`', () => {
  const df = readFileSync(path.join(ROOT, 'workers', 'Dockerfile'), 'utf8');
  assert.match(df, /^ARG NODE_IMAGE=node:20/m);
  assert.match(df, /^FROM \$\{NODE_IMAGE\} AS build/m);
  assert.match(df, /npm ci/);
  assert.match(df, /npm run build && node scripts\/bundle-workflows\.js/);
  assert.match(df, /^ENTRYPOINT \["node", "\/app\/bin\/ragomics\.js"\]/m);
  assert.match(df, /^CMD \["worker"\]/m);
});

/** Bound on one compose CLI call (config -q answers in about a second). */
const COMPOSE_TIMEOUT_MS = 60_000;

void test('compose config -q with the installed compose implementation', (t) => {
  const impls: [string, string[]][] = [['docker', ['compose', 'config', '-q']], ['docker-compose', ['config', '-q']]];
  for (const [bin, args] of impls) {
    // Bounded: a hung tool or engine fails the test instead of hanging CI (a timed-out probe is
    // a failure, not a missing tool).
    const probe = spawnSync(bin, bin === 'docker' ? ['compose', 'version'] : ['version'], { encoding: 'utf8', timeout: COMPOSE_TIMEOUT_MS });
    assert.notEqual((probe.error as NodeJS.ErrnoException | undefined)?.code, 'ETIMEDOUT', `${bin} version did not answer within ${COMPOSE_TIMEOUT_MS} ms`);
    if (probe.status !== 0) continue;
    const r = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', timeout: COMPOSE_TIMEOUT_MS });
    assert.equal(r.status, 0, `${bin} ${args.join(' ')}: ${r.error ? `${r.error.message} ` : ''}${r.stderr}`);
    return;
  }
  skipUnlessCI(t, 'neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose; scripts/ensure-test-tools.sh installs it as root)');
});
