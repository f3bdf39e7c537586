#!/usr/bin/env node
// Takes screenshots of the Temporal Web UI showing a running tree: the workflow list (search
// attributes: tree state, node counts) and the tree's page (static summary and details, current
// details with progress, pending node activities named by their summaries). Writes
// docs/web-ui-tree-list.png and docs/web-ui-tree-running.png.
// Needs the dev server (scripts/ensure-temporal.sh), a build (npx tsc -p .), Debian's chromium.
//   TEMPORAL_ADDRESS=127.0.0.1:7233 node scripts/web-ui-screenshot.js
'use strict';
const path = require('node:path');
const { chromium } = require('playwright-core');
const { sleepNode, uid, withWorker } = require('../dist/test/helpers/harness');

const UI = process.env.TEMPORAL_UI ?? 'http://127.0.0.1:8233';
const DOCS = path.join(__dirname, '..', 'docs');

async function main() {
  await withWorker({ maxConcurrentNodes: 4 }, async ({ client }) => {
    const tree = await client.startTree({
      id: uid('pbmc-cohort'),
      userRequest: 'Cohort demo: QC, normalisation and clustering of 4 PBMC samples',
      maxParallelJobs: 3,
      nodes: [
        sleepNode('qc', 1),
        ...['s1', 's2', 's3', 's4'].map((s) => sleepNode(`normalize-${s}`, 40, { parentId: 'qc' })),
      ],
      maxChildrenPerNode: 6,
    });
    // Wait until some nodes completed and three are running.
    for (let i = 0; i < 100; i++) {
      const s = await tree.summary();
      if (s.counts.COMPLETED >= 1 && s.counts.RUNNING >= 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 5500)); // let the search attributes upsert land
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
      await page.goto(`${UI}/namespaces/default/workflows/${tree.treeId}`, { waitUntil: 'load' });
      await page.waitForTimeout(4000);
      await page.screenshot({ path: path.join(DOCS, 'web-ui-tree-running.png'), fullPage: true });
      // The tree's own summary, details and current details (progress) are under "User Metadata".
      await page.getByText('User Metadata', { exact: true }).first().click().catch(() => undefined);
      await page.waitForTimeout(1000);
      await page.screenshot({ path: path.join(DOCS, 'web-ui-tree-metadata.png'), fullPage: true });
      const q = encodeURIComponent(`WorkflowId = "${tree.treeId}"`);
      await page.goto(`${UI}/namespaces/default/workflows?query=${q}`, { waitUntil: 'load' });
      await page.waitForTimeout(4000);
      await page.screenshot({ path: path.join(DOCS, 'web-ui-tree-list.png') });
      console.log(`screenshots of ${tree.treeId} written to docs/`);
    } finally {
      await browser.close();
    }
    await tree.cancel('screenshots taken');
    await tree.result();
  });
}
main().catch((e) => { console.error(e); process.exit(1); });
