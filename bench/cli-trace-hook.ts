/**
 * A `--require` hook for bench/cli-startup.ts: where a `ragomics` command's time goes. Loaded with
 * `node --require dist/bench/cli-trace-hook.js bin/ragomics.js ...` and `RAGOMICS_CLI_TRACE=FILE`,
 * it records, in milliseconds since the process started (`performance.timeOrigin`):
 *   - `hook`: when Node had started up enough to run this file;
 *   - `main`: when bin/ragomics.js started (the main module's load);
 *   - `modules`: each module required by bin/ragomics.js and the CLI's own files
 *     (dist/client/cli.js and dist/client/cli/*.js), inclusive of what it pulls in, in load order;
 *   - `rpcs`: every unary gRPC call (method, start, end), e.g. GetSystemInfo (the connection),
 *     StartWorkflowExecution, DescribeTaskQueue, QueryWorkflow, GetWorkflowExecutionHistory
 *     (the result's long poll);
 *   - `exit`: the process's `exit` event;
 * and writes them as JSON to FILE at exit. It imports nothing of the project, so it does not
 * change what the CLI loads; its own cost is a few tenths of a millisecond per require.
 */
import { writeFileSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';

/** What the hook writes. */
export interface CliTrace {
  /** `performance.timeOrigin`: the process's start, epoch milliseconds. */
  origin: number;
  hook: number;
  main?: number;
  modules: { request: string; from: string; start: number; ms: number }[];
  rpcs: { method: string; start: number; end?: number }[];
  exit?: number;
}

const now = (): number => performance.now();
const trace: CliTrace = { origin: performance.timeOrigin, hook: now(), modules: [], rpcs: [] };
const out = process.env.RAGOMICS_CLI_TRACE;

interface Loader { _load(request: string, parent: { filename?: string } | null | undefined, isMain: boolean): unknown }
const loader = Module as unknown as Loader;
const origLoad = loader._load.bind(Module);
const cliDir = `${path.sep}dist${path.sep}client${path.sep}`;
let grpcPatched = false;

loader._load = function load(request: string, parent: { filename?: string } | null | undefined, isMain: boolean): unknown {
  if (isMain) trace.main = now();
  const from = parent?.filename ?? '';
  const own = (from.includes(cliDir) && (from.endsWith(`${cliDir}cli.js`) || from.includes(`${cliDir}cli${path.sep}`))) || from.endsWith(`${path.sep}bin${path.sep}ragomics.js`);
  const start = now();
  const exports = origLoad(request, parent, isMain);
  if (own) trace.modules.push({ request, from: path.basename(from), start, ms: now() - start });
  if (!grpcPatched && request === '@grpc/grpc-js') patchGrpc(exports as GrpcModule);
  return exports;
};

type Fn = (...args: unknown[]) => unknown;
interface GrpcModule { Client: { prototype: { makeUnaryRequest: Fn; waitForReady: Fn } } }

/** Times each unary call and the channel's waitForReady (the TCP and HTTP/2 set-up): from the call to its callback. */
function patchGrpc(grpc: GrpcModule): void {
  grpcPatched = true;
  const proto = grpc.Client.prototype;
  proto.makeUnaryRequest = timed(proto.makeUnaryRequest, (args) => String(args[0]).split('/').pop() ?? '?');
  proto.waitForReady = timed(proto.waitForReady, () => 'waitForReady');
}

function timed(orig: Fn, name: (args: unknown[]) => string): Fn {
  return function call(this: unknown, ...args: unknown[]): unknown {
    const rec: CliTrace['rpcs'][number] = { method: name(args), start: now() };
    trace.rpcs.push(rec);
    const cbIndex = args.length - 1;
    if (typeof args[cbIndex] === 'function') {
      const cb = args[cbIndex] as (...a: unknown[]) => unknown;
      args[cbIndex] = (...a: unknown[]): unknown => {
        rec.end = now();
        return cb(...a);
      };
    }
    return orig.apply(this, args);
  };
}

process.on('exit', () => {
  trace.exit = now();
  if (out) writeFileSync(out, JSON.stringify(trace));
});
