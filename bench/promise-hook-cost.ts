/**
 * What one promise created in workflow code costs the Temporal SDK's promise hook, with and
 * without the bundle's source map (issue 15, goal 3; BENCHMARKS.md section 1). Installs the SDK's
 * own hook (`@temporalio/worker/lib/workflow/vm-shared.js`, the one a worker's workflow thread
 * runs), registers the bundle's inline source map (`full`), an empty one (`empty`) or none
 * (`none`), and creates promises 12 frames deep in a vm context that looks like a workflow's;
 * `off` is the same context without an activator (the hook returns at once). A profiling aid,
 * not a benchmark: it records nothing.
 *   npx tsc -p . && node scripts/bundle-workflows.js && node dist/bench/promise-hook-cost.js [full|empty|none|off] [N]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { repoRoot } from '../activities/executors/repo-root';

interface GlobalHandlers {
  install(): void;
  addWorkflowBundle(bundle: { filename: string; sourceMap: unknown }): Promise<void>;
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'full';
  const n = Number(process.argv[3] ?? 20000);
  if (!['full', 'empty', 'none', 'off'].includes(mode)) throw new Error(`mode: full, empty, none or off, got "${mode}"`);
  if (!Number.isInteger(n) || n < 1) throw new Error(`N: a whole number ≥ 1, got "${process.argv[3]}"`);
  // The SDK's internal module: the hook itself, not a copy of it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { globalHandlers } = require('@temporalio/worker/lib/workflow/vm-shared') as { globalHandlers: GlobalHandlers };
  const code = readFileSync(path.join(repoRoot(), 'dist', 'workflow-bundle.js'), 'utf8');
  const at = code.lastIndexOf('base64,');
  if (at < 0) throw new Error('dist/workflow-bundle.js has no inline source map (run node scripts/bundle-workflows.js)');
  const filename = path.join(repoRoot(), 'dist', 'hook-cost-script.js');
  globalHandlers.install();
  if (mode === 'full') await globalHandlers.addWorkflowBundle({ filename, sourceMap: JSON.parse(Buffer.from(code.slice(at + 7).trimEnd(), 'base64').toString()) });
  if (mode === 'empty') await globalHandlers.addWorkflowBundle({ filename, sourceMap: { version: 3, file: filename, sources: [], names: [], mappings: '' } });
  const context = vm.createContext({});
  // Blank lines first, so the frames' line numbers fall inside the bundle's map.
  new vm.Script(`${'\n'.repeat(15000)}
globalThis.__TEMPORAL_ACTIVATOR__ = ${mode === 'off' ? 'undefined' : '{ info: { runId: "r" }, promiseStackStore: { promiseToStack: new Map(), childToParent: new Map() } }'};
function deep(k, f) { return k === 0 ? f() : deep(k - 1, f); }
globalThis.run = function (n) { let p; for (let i = 0; i < n; i++) p = deep(12, () => new Promise(() => {})); return p; };
`, { filename }).runInContext(context);
  const run = (context as { run(n: number): unknown }).run;
  run(Math.min(2000, n)); // warm-up
  const t0 = process.hrtime.bigint();
  run(n);
  const us = Number(process.hrtime.bigint() - t0) / n / 1000;
  console.log(`${mode}: ${us.toFixed(1)} µs per promise created in workflow context (${n} promises)`);
}

main().catch((err: unknown) => { console.error(err instanceof Error ? err.message : err); process.exit(1); });
