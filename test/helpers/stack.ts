/**
 * The production stack (docker-compose.yml) driven through `scripts/stack.sh`, as a user would,
 * for tests. Each test file brings up its own stack: its own compose project name, free host
 * ports and folder, so it runs beside the shared dev server and other stacks, and
 * `down --volumes` removes everything it started except the folder, which the caller deletes.
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../activities/executors/repo-root';
import { freePort, removeTree, tempDir } from './processes';

const STACK_SH = path.join(repoRoot(), 'scripts', 'stack.sh');

/**
 * Bound on `stack.sh up`: on a machine where nothing is built yet it includes the Go build of the
 * Temporal server (about 5 minutes cold on 2 cores) and every image; `scripts/test.sh` builds them
 * before the tests (`stack.sh images`), so under the suite `up` takes well under a minute.
 */
export const STACK_UP_TIMEOUT_MS = 45 * 60_000;
/** Bound on `stack.sh down`: workers get their 45 s stop grace when nodes run. */
export const STACK_DOWN_TIMEOUT_MS = 3 * 60_000;

/** Exit code and output of one `stack.sh` run. */
export interface StackRun { code: number | null; stdout: string; stderr: string }

/**
 * Runs `bash scripts/stack.sh ARGS...` with `env` (the whole environment); resolves when it
 * exits; killed (SIGKILL, code null) after `timeoutMs`.
 */
export function stackSh(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<StackRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [STACK_SH, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A stack brought up by {@link startStack}. */
export interface Stack {
  /** Compose project name (RAGOMICS_STACK_NAME). */
  name: string;
  /** Temporal frontend on the host, as `up` printed it (TEMPORAL_ADDRESS). */
  address: string;
  /** Web UI on the host, as `up` printed it (RAGOMICS_STACK_UI). */
  uiUrl: string;
  /** Host folder holding workspace/ and data/ (RAGOMICS_STACK_DIR). */
  dir: string;
  /** The environment every `stack.sh` call of this stack gets. */
  env: NodeJS.ProcessEnv;
  /** `stack.sh up`'s own output (step times on stderr). */
  up: StackRun;
  /** `stack.sh compose ARGS...` for this stack. */
  compose(args: string[], timeoutMs?: number): Promise<StackRun>;
  /** `stack.sh down --volumes` for this stack. */
  down(): Promise<StackRun>;
}

/** Settings of a stack that is not up yet: name, free ports, folder, environment. */
export async function stackSettings(prefix: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Pick<Stack, 'name' | 'dir' | 'env'> & { port: number; uiPort: number }> {
  const name = `${prefix}${process.pid}`.toLowerCase().replace(/[^a-z0-9_-]/g, '');
  const port = await freePort();
  let uiPort = await freePort();
  while (uiPort === port) uiPort = await freePort();
  const dir = tempDir(`ragomics-${name}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RAGOMICS_STACK_NAME: name,
    RAGOMICS_STACK_PORT: String(port),
    RAGOMICS_STACK_UI_PORT: String(uiPort),
    RAGOMICS_STACK_DIR: dir,
    ...extraEnv,
  };
  return { name, dir, env, port, uiPort };
}

/** The value of `KEY=value` on its own line of `text`. */
function lineValue(text: string, key: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
}

/**
 * Brings up a stack named PREFIX<pid> on free ports with `stack.sh up` and returns it.
 * @throws Error with `up`'s exit code and the end of its stderr when it fails (the stack may be
 *   partly up: call {@link stackSh} `down --volumes` with the same settings to clean up).
 */
export async function startStack(prefix: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Stack> {
  const s = await stackSettings(prefix, extraEnv);
  const compose = (args: string[], timeoutMs = STACK_DOWN_TIMEOUT_MS) => stackSh(['compose', ...args], s.env, timeoutMs);
  const down = () => stackSh(['down', '--volumes'], s.env, STACK_DOWN_TIMEOUT_MS);
  const up = await stackSh(['up'], s.env, STACK_UP_TIMEOUT_MS);
  const address = lineValue(up.stdout, 'TEMPORAL_ADDRESS');
  const uiUrl = lineValue(up.stdout, 'RAGOMICS_STACK_UI');
  if (up.code !== 0 || !address || !uiUrl) {
    await down();
    throw new Error(`stack.sh up exited ${up.code} (stdout: ${JSON.stringify(up.stdout)}); stderr ends:\n${up.stderr.slice(-3000)}`);
  }
  return { name: s.name, dir: s.dir, env: s.env, address, uiUrl, up, compose, down };
}

/** Ids of every container (running or not) of compose project `name`. */
export function projectContainers(name: string): string[] {
  return execFileSync('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${name}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

// ---- for the multi-host and fault tests --------------------------------------------------------

/** The worker services of docker-compose.yml on task queue `ragomics` ... */
export const GENERAL_WORKERS = ['worker-1', 'worker-2', 'worker-3'] as const;
/** ... and the one serving task queue {@link HIGHMEM_QUEUE}. */
export const HIGHMEM_WORKER = 'worker-highmem';
/** The task queue of {@link HIGHMEM_WORKER}. */
export const HIGHMEM_QUEUE = 'highmem';
/** `stack.sh up` once the images exist: about 30 s measured here; bounded generously for load. */
export const STACK_WARM_UP_MS = 600_000;

/** Runs `stack.sh ARGS` for `stack` and returns its stdout; throws with its exit code and stderr's end when it fails. */
export async function stackShOk(stack: Pick<Stack, 'env'>, args: string[], timeoutMs: number): Promise<string> {
  const r = await stackSh(args, stack.env, timeoutMs);
  if (r.code !== 0) throw new Error(`stack.sh ${args.join(' ')} exited ${r.code ?? 'on a signal (timeout)'}; stderr ends:\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

/** The container id of compose service `service` of `stack` (throws when it has none). */
export async function containerOf(stack: Stack, service: string): Promise<string> {
  const id = (await stackShOk(stack, ['compose', 'ps', '-q', service], STACK_DOWN_TIMEOUT_MS)).trim().split('\n')[0];
  if (!id) throw new Error(`service ${service} of stack ${stack.name} has no container`);
  return id;
}

/** `docker ARGS` on the system engine; returns stdout (throws on a non-zero exit). */
export function docker(args: string[], timeoutMs = 120_000): string {
  return execFileSync('docker', args, { encoding: 'utf8', timeout: timeoutMs });
}

/**
 * `down --volumes` and the folder deleted (RAGOMICS_STACK_KEEP=1 keeps both for a post-mortem).
 * Never throws: it runs in `after()`; a failure is printed.
 */
export async function stopStack(stack: Stack | undefined): Promise<void> {
  if (!stack) return;
  if (process.env.RAGOMICS_STACK_KEEP === '1') {
    console.log(`[stack] kept ${stack.name} (folder ${stack.dir}); remove it with RAGOMICS_STACK_NAME=${stack.name} bash scripts/stack.sh down --volumes`);
    return;
  }
  const r = await stack.down().catch((e: unknown) => ({ code: -1, stdout: '', stderr: String(e) }));
  if (r.code !== 0) console.log(`[stack] down failed for ${stack.name}: exit ${r.code}; ${r.stderr.slice(-1000)}`);
  await removeTree(stack.dir);
}

/** The workspace the stack's workers write: `<dir>/workspace`, the same path on the host. */
export function workspaceOf(stack: Pick<Stack, 'dir'>): string {
  return path.join(stack.dir, 'workspace');
}
