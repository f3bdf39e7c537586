/**
 * The seed's bug fixer as a repair hook, on the real server and Docker: an inline block crashes,
 * the fixer endpoint receives its code, parameters and error tail, returns a patch, and the node
 * re-runs as a new attempt with the patched code; everything is recorded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { uid, withWorker } from './helpers/harness';

const BROKEN = `def run(adata=None, **parameters):\n    raise ValueError("typo in column name: 'leidn'")\n`;
const FIXED = `def run(adata=None, **parameters):\n    import anndata, numpy as np\n    return anndata.AnnData(np.ones((4, 3), dtype=np.float32))\n`;

test('a crashing inline block is repaired by the fixer endpoint and completes on a new attempt', { timeout: 180_000 }, async () => {
  const requests: Array<{ code: string; error: string; stderrTail: string; repair: number }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push(JSON.parse(body));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ code: FIXED, explanation: 'build the AnnData instead of reading a missing column' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const fixerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fix`;
  try {
    await withWorker({ executor: 'docker', maxConcurrentNodes: 2, defaultMemoryMB: 512 }, async ({ client }) => {
      const tree = await client.startTree({ id: uid('repair'), expansion: { fixerUrl, maxRepairs: 2 }, nodes: [{ id: 'custom', block: { code: BROKEN, parameters: {} } }] });
      const result = await tree.result();
      assert.equal(result.state, 'COMPLETED', JSON.stringify(result.failures));
      assert.equal(requests.length, 1, 'one repair was needed');
      assert.equal(requests[0]!.code, BROKEN);
      assert.match(requests[0]!.stderrTail + requests[0]!.error, /typo in column name/);
      const status = await tree.status({ transitions: true });
      const node = status.nodes[0]!;
      assert.equal(node.attempts, 2, 'the failed attempt and the repaired one');
      assert.ok(node.transitions!.some((t) => /repair 1: patched code received/.test(t.reason ?? '')));
      const timeline = await tree.timeline();
      assert.deepEqual(timeline.map((e) => e.state), ['FAILED', 'COMPLETED']);
    });
  } finally {
    server.close();
  }
});
