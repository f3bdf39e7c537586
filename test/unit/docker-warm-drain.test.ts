/**
 * The Docker warm pool's drain (activities/executors/docker-warm.ts) against an engine that hangs:
 * a real Unix socket that accepts connections and never answers, as a wedged dockerd does. The
 * pool's first creation is then stuck in its image inspect; drain(), which the worker's shutdown
 * awaits, must still return once its bound for late containers (`lateDiscardWaitMs`) has passed,
 * and the pool must not count the given-up creation as a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { createWarmDockerPool } from '../../activities/executors/docker-warm';

void test('drain() returns while a member is being created on an engine that never answers', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ragomics-warm-drain-'));
  const held: Socket[] = [];
  let requests = 0;
  const engine = createServer((socket) => {
    held.push(socket);
    socket.once('data', () => requests++); // read, never answered
  });
  const socketPath = path.join(dir, 'docker.sock');
  await new Promise<void>((r) => engine.listen(socketPath, r));
  try {
    // drain() waits for a given-up creation's late container this long, then returns anyway.
    const lateDiscardWaitMs = 300;
    const pool = createWarmDockerPool({ docker: new Docker({ socketPath }), image: 'ragomics/blocks:none', size: 1, dir: path.join(dir, 'warm'), workerId: 'test', lateDiscardWaitMs });
    // The creation is under way: its first call reached the engine.
    for (let i = 0; i < 200 && requests === 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(requests > 0, 'the pool asked the engine');
    const t0 = Date.now();
    await pool.drain();
    const ms = Date.now() - t0;
    console.log(`drain with a creation stuck on a silent engine: ${ms} ms`);
    // drain settles on the abort, then waits out lateDiscardWaitMs for the stuck creation's
    // container (there never is one); the upper bound only fails loudly instead of hanging.
    assert.ok(ms >= lateDiscardWaitMs - 5, `drain took ${ms} ms: it did not wait for the given-up creation`);
    assert.ok(ms < 10_000, `drain took ${ms} ms`);
    assert.equal((pool.stats() as { failures: number }).failures, 0, 'a creation given up for drain is no failure');
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => engine.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
