/**
 * The tree's state across continue-as-new, kept in the workspace rather than in the
 * continue-as-new input (Temporal refuses any payload above 2 MB, and a 20,000-node tree's state
 * is 1.8 MB deflated: BENCHMARKS.md, 4b). The workflow deflates its state (plain JSON of its node
 * records) and writes it here in chunks of at most 1 MiB; the next run reads the chunks back.
 *
 * ```
 * <root>/trees/<treeId>.<runKey>/carried/
 *   <runId>.json.deflate            the state written by run <runId> when it continued as new
 *   <runId>.json.deflate.part-<i>   chunks being written (joined and removed by commitCarried)
 * ```
 * Every worker of the tree's task queue sees the same workspace at the same path (as for node
 * outputs). Paths are built from ids checked by zod, never taken from the input.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import {
  CARRIED_CHUNK_BYTES, CommitCarriedSchema, formatZodError, ReadCarriedChunkSchema, WriteCarriedChunkSchema,
  type CarryActivities, type CommitCarried, type ReadCarriedChunk, type WriteCarriedChunk,
} from '../common/schemas';
import { CarriedStateErrors } from '../common/failure-types';

const SUFFIX = '.json.deflate';

/** `<root>/trees/<treeId>.<runKey>/carried` */
export function carriedDir(root: string, file: { treeId: string; runKey: string }): string {
  return path.join(path.resolve(root), 'trees', `${file.treeId}.${file.runKey}`, 'carried');
}

/** The state file written by run `runId` of a tree. */
export function carriedFile(root: string, file: { treeId: string; runKey: string; runId: string }): string {
  return path.join(carriedDir(root, file), `${file.runId}${SUFFIX}`);
}

function parse<T>(schema: { safeParse(x: unknown): { success: true; data: T } | { success: false; error: Parameters<typeof formatZodError>[0] } }, raw: unknown, what: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw ApplicationFailure.nonRetryable(`invalid ${what} input:\n${formatZodError(r.error)}`, CarriedStateErrors.Invalid);
  return r.data;
}

/** The carried-state activities, on the workspace at `root`. */
export function createCarryActivities(root: string): CarryActivities {
  return {
    async writeCarriedChunk(raw: WriteCarriedChunk, bytes: Uint8Array): Promise<void> {
      const input = parse(WriteCarriedChunkSchema, raw, 'writeCarriedChunk');
      if (!(bytes instanceof Uint8Array)) throw ApplicationFailure.nonRetryable(`chunk ${input.index}: the bytes are not binary (a Uint8Array)`, CarriedStateErrors.Invalid);
      if (bytes.length > CARRIED_CHUNK_BYTES) throw ApplicationFailure.nonRetryable(`chunk ${input.index} holds ${bytes.length} bytes, more than ${CARRIED_CHUNK_BYTES}`, CarriedStateErrors.Invalid);
      const final = carriedFile(root, input);
      await mkdir(path.dirname(final), { recursive: true });
      // Written whole under a temporary name, then renamed: a retry or a concurrent duplicate
      // leaves one complete part, never a torn one.
      const part = `${final}.part-${input.index}`;
      await writeFile(`${part}.tmp`, bytes);
      await rename(`${part}.tmp`, part);
    },

    async commitCarried(raw: CommitCarried): Promise<{ sha256: string; bytes: number }> {
      const input = parse(CommitCarriedSchema, raw, 'commitCarried');
      const final = carriedFile(root, input);
      const parts = Array.from({ length: input.chunks }, (_, i) => `${final}.part-${i}`);
      let data: Buffer;
      try {
        data = Buffer.concat(await Promise.all(parts.map((p) => readFile(p))));
      } catch (e) {
        // A retry after a commit that renamed but did not answer: the file is there, whole.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        // Only a final file that is not there either means the chunks are lost; any other error
        // reading it (EIO, EACCES, EMFILE) is thrown as it is, and the activity is retried.
        data = await readFile(final).catch((f: NodeJS.ErrnoException) => {
          if (f.code !== 'ENOENT') throw f;
          throw ApplicationFailure.nonRetryable(`carried state ${final}: chunks missing (${(e as Error).message})`, CarriedStateErrors.Missing);
        });
      }
      if (data.length !== input.bytes) throw ApplicationFailure.nonRetryable(`carried state ${final}: ${data.length} bytes written, ${input.bytes} expected`, CarriedStateErrors.Corrupt);
      const tmp = `${final}.tmp`;
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final);
      await Promise.all(parts.map((p) => rm(p, { force: true })));
      await prune(path.dirname(final), new Set([input.runId, ...input.keep]));
      return { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
    },

    async readCarriedChunk(raw: ReadCarriedChunk): Promise<Uint8Array> {
      const input = parse(ReadCarriedChunkSchema, raw, 'readCarriedChunk');
      const file = carriedFile(root, input);
      const data = await readFile(file).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') throw ApplicationFailure.nonRetryable(`carried state ${file} is missing: the tree's state from its previous run cannot be loaded`, CarriedStateErrors.Missing);
        throw e;
      });
      // Checked on every chunk (a few ms for 2 MB): each chunk the workflow gets is from the file it was told of.
      const sha256 = createHash('sha256').update(data).digest('hex');
      if (data.length !== input.bytes || sha256 !== input.sha256) {
        throw ApplicationFailure.nonRetryable(`carried state ${file} is corrupt: ${data.length} bytes with sha256 ${sha256}, expected ${input.bytes} bytes with sha256 ${input.sha256}`, CarriedStateErrors.Corrupt);
      }
      const start = input.index * CARRIED_CHUNK_BYTES;
      if (start >= data.length) throw ApplicationFailure.nonRetryable(`carried state ${file}: no chunk ${input.index} in ${data.length} bytes`, CarriedStateErrors.Invalid);
      return new Uint8Array(data.subarray(start, Math.min(start + CARRIED_CHUNK_BYTES, data.length)));
    },
  };
}

/**
 * Removes the state files of every run but `keep` (the file just written and the one this run
 * was loaded from: a reset of this run replays from its own input and reads that file again).
 */
async function prune(dir: string, keep: ReadonlySet<string>): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names
    .filter((n) => n.endsWith(SUFFIX) && !keep.has(n.slice(0, -SUFFIX.length)))
    .map((n) => rm(path.join(dir, n), { force: true })));
}
