/**
 * Connection settings for the SDK, CLI and worker: from explicit options first, then the
 * environment (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `RAGOMICS_TASK_QUEUE`,
 * `TEMPORAL_TLS_CERT`, `TEMPORAL_TLS_KEY`, `TEMPORAL_TLS_CA`, `TEMPORAL_API_KEY`).
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { z } from 'zod';
import { ServiceUnavailableError } from './errors';

/** Default task queue of workers and trees. */
export const DEFAULT_TASK_QUEUE = 'ragomics';

/** Options of {@link connect}; each falls back to its environment variable. */
export const ConnectOptionsSchema = z.strictObject({
  /** `host:port` of the Temporal frontend. @default env TEMPORAL_ADDRESS or "localhost:7233" */
  address: z.string().min(1).optional(),
  /** @default env TEMPORAL_NAMESPACE or "default" */
  namespace: z.string().min(1).optional(),
  /** Task queue trees are started on. @default env RAGOMICS_TASK_QUEUE or "ragomics" */
  taskQueue: z.string().min(1).optional(),
  /** Client certificate and key (mTLS), PEM file paths. @default env TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY */
  tlsCertPath: z.string().optional(),
  tlsKeyPath: z.string().optional(),
  /** CA bundle for the server certificate. @default env TEMPORAL_TLS_CA */
  tlsCaPath: z.string().optional(),
  /** API key (Temporal Cloud); implies TLS. @default env TEMPORAL_API_KEY */
  apiKey: z.string().optional(),
  /** Seconds to wait for the server before failing with ServiceUnavailableError. @default 10 */
  connectTimeoutSeconds: z.number().positive().optional(),
});
export type ConnectOptions = z.infer<typeof ConnectOptionsSchema>;

/** Settings resolved from options and environment. */
export interface ResolvedConnection {
  address: string;
  namespace: string;
  taskQueue: string;
  connectionOptions: ConnectionOptions;
}

/** Resolves options against the environment. */
export function resolveConnection(options: ConnectOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedConnection {
  const o = ConnectOptionsSchema.parse(options);
  const address = o.address ?? env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  const cert = o.tlsCertPath ?? env.TEMPORAL_TLS_CERT;
  const key = o.tlsKeyPath ?? env.TEMPORAL_TLS_KEY;
  const ca = o.tlsCaPath ?? env.TEMPORAL_TLS_CA;
  const apiKey = o.apiKey ?? env.TEMPORAL_API_KEY;
  const connectionOptions: ConnectionOptions = { address, connectTimeout: `${o.connectTimeoutSeconds ?? 10}s` };
  if (cert && key) {
    connectionOptions.tls = {
      clientCertPair: { crt: readFileSync(cert), key: readFileSync(key) },
      ...(ca ? { serverRootCACertificate: readFileSync(ca) } : {}),
    };
  } else if (ca) {
    connectionOptions.tls = { serverRootCACertificate: readFileSync(ca) };
  }
  if (apiKey) {
    connectionOptions.apiKey = apiKey;
    connectionOptions.tls ??= true;
  }
  return {
    address,
    namespace: o.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: o.taskQueue ?? env.RAGOMICS_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    connectionOptions,
  };
}

/** Opens a Temporal client; a server that does not answer becomes a {@link ServiceUnavailableError}. */
export async function openClient(resolved: ResolvedConnection): Promise<{ client: Client; connection: Connection }> {
  let connection: Connection;
  try {
    connection = await Connection.connect(resolved.connectionOptions);
  } catch (err) {
    throw new ServiceUnavailableError(
      `cannot reach the Temporal server at ${resolved.address} (${(err as Error).message.split('\n')[0]}); start one with \`npx ragomics dev\` or \`bash scripts/ensure-temporal.sh\`, or set TEMPORAL_ADDRESS`,
      { cause: err },
    );
  }
  return { client: new Client({ connection, namespace: resolved.namespace }), connection };
}
