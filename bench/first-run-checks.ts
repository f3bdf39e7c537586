/**
 * The pure parts of bench/first-run.ts (no process, no Docker): reading the demo's output, choosing
 * the private engine's bridge subnet, and deciding whether a run really used the private engine.
 * Kept apart so unit tests (test/unit/first-run-checks.test.ts) can feed them crafted input.
 */

/** `[ragomics] step "NAME" took N.Ns` (or `FAILED (exit E) after N.Ns`), as scripts/lib.sh's step_timer prints it. */
const STEP_RE = /^\[ragomics\] step "([^"]+)" (?:took|FAILED \(exit \d+\) after) (\d+)\.(\d)s$/;

/**
 * The step times a demo printed: step name → ms, in the order printed (a name printed twice keeps
 * its last time). Lines that are not step lines are ignored; an empty map means none was printed.
 */
export function parseSteps(lines: readonly string[]): Map<string, number> {
  const steps = new Map<string, number>();
  for (const l of lines) {
    const m = STEP_RE.exec(l.trim());
    if (m) steps.set(m[1]!, Number(m[2]) * 1000 + Number(m[3]) * 100);
  }
  return steps;
}

/**
 * The number of nodes of the demo's tree when its summary line says every node completed and none
 * failed (`tree ID COMPLETED: n/n completed … 0 failed`); undefined when there is no such line, or
 * it counts fewer completed than nodes, or a failure.
 */
export function completedNodes(lines: readonly string[]): number | undefined {
  for (const l of lines) {
    const m = /^tree \S+ COMPLETED: (\d+)\/(\d+) completed .* (\d+) failed/.exec(l.trim());
    if (m) return m[1] === m[2] && m[3] === '0' ? Number(m[2]) : undefined;
  }
  return undefined;
}

/**
 * A /24 of 10.231.0.0/16 that no route of `ip -4 route` output (ROUTES) mentions, for the private
 * engine's own bridge; `pick` (default Math.random) chooses among the free ones. Throws when all
 * 256 are taken (a machine that routes all of 10.231/16 is not one this bench can safely add to).
 */
export function pickBridgeSubnet(routes: string, pick: () => number = Math.random): string {
  const taken = (n: number): boolean => {
    const prefix = `10.231.${n}.`;
    return routes.split('\n').some((l) => l.includes(prefix) || /(^|\s)10\.231\.0\.0\/16(\s|$)/.test(l) || /(^|\s)10\.0\.0\.0\/8(\s|$)/.test(l));
  };
  const free = Array.from({ length: 256 }, (_, n) => n).filter((n) => !taken(n));
  if (free.length === 0) throw new Error('no free /24 in 10.231.0.0/16 for the private engine\'s bridge (ip -4 route covers it)');
  const n = free[Math.min(free.length - 1, Math.floor(pick() * free.length))]!;
  return `10.231.${n}.1/24`;
}

/** What the bench saw on the private engine after a demo, for {@link privateEngineProblem}. */
export interface PrivateEngineEvidence {
  /** The blocks image tag the clone recorded (.data/blocks-image), or undefined when it wrote none. */
  tag: string | undefined;
  /** That tag's image id on the private engine (`docker image inspect`), or undefined when it has no such image. */
  imageId: string | undefined;
  /** The image attribute of every container start event of the private engine during the run. */
  startedImages: readonly string[];
}

/**
 * Why the run cannot count as a first run on the private engine, or undefined when it can: the
 * private engine must hold the blocks image the clone recorded, and at least one container of that
 * image (a node of the demo, or a warm container) must have started there. A demo that talked to
 * another engine leaves the private one without the image or without those starts.
 */
export function privateEngineProblem(e: PrivateEngineEvidence): string | undefined {
  if (!e.tag) return 'the clone recorded no blocks image tag (.data/blocks-image)';
  if (!e.imageId) return `the private engine has no image ${e.tag}: the demo built it elsewhere`;
  const id = e.imageId.replace(/^sha256:/, '');
  const ours = e.startedImages.filter((i) => {
    const bare = i.replace(/^sha256:/, '');
    return i === e.tag || (bare.length >= 12 && id.startsWith(bare));
  });
  if (ours.length === 0) return `no container of ${e.tag} started on the private engine: the demo's nodes ran elsewhere`;
  return undefined;
}
