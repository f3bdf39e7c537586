/**
 * A `--require` hook for bench/cli-startup.ts: where a `ragomics` command's time goes. Loaded with
 * `node --require dist/bench/cli-trace-hook.js bin/ragomics.js ...` and `RAGOMICS_CLI_TRACE=FILE`,
 * it records, in milliseconds since the process started (`performance.timeOrigin`):
 *   - `hook`: when Node had started up enough to run this file;
 *   - `main`: when bin/ragomics.js started (the main module's load);
 *   - `modules`: each module required by bin/ragomics.js and the CLI's own files
 *     (dist/client/cli.js and dist/client/cli/*.js), inclusive of what it pulls in, in load order
 *     (with the one-file bundle: the bundle, whose modules are inside it);
 *   - `rpcs`: the connection (`connect`: TCP and HTTP/2) and every gRPC call (method, start, end),
 *     e.g. GetSystemInfo, StartWorkflowExecution, DescribeTaskQueue, QueryWorkflow,
 *     GetWorkflowExecutionHistory (the result's long poll), timed at Node's http2 module;
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
let http2Patched = false;

loader._load = function load(request: string, parent: { filename?: string } | null | undefined, isMain: boolean): unknown {
  if (isMain) trace.main = now();
  const from = parent?.filename ?? '';
  const own = (from.includes(cliDir) && (from.endsWith(`${cliDir}cli.js`) || from.includes(`${cliDir}cli${path.sep}`))) || from.endsWith(`${path.sep}bin${path.sep}ragomics.js`);
  const start = now();
  const exports = origLoad(request, parent, isMain);
  if (own) trace.modules.push({ request, from: path.basename(from), start, ms: now() - start });
  if (!http2Patched && (request === 'http2' || request === 'node:http2')) patchHttp2(exports as Http2Module);
  return exports;
};

/*
 * The calls are timed at Node's http2 module, which grpc-js uses for every call: built in, it is
 * required through Module._load whether grpc-js is one of the modules of node_modules or inside the
 * CLI's one-file bundle (scripts/bundle-cli.js), which this hook cannot reach into.
 */
interface Http2Stream { once(event: 'close', fn: () => void): unknown }
interface Http2Session {
  once(event: 'connect', fn: () => void): unknown;
  request: (headers: Record<string, unknown> | undefined, ...rest: unknown[]) => Http2Stream;
}
interface Http2Module { connect: (...args: unknown[]) => Http2Session }

/**
 * Times the connection (`connect`: from http2.connect to the session's connect event, i.e. TCP and
 * the HTTP/2 set-up) and each call (its method, from the request to the stream's close, i.e. the
 * status received).
 */
function patchHttp2(h2: Http2Module): void {
  http2Patched = true;
  const connect = h2.connect;
  h2.connect = function timedConnect(this: unknown, ...args: unknown[]): Http2Session {
    const rec: CliTrace['rpcs'][number] = { method: 'connect', start: now() };
    trace.rpcs.push(rec);
    const session = connect.apply(this, args);
    session.once('connect', () => {
      rec.end = now();
    });
    const request = session.request;
    session.request = function timedRequest(this: unknown, headers: Record<string, unknown> | undefined, ...rest: unknown[]): Http2Stream {
      const call: CliTrace['rpcs'][number] = { method: String(headers?.[':path'] ?? '?').split('/').pop() ?? '?', start: now() };
      trace.rpcs.push(call);
      const stream = request.call(this, headers, ...rest);
      stream.once('close', () => {
        call.end = now();
      });
      return stream;
    };
    return session;
  };
}

process.on('exit', () => {
  trace.exit = now();
  if (out) writeFileSync(out, JSON.stringify(trace));
});
