/**
 * Shared plumbing of the CLI commands: connecting (from the environment, a flag may pick the
 * task queue), closing the connection whatever happens, and writing output files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { IdSchema } from '../../common/schemas';
import { RagomicsClient } from '../sdk';
import { InvalidInputError } from '../errors';

/** Connects, runs `body`, closes the connection (also when `body` throws). */
export async function withClient<T>(options: { taskQueue?: string }, body: (rc: RagomicsClient) => Promise<T>): Promise<T> {
  const rc = await RagomicsClient.connect(options.taskQueue ? { taskQueue: options.taskQueue } : {});
  try {
    return await body(rc);
  } finally {
    await rc.close().catch(() => undefined);
  }
}

/** Writes `content` to `file` (creating its folder), or to stdout when `file` is undefined or "-". */
export function writeOutput(file: string | undefined, content: string | Buffer): void {
  if (file === undefined || file === '-') {
    process.stdout.write(content);
    return;
  }
  try {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    writeFileSync(file, content);
  } catch (err) {
    throw new InvalidInputError(`${file}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Parses a positive integer argument, naming it in the error. */
export function parsePositiveInt(name: string, value: string, max = 1_000_000): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidInputError(`${name}: must be an integer from 1 to ${max}, got "${value}"`);
  return n;
}

/** Checks a tree or node id the way the spec does, before any server call. */
export function checkId(name: string, value: string): string {
  const parsed = IdSchema.safeParse(value);
  if (!parsed.success) throw new InvalidInputError(`${name}: "${value}" ${parsed.error.issues[0]?.message ?? 'is not a valid id'}`);
  return value;
}
