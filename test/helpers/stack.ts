/**
 * The production stack (docker-compose.yml through scripts/stack.sh) for the tests that run
 * against it: one stack per test file, on its own compose project name, ports taken from the OS
 * and its own workspace folder, so it never meets the dev server on 7233 or another file's stack.
 * Everything goes through `scripts/stack.sh` (the same command a user runs), never through a
 * second way of bringing the stack up.
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, freePort, removeTree, tailOf, tempDir } from './processes';

const run = promisify(execFile);

/** The worker services of docker-compose.yml: task queue `ragomics` ... */
export const GENERAL_WORKERS = ['worker-1', 'worker-2', 'worker-3'] as const;
/** ... and the one serving task queue `highmem`. */
export const HIGHMEM_WORKER = 'worker-highmem';
/** The task queue of {@link HIGHMEM_WORKER}. */
export const HIGHMEM_QUEUE = 'highmem';

/** Bringing the stack up from warm images: measured about 1 minute here; up to 5 under load. */
export const STACK_UP_MS = 600_000;
/** `down` gives running workers their stop grace (45 s) before SIGKILL. */
export const STACK_DOWN_MS = 180_000;

/** One stack brought up by {@link startStack}. */
export interface Stack {
  /** Compose project name. */
  name: string;
  /** host:port of its Temporal frontend. */
  address: string;
  /** URL of its Web UI. */
  uiUrl: string;
  /** Host folder holding `workspace/` and `data/` (mounted at the same path in the workers). */
  dir: string;
  /** The workspace the workers write (`<dir>/workspace`). */
  workspace: string;
  /** Where stack.sh's output goes. */
  log: string;
  /** The environment every stack.sh call of this stack gets. */
  env: NodeJS.ProcessEnv;
}

/**
 * Runs `scripts/stack.sh ARGS` for `stack` and returns its stdout; throws with the command, its
 * exit code and the tail of its log when it fails or outlasts `timeoutMs`.
 */
export async function stackSh(stack: Pick<Stack, 'env' | 'log'>, args: string[], timeoutMs: number): Promise<string> {
  const out = createWriteStream(stack.log, { flags: 'a' });
  out.write(`\n$ scripts/stack.sh ${args.join(' ')}   (${new Date().toISOString()})\n`);
  const child = spawn('bash', [path.join(REPO_ROOT, 'scripts', 'stack.sh'), ...args], { cwd: REPO_ROOT, env: stack.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); out.write(d); });
  child.stderr.pipe(out, { end: false });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  await new Promise((r) => out.end(r));
  if (code !== 0) throw new Error(`scripts/stack.sh ${args.join(' ')} exited ${code ?? 'on a signal (timeout)'}; log ${stack.log}:\n${tailOf(stack.log, 3000)}`);
  return stdout;
}

/**
 * Brings up a stack named `rg-<prefix>-<pid>` with free ports and a fresh folder. `env` adds
 * settings (e.g. RAGOMICS_MAX_CONCURRENT_NODES). Resolves when stack.sh reported the frontend's
 * address (it waits for the namespace and search attributes itself).
 */
export async function startStack(prefix: string, env: Record<string, string> = {}): Promise<Stack> {
  const dir = tempDir(`stack-${prefix}`);
  mkdirSync(path.join(dir, 'workspace'), { recursive: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const name = `rg-${prefix}-${process.pid}`;
  const [port, uiPort] = [await freePort(), await freePort()];
  const stackEnv: NodeJS.ProcessEnv = {
    ...process.env, ...env,
    RAGOMICS_STACK_NAME: name, RAGOMICS_STACK_PORT: String(port), RAGOMICS_STACK_UI_PORT: String(uiPort), RAGOMICS_STACK_DIR: dir,
  };
  const stack: Stack = { name, address: '', uiUrl: '', dir, workspace: path.join(dir, 'workspace'), log: path.join(dir, 'stack.log'), env: stackEnv };
  const out = await stackSh(stack, ['up'], STACK_UP_MS);
  const address = /^TEMPORAL_ADDRESS=(\S+)$/m.exec(out)?.[1];
  if (!address) throw new Error(`scripts/stack.sh up printed no TEMPORAL_ADDRESS= line; log ${stack.log}`);
  stack.address = address;
  stack.uiUrl = /^RAGOMICS_STACK_UI=(\S+)$/m.exec(out)?.[1] ?? `http://127.0.0.1:${uiPort}`;
  return stack;
}

/** `docker compose ARGS` on this stack (through stack.sh); returns stdout. */
export function compose(stack: Stack, args: string[], timeoutMs = 120_000): Promise<string> {
  return stackSh(stack, ['compose', ...args], timeoutMs);
}

/** The container id of `service` in `stack` (the running one). */
export async function containerOf(stack: Stack, service: string): Promise<string> {
  const id = (await compose(stack, ['ps', '-q', service])).trim().split('\n')[0];
  if (!id) throw new Error(`service ${service} of stack ${stack.name} has no container`);
  return id;
}

/** Runs `docker ARGS` (the system engine); returns stdout. */
export async function docker(args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: timeoutMs });
  return stdout;
}

/**
 * Takes the stack down with its volumes and deletes its folder (RAGOMICS_STACK_KEEP=1 keeps
 * both for a post-mortem). Never throws: it runs in `after()`, and a failure there is printed.
 */
export async function stopStack(stack: Stack | undefined): Promise<void> {
  if (!stack) return;
  if (process.env.RAGOMICS_STACK_KEEP === '1') {
    console.log(`[stack] kept ${stack.name} (folder ${stack.dir}); remove it with RAGOMICS_STACK_NAME=${stack.name} bash scripts/stack.sh down --volumes`);
    return;
  }
  try {
    await stackSh(stack, ['down', '--volumes'], STACK_DOWN_MS);
  } catch (e) {
    console.log(`[stack] down failed for ${stack.name}: ${(e as Error).message}`);
  }
  await removeTree(stack.dir);
}
