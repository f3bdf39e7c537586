/**
 * CPU time of processes, for benchmarks that say where a node's CPU goes (Linux: /proc).
 * User plus system time of every thread, in milliseconds, at the kernel's clock-tick resolution
 * (10 ms at the usual 100 Hz): measure spans of many nodes, not one.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`; 100, Linux's value, when getconf is missing). */
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/**
 * User + system CPU of process `pid` so far, ms (all its threads). Throws when the process is gone
 * or /proc cannot be read: a figure that cannot be measured is never recorded as zero.
 */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`/proc/${pid}/stat: no CPU times in "${stat.slice(0, 80)}"`);
  return ((utime + stime) * 1000) / TICKS;
}

/** This process's user + system CPU so far, ms. */
export function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The pid of the process listening on TCP `port` on this machine (`ss -ltnp`), or null when none is found or `ss` is missing. */
export function listeningPid(port: number): number | null {
  const r = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const m = /pid=(\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : null;
}
