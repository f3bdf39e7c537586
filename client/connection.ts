/**
 * Connection settings for the SDK, CLI and worker, read the way every Temporal tool reads them
 * (`@temporalio/envconfig`): explicit options first, then Temporal's standard environment
 * variables (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS`,
 * `TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`, `TEMPORAL_TLS_SERVER_CA_CERT_PATH`,
 * their `*_DATA` forms, `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_GRPC_META_*`), then the profile
 * `TEMPORAL_PROFILE` (default "default") of the TOML file `TEMPORAL_CONFIG_FILE` (default
 * `~/.config/temporalio/temporal.toml`, when it exists), then defaults. ragomics' earlier names
 * `TEMPORAL_TLS_CERT`, `TEMPORAL_TLS_KEY` and `TEMPORAL_TLS_CA` still work as aliases. The task
 * queue is ragomics' own: `RAGOMICS_TASK_QUEUE`.
 */
import { existsSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { msToNumber } from '@temporalio/common';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import { z } from 'zod';
import { ConfigError, ServiceUnavailableError } from './errors';

/** Default task queue of workers and trees. */
export const DEFAULT_TASK_QUEUE = 'ragomics';

/** Options of {@link connect}; each falls back to its environment variable, then the config file. */
export const ConnectOptionsSchema = z.strictObject({
  /** `host:port` of the Temporal frontend. @default env TEMPORAL_ADDRESS, the profile's, or "localhost:7233" */
  address: z.string().min(1).optional(),
  /** @default env TEMPORAL_NAMESPACE, the profile's, or "default" */
  namespace: z.string().min(1).optional(),
  /** Task queue trees are started on. @default env RAGOMICS_TASK_QUEUE or "ragomics" */
  taskQueue: z.string().min(1).optional(),
  /** Client certificate and key (mTLS), PEM file paths. @default env TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH */
  tlsCertPath: z.string().optional(),
  tlsKeyPath: z.string().optional(),
  /** CA bundle for the server certificate. @default env TEMPORAL_TLS_SERVER_CA_CERT_PATH */
  tlsCaPath: z.string().optional(),
  /** API key (Temporal Cloud); implies TLS. @default env TEMPORAL_API_KEY */
  apiKey: z.string().optional(),
  /** Seconds to wait for the server before failing with ServiceUnavailableError. @default 10 */
  connectTimeoutSeconds: z.number().positive().optional(),
});
export type ConnectOptions = z.infer<typeof ConnectOptionsSchema>;

/** Settings resolved from options, environment and config file. */
export interface ResolvedConnection {
  address: string;
  namespace: string;
  taskQueue: string;
  connectionOptions: ConnectionOptions;
}

/**
 * ragomics' earlier variable names and the standard Temporal name each stands for. The standard
 * name wins when both are set.
 */
export const LEGACY_CONNECTION_ENV: Readonly<Record<string, string>> = {
  TEMPORAL_TLS_CERT: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  TEMPORAL_TLS_KEY: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  TEMPORAL_TLS_CA: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
};

/** `env` as envconfig should see it: empty variables count as unset, aliases filled in. */
function temporalEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  for (const [legacy, standard] of Object.entries(LEGACY_CONNECTION_ENV)) {
    const v = out[legacy];
    if (v !== undefined && out[standard] === undefined) out[standard] = v;
  }
  return out;
}

/**
 * Resolves options against the environment and the Temporal config file.
 * @throws ConfigError naming the variable or file when a setting is unusable: a missing
 *   `TEMPORAL_CONFIG_FILE` or profile, malformed TOML, a client certificate without its key
 *   (or the reverse), an unreadable certificate file. Nothing has been contacted then.
 */
export function resolveConnection(options: ConnectOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedConnection {
  const o = ConnectOptionsSchema.parse(options);
  const vars = temporalEnv(env);
  // envconfig treats a missing file as "no file"; one named explicitly must exist.
  if (vars.TEMPORAL_CONFIG_FILE !== undefined && !existsSync(vars.TEMPORAL_CONFIG_FILE)) {
    throw new ConfigError(`TEMPORAL_CONFIG_FILE: no such file "${vars.TEMPORAL_CONFIG_FILE}"`);
  }
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: vars });
  } catch (err) {
    // Everything envconfig throws here is about the file or the profile chosen in it.
    const where = vars.TEMPORAL_CONFIG_FILE ?? 'the Temporal config file';
    throw new ConfigError(`${vars.TEMPORAL_PROFILE ? `TEMPORAL_PROFILE "${vars.TEMPORAL_PROFILE}" in ` : ''}${where}: ${String((err as Error).message).split('\n')[0]}`, { cause: err });
  }
  if (o.address) profile.address = o.address;
  if (o.namespace) profile.namespace = o.namespace;
  if (o.apiKey) profile.apiKey = o.apiKey;
  if (o.tlsCertPath || o.tlsKeyPath || o.tlsCaPath) {
    profile.tls = {
      ...profile.tls,
      ...(o.tlsCertPath ? { clientCert: { path: o.tlsCertPath } } : {}),
      ...(o.tlsKeyPath ? { clientKey: { path: o.tlsKeyPath } } : {}),
      ...(o.tlsCaPath ? { serverCACert: { path: o.tlsCaPath } } : {}),
    };
  }
  // envconfig silently drops half a client certificate pair; say so instead.
  if (profile.tls && !profile.tls.disabled && Boolean(profile.tls.clientCert) !== Boolean(profile.tls.clientKey)) {
    throw new ConfigError(profile.tls.clientCert
      ? 'TEMPORAL_TLS_CLIENT_CERT_PATH is set without TEMPORAL_TLS_CLIENT_KEY_PATH (mTLS needs both)'
      : 'TEMPORAL_TLS_CLIENT_KEY_PATH is set without TEMPORAL_TLS_CLIENT_CERT_PATH (mTLS needs both)');
  }
  let standard: ReturnType<typeof toClientOptions>;
  try {
    standard = toClientOptions(profile);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`TLS certificate or key: cannot read ${e.path ? `"${e.path}"` : 'a file'} (${e.code ?? e.message})`, { cause: err });
  }
  const address = profile.address ?? 'localhost:7233';
  checkAddress(address, o.address ? 'address' : vars.TEMPORAL_ADDRESS ? 'TEMPORAL_ADDRESS' : `the address of ${vars.TEMPORAL_PROFILE ? `profile "${vars.TEMPORAL_PROFILE}"` : 'the profile'} in ${vars.TEMPORAL_CONFIG_FILE ?? 'the Temporal config file'}`);
  const { tls, apiKey, metadata } = standard.connectionOptions;
  const connectionOptions: ConnectionOptions = {
    address,
    connectTimeout: `${o.connectTimeoutSeconds ?? 10}s`,
    ...(tls !== undefined ? { tls } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(metadata !== undefined ? { metadata } : {}),
  };
  return {
    address,
    namespace: profile.namespace ?? 'default',
    taskQueue: o.taskQueue ?? vars.RAGOMICS_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    connectionOptions,
  };
}

/** Opens a Temporal client; a server that does not answer becomes a {@link ServiceUnavailableError}. */
export async function openClient(resolved: ResolvedConnection): Promise<{ client: Client; connection: Connection }> {
  let connection: Connection;
  try {
    const connectTimeout = resolved.connectionOptions.connectTimeout;
    await probe(resolved.address, Math.min(PROBE_TIMEOUT_MS, connectTimeout === undefined ? PROBE_TIMEOUT_MS : msToNumber(connectTimeout)));
    connection = await Connection.connect(resolved.connectionOptions);
  } catch (err) {
    throw new ServiceUnavailableError(
      `cannot reach the Temporal server at ${resolved.address} (${(err as Error).message.split('\n')[0]}); start one with \`ragomics dev\` (or \`npx ragomics dev\` in the checkout), or set TEMPORAL_ADDRESS`,
      { cause: err },
    );
  }
  return { client: new Client({ connection, namespace: resolved.namespace }), connection };
}

/**
 * `host[:port]`, `[v6][:port]`: what the Temporal client dials (no scheme; the port defaults to
 * 7233, as the SDK's). A host is anything without `:`, `/` or blanks, as the SDK takes it.
 */
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[^:/\s[\]]+)(?::(\d{1,5}))?$/;
const DEFAULT_PORT = 7233;

/**
 * Refuses an address the client could never dial, naming where it came from: a URL copied
 * from a browser (`http://localhost:7233`), a missing or out-of-range port.
 * @throws ConfigError (exit 2)
 */
function checkAddress(address: string, source: string): void {
  const m = ADDRESS.exec(address);
  const port = Number(m?.[2] ?? DEFAULT_PORT);
  if (m && port >= 1 && port <= 65535) return;
  const bare = /^[a-z][a-z0-9+.-]*:\/\/([^/]+)/i.exec(address)?.[1];
  throw new ConfigError(`${source}: "${address}" is not host:port${bare ? ` (drop the scheme: ${bare})` : m ? ' (the port must be 1-65535)' : ', e.g. localhost:7233'}`);
}

/** Socket errors that say the server is not there (not that it could not be asked yet). */
const DEFINITE_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND']);

/** How long the probe below waits for a TCP connection before leaving the verdict to the client. */
const PROBE_TIMEOUT_MS = 3000;

/**
 * One TCP connection to `address`, closed at once: a refused or unresolvable address fails here
 * in milliseconds, where the gRPC client would retry it until its 10 s connect timeout. A probe
 * that does not answer in time decides nothing (the client's own timeout does). Skipped when
 * the environment names a proxy (grpc-js dials through it, and a direct connection may be
 * refused where the proxied one works).
 * @throws the socket error (ECONNREFUSED, ENOTFOUND, ...), for openClient to report.
 */
function probe(address: string, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const m = ADDRESS.exec(address);
  const proxied = ['grpc_proxy', 'https_proxy', 'http_proxy', 'GRPC_PROXY', 'HTTPS_PROXY', 'HTTP_PROXY'].some((k) => env[k]);
  if (!m || proxied) return Promise.resolve();
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port: Number(m[2] ?? DEFAULT_PORT) });
    const done = (err?: Error): void => {
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done());
    socket.once('connect', () => done());
    // Only a definite answer decides: refused, or no such host. Anything else (a DNS server that
    // did not answer, EAI_AGAIN; a network not reachable yet) is left to the client's retries.
    socket.once('error', (err: NodeJS.ErrnoException) => done(DEFINITE_FAILURES.has(err.code ?? '') ? err : undefined));
  });
}
