/**
 * The production stack's files, checked statically (test/stack-up.test.ts brings the stack up):
 * docker-compose.yml parses, holds the services, images, mounts and worker hosts the design
 * needs in a form docker-compose 1.29 runs (no `deploy` replicas), keeps no second list of
 * search attributes, the worker Dockerfile compiles what tsconfig.json includes, and, when a
 * compose implementation is installed (`docker compose` or `docker-compose`), the file passes
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
  ports?: string[];
  restart?: string;
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

const WORKERS = { 'worker-1': 'ragomics', 'worker-2': 'ragomics', 'worker-3': 'ragomics', 'worker-highmem': 'highmem' } as const;

void test('compose: PostgreSQL, schema setup, Temporal, namespace setup, Web UI and four worker hosts', () => {
  const s = compose.services;
  assert.deepEqual(Object.keys(s).sort(), ['blocks', 'postgresql', 'temporal', 'temporal-schema', 'temporal-setup', 'temporal-ui', ...Object.keys(WORKERS)].sort());
  assert.ok('postgres-data' in compose.volumes, 'the database persists in a named volume');
  assert.equal(s.temporal?.environment?.DB, 'postgres12');
  assert.equal(s.temporal?.depends_on?.['temporal-schema']?.condition, 'service_completed_successfully');
  assert.equal(s['temporal-schema']?.depends_on?.postgresql?.condition, 'service_healthy');
  assert.deepEqual(s.blocks?.profiles, ['build'], 'the blocks image is built on demand, not started');
  for (const [name, svc] of Object.entries(s)) {
    assert.equal(svc.deploy, undefined, `${name}: no deploy section (docker-compose 1.29 ignores replicas)`);
  }
  for (const name of ['postgresql', 'temporal', 'temporal-ui', ...Object.keys(WORKERS)]) {
    assert.equal(s[name]?.restart, 'unless-stopped', `${name} comes back after a crash or an engine restart`);
  }
});

void test('compose: official images by default, the local ones through variables', () => {
  const image = (svc: string) => compose.services[svc]?.image ?? '';
  assert.equal(image('postgresql'), '${POSTGRESQL_IMAGE:-postgres:16}');
  assert.match(image('temporal'), /^\$\{TEMPORAL_SERVER_IMAGE:-temporalio\/server:[\d.]+\}$/);
  assert.match(image('temporal-schema'), /^\$\{TEMPORAL_ADMINTOOLS_IMAGE:-temporalio\/admin-tools:[\d.]+\}$/);
  assert.equal(image('temporal-setup'), image('temporal-schema'));
  assert.match(image('temporal-ui'), /^\$\{TEMPORAL_UI_IMAGE:-temporalio\/ui:[\d.]+\}$/);
  for (const w of Object.keys(WORKERS)) assert.equal(image(w), '${RAGOMICS_WORKER_IMAGE:-ragomics/worker:latest}');
  // scripts/build-stack-images.sh prints exactly these variables (stack.sh exports them).
  const script = readFileSync(path.join(ROOT, 'scripts', 'build-stack-images.sh'), 'utf8');
  for (const v of ['POSTGRESQL_IMAGE', 'TEMPORAL_SERVER_IMAGE', 'TEMPORAL_ADMINTOOLS_IMAGE', 'TEMPORAL_UI_IMAGE', 'RAGOMICS_WORKER_IMAGE']) {
    assert.match(script, new RegExp(`^(lines=")?${v}=\\$`, 'm'), `build-stack-images.sh prints ${v}`);
  }
});

void test('compose: host ports come from RAGOMICS_STACK_PORT and RAGOMICS_STACK_UI_PORT', () => {
  assert.deepEqual(compose.services.temporal?.ports, ['${RAGOMICS_STACK_BIND:-127.0.0.1}:${RAGOMICS_STACK_PORT:-7233}:7233']);
  assert.deepEqual(compose.services['temporal-ui']?.ports, ['${RAGOMICS_STACK_BIND:-127.0.0.1}:${RAGOMICS_STACK_UI_PORT:-8080}:8080']);
});

void test('compose: the Temporal server gets the dynamic configuration the dev server gets (eager activities, transfer queue reads)', () => {
  const t = compose.services.temporal as Service;
  const target = t.environment?.DYNAMIC_CONFIG_FILE_PATH;
  assert.ok(target, 'DYNAMIC_CONFIG_FILE_PATH is set');
  const mount = (t.volumes ?? []).find((v) => v.split(':')[1] === target);
  assert.ok(mount, `a volume mounts a file at ${target}`);
  const config = parse(readFileSync(path.join(ROOT, mount.split(':')[0]!), 'utf8')) as Record<string, { value: unknown }[]>;
  assert.deepEqual(config['system.enableActivityEagerExecution'], [{ value: true }]);
  assert.deepEqual(config['history.transferProcessorMaxPollRPS'], [{ value: 1000 }]);
  // The dev server's default (scripts/ensure-temporal.sh) holds exactly the same keys and values.
  const script = readFileSync(path.join(ROOT, 'scripts', 'ensure-temporal.sh'), 'utf8');
  const devDefault = /^DYNAMIC_CONFIG="\$\{RAGOMICS_TEMPORAL_DYNAMIC_CONFIG-([^}]*)\}"$/m.exec(script)?.[1];
  assert.ok(devDefault, 'ensure-temporal.sh has a DYNAMIC_CONFIG default');
  const dev = Object.fromEntries(devDefault.split(' ').map((kv) => {
    const [k, v] = kv.split('=') as [string, string];
    return [k, [{ value: v === 'true' ? true : v === 'false' ? false : Number(v) }]];
  }));
  assert.deepEqual(dev, config, 'the dev server is started with the same values');
});

void test('compose: each worker host has its id, task queue and cap, the host Docker, and the stack folder at the same path', () => {
  for (const [name, queue] of Object.entries(WORKERS)) {
    const w = compose.services[name] as Service;
    assert.equal(w.build?.dockerfile, 'workers/Dockerfile', name);
    assert.equal(w.build?.context, '.');
    const env = w.environment ?? {};
    assert.equal(env.RAGOMICS_WORKER_ID, name, `${name}: its id is its service name (the timeline's worker column)`);
    assert.equal(env.RAGOMICS_TASK_QUEUE, queue);
    const cap = `RAGOMICS_WORKER_${name.slice('worker-'.length).toUpperCase()}_MAX_CONCURRENT_NODES`;
    assert.match(env.RAGOMICS_MAX_CONCURRENT_NODES ?? '', new RegExp(`^\\$\\{${cap}:-\\d+\\}$`), `${name}: its own cap`);
    assert.equal(env.RAGOMICS_EXECUTOR, 'docker');
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(env.RAGOMICS_CONTAINER_SCOPE, '${RAGOMICS_CONTAINER_SCOPE:-}', `${name}: the scope label is passed through`);
    assert.equal(w.depends_on?.['temporal-setup']?.condition, 'service_completed_successfully');
    const vols = w.volumes ?? [];
    assert.ok(vols.includes('/var/run/docker.sock:/var/run/docker.sock'));
    for (const sub of ['workspace', 'data']) {
      const dir = `\${RAGOMICS_STACK_DIR:-/var/lib/ragomics}/${sub}`;
      assert.ok(vols.some((v) => v === `${dir}:${dir}` || v === `${dir}:${dir}:ro`), `${name}: ${sub} mounted at the same path inside and outside`);
    }
    assert.equal(env.RAGOMICS_WORKSPACE, '${RAGOMICS_STACK_DIR:-/var/lib/ragomics}/workspace', 'the worker is told that path');
  }
});

void test('search attributes: one list (common/search-attributes.ts), registered by stack.sh through the API', () => {
  const text = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
  for (const a of SEARCH_ATTRIBUTES) assert.doesNotMatch(text, new RegExp(a.name), `docker-compose.yml keeps no second list (${a.name})`);
  assert.match(readFileSync(path.join(ROOT, 'scripts', 'stack.sh'), 'utf8'), /node scripts\/register-search-attributes\.js "127\.0\.0\.1:\$PORT" "\$NAMESPACE"/);
});

void test('worker Dockerfile: Node base by ARG, npm ci, build, workflow bundle, runs `ragomics worker`', () => {
  const df = readFileSync(path.join(ROOT, 'workers', 'Dockerfile'), 'utf8');
  assert.match(df, /^ARG NODE_IMAGE=node:20/m);
  assert.match(df, /^FROM \$\{NODE_IMAGE\} AS build/m);
  assert.match(df, /npm ci/);
  assert.match(df, /npm run build && node scripts\/bundle-workflows\.js/);
  // `npm run build` runs scripts of scripts/ (the CLI bundle's): the build stage must copy each.
  const build = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build;
  const buildScripts = [...build.matchAll(/node (scripts\/[\w.-]+\.js)/g)].map((m) => m[1]!);
  assert.ok(buildScripts.includes('scripts/bundle-cli.js'), `npm run build bundles the CLI (${build})`);
  for (const script of buildScripts) assert.match(df, new RegExp(`^COPY ${script} \\./${script}$`, 'm'), `the build stage copies ${script}, which npm run build runs`);
  // The build stage copies folder by folder: every folder tsconfig.json compiles, test/ and
  // bench/ aside, must be among them, or the image would lack it.
  const tsconfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const buildStage = df.slice(df.indexOf(' AS build'), df.indexOf('npm run build'));
  for (const inc of tsconfig.include) {
    const top = inc.split('/')[0]!;
    if (top === 'test' || top === 'bench') continue;
    assert.match(buildStage, new RegExp(`^COPY ${top} \\./${top}$`, 'm'), `the build stage copies ${top}/ (tsconfig.json includes ${inc})`);
  }
  // Every npm step of the build stage reads the registry, so each trusts the extra CA
  // certificates: a prune without them idled two minutes on failing requests behind this
  // machine's TLS-intercepting proxy.
  const runs = df.slice(df.indexOf(' AS build'), df.indexOf('# ---- runtime')).split(/^RUN /m).slice(1);
  const npmRuns = runs.filter((r) => /\bnpm (ci|prune|install)\b/.test(r));
  assert.ok(npmRuns.length >= 2, 'the build stage installs and prunes with npm');
  for (const r of npmRuns) assert.match(r, /\. \/tmp\/build-ca\/env\.sh;/, `this npm step trusts the build CA: RUN ${r.split('\n')[0]}`);
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
