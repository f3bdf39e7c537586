/**
 * Which image an attempt runs in: the blocks image, or for inline blocks with `requirements` a
 * derived image `FROM <blocks image>` with those packages pip-installed. Derived images are
 * built once per (base image Id, requirement set) and tagged `ragomics/blocks-ext:<hash>`.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Block } from '../../common/schemas';
import { BlockCrashedError, ExecutorUnavailableError } from '../errors';
import { readTail } from '../runner-output';
import { blocksImageTagFile } from './blocks-image';
import { repoRoot } from './repo-root';
import { logTailSection } from '../../common/log-tail';

/** An image ready to run: `ref` is its Id (immune to re-tagging), `digest` what NodeResult records. */
export interface ResolvedImage {
  ref: string;
  digest: string;
}

/** How derived (requirements) images are built. */
export interface RequirementsBuildOptions {
  /**
   * Network of the build's RUN step (it needs PyPI). Docker's default bridge reaches PyPI on the
   * project's machines (seen with Docker 20.10, whose docker0 bridge has outbound access); 'host'
   * is the choice for an engine without a bridge. @default Docker's default ('bridge')
   */
  networkMode?: string;
  /**
   * A PEM bundle of extra CA certificates for pip (e.g. a proxy that re-signs TLS, as the
   * host's PIP_CERT points to); copied into the build context. @default none
   */
  caBundle?: string;
}

/** Builds in flight in this process, by tag: concurrent attempts with equal requirements share one build. */
const inflightBuilds = new Map<string, Promise<void>>();

/**
 * The image for `block`: `baseImage` itself, or its requirements-derived image (built when
 * missing; build output goes to `buildLog`).
 *
 * @throws ExecutorUnavailableError when the blocks image is not on this engine.
 * @throws BlockCrashedError when installing the requirements fails (the log tail is in the message).
 */
export async function resolveBlockImage(docker: Docker, baseImage: string, block: Block, buildLog: string, build: RequirementsBuildOptions = {}): Promise<ResolvedImage> {
  const base = await inspectImage(docker, baseImage);
  if (!base) {
    throw new ExecutorUnavailableError(
      `blocks image "${baseImage}" is not present on this worker's Docker engine; build it with \`ragomics dev\` or \`bash ${path.join(repoRoot(), 'scripts', 'build-image.sh')}\` (records the tag in ${blocksImageTagFile()}) and restart the worker`,
    );
  }
  const requirements = 'name' in block ? [] : [...new Set(block.requirements)].sort();
  if (requirements.length === 0) return base;
  const tag = requirementsImageTag(base.ref, requirements);
  const existing = await inspectImage(docker, tag);
  if (existing) return existing;
  let pending = inflightBuilds.get(tag);
  if (!pending) {
    pending = buildRequirementsImage(docker, baseImage, tag, requirements, buildLog, build).finally(() => inflightBuilds.delete(tag));
    inflightBuilds.set(tag, pending);
    pending.catch(() => undefined); // waiters may have gone (aborted); each awaits `pending` itself
  }
  await pending;
  const built = await inspectImage(docker, tag);
  if (!built) throw new ExecutorUnavailableError(`requirements image ${tag} vanished right after its build`);
  return built;
}

/**
 * `ragomics/blocks-ext:<16 hex>`: the first 16 hex digits of the sha256 of the base image Id and
 * the normalized requirement set, so the tag never holds requirement text (always a valid Docker
 * tag, whatever a requirement looks like, e.g. `pip>=1..9`) and one set gets one image.
 * Normalized: each requirement trimmed, its project name compared as PEP 503 says (case-insensitive,
 * runs of `-`, `_`, `.` alike), duplicates dropped, sorted; order and spelling of the name do not
 * matter. Already-normalized sets hash exactly as before this normalization existed, so images
 * built earlier are reused. 64 bits: a collision among a worker's few requirement sets has odds
 * of about n²/2⁶⁵.
 */
export function requirementsImageTag(baseImageId: string, requirements: readonly string[]): string {
  const normalized = [...new Set(requirements.map((r) => {
    const t = r.trim();
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$/s.exec(t);
    return m ? `${m[1]!.toLowerCase().replace(/[-_.]+/g, '-')}${m[2]}` : t;
  }))].sort();
  const hash = createHash('sha256').update(JSON.stringify({ base: baseImageId, requirements: normalized })).digest('hex');
  return `ragomics/blocks-ext:${hash.slice(0, 16)}`;
}

/**
 * The Id and digest of image `name`, or null when the engine does not have it.
 * @throws ExecutorUnavailableError when the engine cannot be asked.
 */
export async function inspectImage(docker: Docker, name: string): Promise<ResolvedImage | null> {
  try {
    const info = await docker.getImage(name).inspect();
    return { ref: info.Id, digest: info.RepoDigests?.[0] ?? info.Id };
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return null;
    throw new ExecutorUnavailableError(`cannot inspect image ${name}: ${(e as Error).message}`);
  }
}

async function buildRequirementsImage(
  docker: Docker,
  baseImage: string,
  tag: string,
  requirements: string[],
  buildLog: string,
  opts: RequirementsBuildOptions,
): Promise<void> {
  const context = await mkdtemp(path.join(os.tmpdir(), 'ragomics-ext-'));
  const log = createWriteStream(buildLog, { flags: 'a' });
  // Said in the log and in a failure: a build that cannot reach the index is usually a network or
  // CA setting of the worker (RAGOMICS_BUILD_NETWORK, RAGOMICS_BUILD_CA_BUNDLE / PIP_CERT).
  const settings = `build network ${opts.networkMode ?? "Docker's default (bridge)"}, CA bundle ${opts.caBundle ?? 'none'}`;
  log.write(`ragomics: building ${tag} FROM ${baseImage} (${settings})\n`);
  try {
    // Exec form: the requirement strings never pass through a shell. Root only for the install;
    // the image runs as the blocks user again. The build has network; the attempt later does not.
    const pip = ['python', '-m', 'pip', 'install', '--no-cache-dir', '--disable-pip-version-check'];
    const src = ['Dockerfile'];
    if (opts.caBundle) {
      await copyFile(opts.caBundle, path.join(context, 'ca.pem'));
      src.push('ca.pem');
      pip.push('--cert', '/ragomics-build-ca.pem');
    }
    const dockerfile = [
      `FROM ${baseImage}`,
      'USER root',
      ...(opts.caBundle ? ['COPY ca.pem /ragomics-build-ca.pem'] : []),
      `RUN ${JSON.stringify([...pip, ...requirements])}`,
      'USER 10001',
      '',
    ].join('\n');
    await writeFile(path.join(context, 'Dockerfile'), dockerfile);
    const stream = await docker.buildImage(
      { context, src },
      {
        t: tag, rm: true, forcerm: true,
        labels: { 'ragomics.requirements': JSON.stringify(requirements) },
        ...(opts.networkMode ? { networkmode: opts.networkMode } : {}),
      },
    );
    const error = await new Promise<string | null>((resolve) => {
      let failed: string | null = null;
      docker.modem.followProgress(
        stream,
        (err: Error | null) => resolve(err ? err.message : failed),
        (event: { stream?: string; error?: string }) => {
          if (event.stream) log.write(event.stream);
          if (event.error) {
            failed = event.error;
            log.write(`${event.error}\n`);
          }
        },
      );
    });
    if (error) {
      await new Promise((r) => log.end(r));
      const tail = await readTail(buildLog);
      throw new BlockCrashedError(`installing requirements ${JSON.stringify(requirements)} failed (${settings}; the worker's RAGOMICS_BUILD_NETWORK and RAGOMICS_BUILD_CA_BUNDLE set them): ${error}${logTailSection(buildLog, tail)}`, {
        stderrTail: tail,
        logDir: path.dirname(buildLog),
      });
    }
  } finally {
    log.end();
    await rm(context, { recursive: true, force: true });
  }
}
