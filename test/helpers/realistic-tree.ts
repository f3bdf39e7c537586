/**
 * A realistic node table for carry-state tests and the codec benchmark: a finished run of a
 * fan-out of chains with failures, retries, lost workers and cancellations.
 */
import { createHash } from 'node:crypto';
import type { NodeRecord } from '../../workflows/node-record';
import { prng } from './timeline-checks';

const T = 1_764_300_000_000;
const sha = (i: number) => createHash('sha256').update(String(i)).digest('hex');

/**
 * A realistic completed tree of `n` nodes: a root with a wide fan-out of chains, times as a run at
 * 20 slots gives them; 3 % of the nodes needed a retry (a failed attempt with an error, then a
 * completed one), 0.5 % were re-run after their worker was lost, 0.2 % failed for good and had
 * their chain cancelled behind them.
 */
export function realisticTree(n: number): NodeRecord[] {
  const rand = prng(7);
  const nodes: NodeRecord[] = [];
  const chain = 10;
  let clock = T;
  for (let i = 0; i < n; i++) {
    const head = (i - 1) % chain === 0;
    const parent = i === 0 ? null : head ? 'r' : (nodes[i - 1] as NodeRecord).id;
    const parentRec = nodes[i - 1];
    const id = i === 0 ? 'r' : `b${Math.floor((i - 1) / chain)}.${(i - 1) % chain}`;
    const depth = i === 0 ? 0 : head ? 1 : (parentRec as NodeRecord).depth + 1;
    const queuedAt = T;
    const ready = i === 0 ? T : head ? T + 40 : (timeOfEnd(parentRec as NodeRecord) ?? T);
    clock += Math.floor(rand() * 40);
    const running = Math.max(ready, clock) + Math.floor(rand() * 30);
    const rec: NodeRecord = {
      id, parentId: parent, dependencies: parent === null ? [] : [parent], priority: 0, depth, block: { name: 'sleep', parameters: { seconds: 0 } }, source: 'spec',
      state: 'COMPLETED', queuedAt, transitions: [['PENDING', queuedAt], ['WAITING', queuedAt], ['READY', ready], ['RUNNING', running]], attempts: [],
      repairs: 0, oomRetries: 0, lostRetries: 0,
    };
    const parentBad = parentRec && parent === parentRec.id && (parentRec.state === 'FAILED' || parentRec.state === 'CANCELLED');
    if (parentBad) {
      rec.state = 'CANCELLED';
      const reason = parentRec.state === 'FAILED' ? `dependency "${parentRec.id}" FAILED` : `dependency "${parentRec.id}" CANCELLED (root cause: "${(parentRec.error ?? '').split('"')[1]}" FAILED)`;
      rec.transitions = [['PENDING', queuedAt], ['WAITING', queuedAt], ['CANCELLED', ready, reason]];
      rec.error = reason;
      nodes.push(rec);
      continue;
    }
    const r = rand();
    let t = running;
    const worker = `worker-${Math.floor(rand() * 2)}-7f3a9c`;
    if (r < 0.005) {
      rec.lostRetries = 1;
      rec.attempts.push({ n: 1, runIndex: 1, scheduledAt: t, startedAt: t + 3, endedAt: null, state: 'LOST', worker, error: 'activity Heartbeat timeout', errorType: 'WorkerLost' });
      t += 30_000;
    } else if (r < 0.035) {
      rec.attempts.push({ n: 1, runIndex: 1, scheduledAt: t, startedAt: t + 4, endedAt: t + 9, state: 'FAILED', worker, error: 'block crashed: ValueError: simulated failure', errorType: 'BlockCrashed', exitCode: 1 });
      t += 5000;
    }
    const runIndex = 1 + rec.lostRetries;
    const endOk = r >= 0.998 || (r > 0.035 && r < 0.037);
    if (endOk) {
      rec.state = 'FAILED';
      rec.error = 'block crashed: RuntimeError: out of luck';
      rec.attempts.push({ n: rec.attempts.length + 1, runIndex, scheduledAt: rec.attempts.length ? rec.attempts[0]!.scheduledAt + (rec.lostRetries ? 30_000 : 0) : t, startedAt: t + 4, endedAt: t + 11, state: 'FAILED', worker, error: rec.error, errorType: 'BlockCrashed', exitCode: 1 });
      rec.transitions.push(['FAILED', t + 20, rec.error]);
      nodes.push(rec);
      continue;
    }
    const scheduledAt = rec.lostRetries ? t : running;
    rec.attempts.push({ n: rec.attempts.length + 1, runIndex, scheduledAt, startedAt: t + 3 + Math.floor(rand() * 20), endedAt: t + 30 + Math.floor(rand() * 20), state: 'COMPLETED', worker });
    rec.transitions.push(['COMPLETED', t + 60 + Math.floor(rand() * 20)]);
    const dir = `/tmp/ragomics-ws-Ab12Cd/trees/scale-1a2b3c4d.5e6f7a8b/nodes/${id}/published/attempt-${runIndex}`;
    rec.output = { outputDir: dir, outputPath: `${dir}/_node_anndata.h5ad`, sha256: sha(i), shape: [700, 765], summary: 'slept 0 s', figures: [], metrics: { seconds: 0 }, imageDigest: null };
    nodes.push(rec);
  }
  return nodes;
}

function timeOfEnd(rec: NodeRecord): number | undefined {
  return rec.transitions[rec.transitions.length - 1]?.[1];
}

