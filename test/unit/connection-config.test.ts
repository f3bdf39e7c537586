/**
 * Connection settings come from @temporalio/envconfig: Temporal's standard variables, the
 * TOML profile, ragomics' earlier names as aliases, and typed ConfigErrors for unusable ones.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConnection } from '../../client/connection';
import { ConfigError } from '../../client/errors';

const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-conn-'));
after(() => rmSync(dir, { recursive: true, force: true }));
// HOME points at an empty folder so a developer's own ~/.config/temporalio/temporal.toml is not read.
const base = { HOME: dir };

/** A throw-away self-signed certificate and key (openssl is on every supported machine). */
function certPair(): { cert: string; key: string } {
  const cert = path.join(dir, 'c.pem');
  const key = path.join(dir, 'k.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=ragomics-test'], { stdio: 'ignore' });
  return { cert, key };
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e;
  }
  return assert.fail('accepted');
}

void test('defaults with nothing set; empty variables count as unset', () => {
  const r = resolveConnection({}, { ...base, TEMPORAL_ADDRESS: '' });
  assert.equal(r.address, 'localhost:7233');
  assert.equal(r.namespace, 'default');
  assert.equal(r.taskQueue, 'ragomics');
  assert.equal(r.connectionOptions.tls, undefined);
});

void test('standard variables, with explicit options winning', () => {
  const env = { ...base, TEMPORAL_ADDRESS: 'temporal.example:7233', TEMPORAL_NAMESPACE: 'ns1', TEMPORAL_API_KEY: 'k', TEMPORAL_GRPC_META_X_TEAM: 'omics', RAGOMICS_TASK_QUEUE: 'q' };
  const r = resolveConnection({}, env);
  assert.deepEqual([r.address, r.namespace, r.taskQueue], ['temporal.example:7233', 'ns1', 'q']);
  assert.equal(r.connectionOptions.apiKey, 'k');
  assert.equal(r.connectionOptions.tls, true, 'an API key implies TLS');
  assert.deepEqual(r.connectionOptions.metadata, { 'x-team': 'omics' });
  const o = resolveConnection({ address: 'other:1', namespace: 'ns2' }, env);
  assert.deepEqual([o.address, o.namespace], ['other:1', 'ns2']);
});

void test('a TOML profile chosen by TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE; the environment wins over it', () => {
  const file = path.join(dir, 'temporal.toml');
  writeFileSync(file, '[profile.default]\naddress = "default-host:7233"\n\n[profile.prod]\naddress = "prod-host:7233"\nnamespace = "prod"\n');
  assert.equal(resolveConnection({}, { ...base, TEMPORAL_CONFIG_FILE: file }).address, 'default-host:7233');
  const prod = resolveConnection({}, { ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });
  assert.deepEqual([prod.address, prod.namespace], ['prod-host:7233', 'prod']);
  assert.equal(resolveConnection({}, { ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'mine' }).namespace, 'mine');
  assert.match(configError(() => resolveConnection({}, { ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'staging' })).message, /^TEMPORAL_PROFILE "staging" in .*temporal\.toml: /);
});

void test('config errors: a missing TEMPORAL_CONFIG_FILE, malformed TOML, half a certificate pair, an unreadable certificate', () => {
  assert.match(configError(() => resolveConnection({}, { ...base, TEMPORAL_CONFIG_FILE: path.join(dir, 'nope.toml') })).message, /^TEMPORAL_CONFIG_FILE: no such file ".*nope\.toml"$/);
  const bad = path.join(dir, 'bad.toml');
  writeFileSync(bad, '[profile.default\naddress = \n');
  assert.match(configError(() => resolveConnection({}, { ...base, TEMPORAL_CONFIG_FILE: bad })).message, /bad\.toml: /);
  assert.match(configError(() => resolveConnection({}, { ...base, TEMPORAL_TLS_CLIENT_CERT_PATH: '/x.pem' })).message, /^TEMPORAL_TLS_CLIENT_CERT_PATH is set without TEMPORAL_TLS_CLIENT_KEY_PATH/);
  assert.match(configError(() => resolveConnection({}, { ...base, TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'missing-ca.pem') })).message, /^TLS certificate or key: cannot read ".*missing-ca\.pem" \(ENOENT\)$/);
});

void test('the earlier names TEMPORAL_TLS_CERT/KEY/CA are aliases; the standard names win', () => {
  const { cert, key } = certPair();
  const r = resolveConnection({}, { ...base, TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_CA: cert });
  const tls = r.connectionOptions.tls;
  assert.ok(tls && typeof tls === 'object');
  assert.ok(tls.clientCertPair && tls.clientCertPair.crt.length > 0 && tls.clientCertPair.key.length > 0);
  assert.ok(tls.serverRootCACertificate && tls.serverRootCACertificate.length > 0);
  // The standard name wins: its (missing) file is the one read.
  assert.match(configError(() => resolveConnection({}, { ...base, TEMPORAL_TLS_CA: cert, TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'std-ca.pem') })).message, /std-ca\.pem/);
  assert.equal(resolveConnection({}, { ...base, TEMPORAL_TLS: 'true' }).connectionOptions.tls !== undefined, true, 'TEMPORAL_TLS=true alone turns TLS on');
});

void test('an address the client could never dial: a ConfigError naming where it came from (the variable, the option, the profile)', () => {
  assert.match(configError(() => resolveConnection({}, { ...base, TEMPORAL_ADDRESS: 'http://localhost:7233' })).message, /^TEMPORAL_ADDRESS: "http:\/\/localhost:7233" is not host:port \(drop the scheme: localhost:7233\)$/);
  assert.match(configError(() => resolveConnection({ address: 'localhost:70000' }, base)).message, /^address: "localhost:70000" is not host:port \(the port must be 1-65535\)$/);
  const file = path.join(dir, 'url.toml');
  writeFileSync(file, '[profile.default]\naddress = "https://temporal.example:7233"\n');
  assert.match(configError(() => resolveConnection({}, { ...base, TEMPORAL_CONFIG_FILE: file })).message, /^the address of the profile in .*url\.toml: "https:\/\/temporal\.example:7233" is not host:port \(drop the scheme: temporal\.example:7233\)$/);
  // What the SDK dials is accepted: a port left out (7233), IPv6 in brackets, any host name.
  for (const address of ['temporal', '[::1]:7233', 'temporal.bücher.example:7233', '10.0.0.5:443']) assert.equal(resolveConnection({}, { ...base, TEMPORAL_ADDRESS: address }).address, address);
});
