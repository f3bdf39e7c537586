/**
 * Results reused across trees (issue 14, part 1) on the real server, the real Docker engine and
 * the blocks image, with the PBMC dataset: trees started one after another in one workspace.
 *
 * - A second tree sharing a QC → normalize prefix completes those nodes from the cache
 *   (`cached: true`, `cachedFrom` the first tree, the same inode, no executor run), and its
 *   differing leaf (another parameter: another key) runs.
 * - `cache: false` on a tree or a node: that work runs and publishes nothing.
 * - Inline code without `deterministic` runs every time; with it, it is reused.
 * - A corrupt entry is a miss, is not used and is moved aside.
 * - A failed node leaves nothing in the cache.
 *
 * Which nodes ran is recorded by wrapping the worker's executor: a node that reused a result
 * never reaches it, so no container was started for it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TreeSpecInput } from '../common/schemas';
import { NodeResultSchema } from '../common/schemas';
import { entryDir } from '../activities/cache/store';
import type { RagomicsClient } from '../client/sdk';
import { collectReport } from '../client/report/collect';
import { ragomics } from './helpers/cli';
import { uid, waitFor, withWorker } from './helpers/harness';
import { PROJECT_ROOT } from '../workers/config';

const DATASET = path.join(PROJECT_ROOT, '.data', 'datasets', 'pbmc68k_counts.h5ad');

const QC = { name: 'quality_control', parameters: { min_genes: 10, min_cells: 1, max_pct_mito: null } } as const;
const NORM = { name: 'normalize', parameters: {} } as const;
const pca = (n: number) => ({ name: 'pca', parameters: { n_comps: n, use_highly_variable: false } }) as const;
const PASS_THROUGH = 'def run(adata=None, **parameters):\n    return adata\n';

type Status = Awaited<ReturnType<ReturnType<RagomicsClient['getTree']>['status']>>;
type Node = Status['nodes'][number];

/** Runs a tree to its end; returns its status by node id. */
async function runTree(client: RagomicsClient, spec: TreeSpecInput, expect: 'COMPLETED' | 'FAILED' = 'COMPLETED'): Promise<{ treeId: string; nodes: Map<string, Node> }> {
  const tree = await client.startTree({ inputDataPath: DATASET, ...spec });
  const result = await tree.result();
  assert.equal(result.state, expect, JSON.stringify(result.failures));
  const status = await tree.status();
  return { treeId: tree.treeId, nodes: new Map(status.nodes.map((n) => [n.id, n])) };
}

/** The node-result.json a node published. */
function published(n: Node) {
  return NodeResultSchema.parse(JSON.parse(readFileSync(path.join(path.dirname(n.outputPath!), 'node-result.json'), 'utf8')));
}

describe('results reused across trees (Docker, blocks image, PBMC)', { timeout: 900_000 }, () => {
  void test('prefix reuse, switches, inline determinism, parameter change, corrupt entry, failures not cached', async () => {
    assert.ok(existsSync(DATASET), `dataset missing: run scripts/fetch-dataset.sh (${DATASET})`);
    await withWorker({ executor: 'docker', maxConcurrentNodes: 3, defaultMemoryMB: 1024 }, async ({ client, rw, workspace }) => {
      // Every node that reaches the executor (that is, starts a container), as "<treeId>/<nodeId>".
      const ran: string[] = [];
      const run = rw.executor.run.bind(rw.executor);
      rw.executor.run = (job, ctl) => {
        ran.push(`${job.treeId}/${job.nodeId}`);
        return run(job, ctl);
      };
      const ranIn = (treeId: string) => ran.filter((r) => r.startsWith(`${treeId}/`)).map((r) => r.slice(treeId.length + 1)).sort();
      const entries = () => (existsSync(path.join(workspace, 'cache', 'entries')) ? readdirSync(path.join(workspace, 'cache', 'entries')).sort() : []);

      // 1. The first tree computes everything and fills the cache.
      const a = await runTree(client, { id: uid('cache-a'), nodes: [
        { id: 'qc', block: QC }, { id: 'norm', parentId: 'qc', block: NORM }, { id: 'pca', parentId: 'norm', block: pca(10) },
      ] });
      assert.deepEqual(ranIn(a.treeId), ['norm', 'pca', 'qc']);
      for (const id of ['qc', 'norm', 'pca']) {
        const n = a.nodes.get(id)!;
        assert.equal(n.cache?.hit, false, `${id} computed`);
        assert.match(n.cache!.key, /^[0-9a-f]{64}$/);
        assert.equal(published(n).cacheKey, n.cache!.key);
        assert.equal(published(n).cached, false);
      }
      assert.deepEqual(entries(), ['qc', 'norm', 'pca'].map((id) => a.nodes.get(id)!.cache!.key).sort(), 'one entry per computed node');

      // 2. The second tree shares the prefix: QC and normalize are reused, its leaf (another n_comps) runs.
      const b = await runTree(client, { id: uid('cache-b'), nodes: [
        { id: 'qc2', block: QC }, { id: 'norm2', parentId: 'qc2', block: NORM }, { id: 'pca2', parentId: 'norm2', block: pca(5) },
      ] });
      assert.deepEqual(ranIn(b.treeId), ['pca2'], 'no container for the reused prefix');
      for (const [mine, theirs] of [['qc2', 'qc'], ['norm2', 'norm']] as const) {
        const n = b.nodes.get(mine)!;
        const from = a.nodes.get(theirs)!;
        assert.equal(n.state, 'COMPLETED');
        assert.equal(n.cache?.hit, true, `${mine} reused`);
        assert.equal(n.cache?.key, from.cache?.key, `${mine} has ${theirs}'s key (ids are not in it)`);
        assert.equal(n.cache?.from?.nodeId, theirs);
        assert.deepEqual(n.events?.map((e) => e.kind), ['cache-hit'], `${mine}: the reuse is in its provenance events`);
        assert.match(n.events![0]!.detail, new RegExp(`node ${theirs} attempt 1`));
        assert.ok(n.cache?.from?.treeId.startsWith(`${a.treeId}.`), `from the first tree's workspace: ${n.cache?.from?.treeId}`);
        const r = published(n);
        assert.equal(r.cached, true);
        assert.deepEqual(r.cachedFrom, n.cache?.from);
        assert.equal(n.sha256, from.sha256);
        assert.notEqual(n.outputPath, from.outputPath, 'published in the second tree');
        assert.equal(statSync(n.outputPath!).ino, statSync(from.outputPath!).ino, 'the same file (a hard link), no copy');
        assert.equal(n.attempts, 1);
      }
      const leaf = b.nodes.get('pca2')!;
      assert.equal(leaf.cache?.hit, false, 'a changed parameter is another key: a miss');
      assert.notEqual(leaf.cache?.key, a.nodes.get('pca')!.cache?.key);
      assert.equal(statSync(leaf.outputPath!).ino !== statSync(a.nodes.get('pca')!.outputPath!).ino, true);

      // The report counts them: two hits (their outputs' bytes saved), one miss.
      const report = await collectReport(client.getTree(b.treeId), { workspace });
      assert.equal(report.cache?.hits, 2);
      assert.equal(report.cache?.misses, 1);
      assert.ok((report.cache?.bytesSaved ?? 0) >= statSync(b.nodes.get('qc2')!.outputPath!).size + statSync(b.nodes.get('norm2')!.outputPath!).size);

      // 3. cache: false on the tree (what `ragomics run --no-cache` sets): everything runs, nothing is published, no cache facts.
      const before = entries();
      const c = await runTree(client, { id: uid('cache-off'), cache: false, nodes: [{ id: 'qc', block: QC }, { id: 'norm', parentId: 'qc', block: NORM }] });
      assert.deepEqual(ranIn(c.treeId), ['norm', 'qc']);
      for (const n of c.nodes.values()) assert.equal(n.cache, undefined, `${n.id} was not cacheable`);
      assert.equal(published(c.nodes.get('qc')!).cacheKey, null);

      // 4. cache: false on one node: that node runs (and publishes nothing), its parent is still reused.
      const d = await runTree(client, { id: uid('cache-node-off'), nodes: [{ id: 'qc', block: QC }, { id: 'norm', parentId: 'qc', block: NORM, cache: false }] });
      assert.deepEqual(ranIn(d.treeId), ['norm']);
      assert.equal(d.nodes.get('qc')!.cache?.hit, true);
      assert.equal(d.nodes.get('norm')!.cache, undefined);
      assert.deepEqual(entries(), before, 'trees and nodes without cache published nothing');

      // 5. Inline code: without `deterministic` it runs every time; with it, the second run is reused (here within one tree).
      const e = await runTree(client, { id: uid('cache-inline'), nodes: [
        { id: 'plain1', block: { code: PASS_THROUGH } },
        { id: 'plain2', block: { code: PASS_THROUGH }, dependencies: ['plain1'] },
        { id: 'det1', block: { code: PASS_THROUGH, deterministic: true } },
        { id: 'det2', block: { code: PASS_THROUGH, deterministic: true }, dependencies: ['det1'] },
      ] });
      assert.deepEqual(ranIn(e.treeId), ['det1', 'plain1', 'plain2']);
      assert.equal(e.nodes.get('plain1')!.cache, undefined);
      assert.equal(e.nodes.get('plain2')!.cache, undefined);
      assert.equal(e.nodes.get('det2')!.cache?.hit, true);
      assert.equal(e.nodes.get('det2')!.cache?.from?.nodeId, 'det1');

      // 6. A failed node leaves nothing in the cache: the same failing work runs (and fails) again.
      const boom = { code: 'def run(adata=None, **parameters):\n    raise ValueError("boom")\n', deterministic: true };
      const f1 = await runTree(client, { id: uid('cache-fail'), nodes: [{ id: 'bad', block: boom }] }, 'FAILED');
      const badKey = f1.nodes.get('bad')!.cache?.key;
      assert.match(badKey ?? '', /^[0-9a-f]{64}$/);
      assert.equal(f1.nodes.get('bad')!.cache?.hit, false);
      assert.ok(!existsSync(entryDir(workspace, badKey!)), 'no entry for a failure');
      const f2 = await runTree(client, { id: uid('cache-fail'), nodes: [{ id: 'bad', block: boom }] }, 'FAILED');
      assert.deepEqual(ranIn(f2.treeId), ['bad'], 'the failure was not reused: it ran again');
      assert.match(f2.nodes.get('bad')!.error ?? '', /boom/);

      // 7. A corrupt entry (its data overwritten) is a miss, is not used, and is moved aside.
      const normKey = a.nodes.get('norm')!.cache!.key;
      const data = path.join(entryDir(workspace, normKey), '_node_anndata.h5ad');
      chmodSync(data, 0o644);
      writeFileSync(data, 'not an AnnData any more');
      const g = await runTree(client, { id: uid('cache-corrupt'), nodes: [{ id: 'qc', block: QC }, { id: 'norm', parentId: 'qc', block: NORM }] });
      assert.equal(g.nodes.get('qc')!.cache?.hit, true, 'the intact entry is still used');
      assert.equal(g.nodes.get('norm')!.cache?.hit, false, 'the corrupt one is not');
      assert.equal(g.nodes.get('norm')!.cache?.key, normKey);
      assert.deepEqual(ranIn(g.treeId), ['norm']);
      assert.equal(g.nodes.get('norm')!.sha256, a.nodes.get('norm')!.sha256, 'recomputed: the original bytes');
      const aside = readdirSync(path.join(workspace, 'cache', 'corrupt'));
      assert.ok(aside.some((f) => f.startsWith(`${normKey}-`) && !f.endsWith('.reason')), `moved aside: ${aside.join(', ')}`);
      // The recomputed result is the key's new entry.
      assert.equal(JSON.parse(readFileSync(path.join(entryDir(workspace, normKey), 'entry.json'), 'utf8')).origin.treeId.startsWith(`${g.treeId}.`), true);
      console.log(`# cache: ${ran.length} executor runs for ${[a, b, c, d, e, f1, f2, g].reduce((s, t) => s + t.nodes.size, 0)} nodes in 8 trees`);
    });
  });
});

describe('ragomics run --no-cache', () => {
  void test('sets the spec\'s cache: false: a deterministic node gets no cache key; without the flag it gets one', async () => {
    // The in-process executor runs only `sleep`, so `normalize` fails there, after its cache lookup:
    // the lookup (and so the key in the status) is what the flag turns off.
    const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-nocache-'));
    try {
      const spec = path.join(dir, 'tree.yaml');
      // Any bytes will do as its input: the key hashes the file, and the executor never reads it.
      writeFileSync(path.join(dir, 'input.h5ad'), 'not read\n');
      writeFileSync(spec, 'inputDataPath: input.h5ad\nnodes:\n  - id: norm\n    block: { name: normalize }\n');
      await withWorker({}, async ({ taskQueue }) => {
        const statusOf = async (args: string[]) => {
          const r = await ragomics(['run', spec, '--json', '--task-queue', taskQueue, '--id', uid('nocache'), ...args]);
          assert.equal(r.code, 1, `the node fails on the in-process executor: ${r.stderr}`);
          return JSON.parse(r.stdout) as { nodes: Array<{ id: string; error: string | null; cache?: { key: string; hit: boolean } }> };
        };
        const on = await statusOf([]);
        assert.match(on.nodes[0]!.cache?.key ?? '', /^[0-9a-f]{64}$/, 'cache on by default: the node had a key');
        assert.equal(on.nodes[0]!.cache?.hit, false);
        assert.match(on.nodes[0]!.error ?? '', /not supported by the inprocess executor/);
        const off = await statusOf(['--no-cache']);
        assert.equal(off.nodes[0]!.cache, undefined, '--no-cache: not cacheable');
        assert.match(off.nodes[0]!.error ?? '', /not supported by the inprocess executor/);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('repaired code and the cache', () => {
  void test('a result of repaired code is not published under the key of the code that crashed: that code fails again elsewhere', { timeout: 300_000 }, async () => {
    const broken = 'def run(adata=None, **parameters):\n    raise ValueError("typo")\n';
    const fixed = 'def run(adata=None, **parameters):\n    import anndata, numpy as np\n    return anndata.AnnData(np.ones((4, 3), dtype=np.float32))\n';
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code: fixed }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const fixerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fix`;
    try {
      await withWorker({ executor: 'docker', maxConcurrentNodes: 2, defaultMemoryMB: 512 }, async ({ client, workspace }) => {
        const block = { code: broken, deterministic: true };
        const repaired = await client.startTree({ id: uid('cache-repair'), expansion: { fixerUrl, maxRepairs: 1 }, nodes: [{ id: 'custom', block }] });
        assert.equal((await repaired.result()).state, 'COMPLETED');
        const node = (await repaired.status()).nodes[0]!;
        assert.equal(node.attempts, 2, 'crashed, then the repaired code ran');
        const key = node.cache?.key;
        assert.match(key ?? '', /^[0-9a-f]{64}$/, 'the node had the key of its original code');
        assert.equal(published(node).cacheKey, null, 'the repaired run published under no key');
        assert.ok(!existsSync(entryDir(workspace, key!)), 'nothing cached under the crashing code\'s key');
        // The same crashing code in another tree (no fixer) runs, and fails: it never gets the repaired output.
        const again = await client.startTree({ id: uid('cache-repair-again'), nodes: [{ id: 'custom', block }] });
        assert.equal((await again.result()).state, 'FAILED');
        const n2 = (await again.status()).nodes[0]!;
        assert.equal(n2.cache?.key, key);
        assert.equal(n2.cache?.hit, false);
        assert.match(n2.error ?? '', /typo/);
      });
    } finally {
      server.close();
    }
  });
});

describe('cancelled work and the cache', () => {
  void test('a node cancelled while it computes publishes nothing; the next tree computes it', { timeout: 300_000 }, async () => {
    await withWorker({ executor: 'docker', maxConcurrentNodes: 2, defaultMemoryMB: 1024 }, async ({ client, workspace, gate }) => {
      gate.hold('qc');
      const tree = await client.startTree({ id: uid('cache-cancel'), inputDataPath: DATASET, nodes: [{ id: 'qc', block: QC }] });
      await gate.started('qc');
      await tree.cancel('test: cancel while computing');
      assert.equal((await tree.result()).state, 'CANCELLED');
      const node = (await tree.status()).nodes[0]!;
      assert.equal(node.state, 'CANCELLED');
      assert.equal(node.cache?.hit, false, 'it had looked up its key (a miss) before it ran');
      assert.ok(!existsSync(entryDir(workspace, node.cache!.key)), 'a cancelled computation is not cached');
      // The next tree with the same work computes it (and then caches it).
      const next = await client.startTree({ id: uid('cache-after-cancel'), inputDataPath: DATASET, nodes: [{ id: 'qc', block: QC }] });
      gate.release('qc');
      assert.equal((await next.result()).state, 'COMPLETED');
      const n2 = (await next.status()).nodes[0]!;
      assert.equal(n2.cache?.key, node.cache?.key);
      assert.equal(n2.cache?.hit, false);
      await waitFor(async () => existsSync(path.join(entryDir(workspace, node.cache!.key), 'entry.json')));
    });
  });
});
