#!/usr/bin/env node
// Bundles the workflow code once (dist/workflow-bundle.js) so every worker of a test run or a
// deployment loads the same prebuilt bundle instead of re-bundling at start (about 1 s each).
// Usage: node scripts/bundle-workflows.js [OUT]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { bundleWorkflowCode } = require('@temporalio/worker');

async function main() {
  const out = process.argv[2] ?? path.join(__dirname, '..', 'dist', 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../dist/workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  console.error(`[ragomics] workflow bundle: ${path.relative(process.cwd(), out)} (${(code.length / 1024).toFixed(0)} KiB)`);
}
main().catch((err) => {
  console.error(`[ragomics] ERROR: bundling the workflows failed: ${err.message}`);
  process.exit(1);
});
