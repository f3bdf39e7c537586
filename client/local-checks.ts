/**
 * Checks the CLI can make on the user's machine before a tree starts, beyond the schema: the
 * input file exists and is readable (resolved relative to the spec file), and inline Python
 * compiles. The SDK does not do them: a service may start trees whose input lives on a volume
 * only the workers see, and may have no Python. A failure is an InvalidInputError naming the
 * field, so nothing starts.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import type { Block, TreeSpec } from '../common/schemas';
import { InvalidInputError } from './errors';

/** Resolves a relative `inputDataPath` against the spec file's folder and checks the file. */
export function resolveInputPath(spec: TreeSpec, specFile: string): TreeSpec {
  if (!spec.inputDataPath) return spec;
  const abs = path.resolve(path.dirname(specFile), spec.inputDataPath);
  try {
    if (!statSync(abs).isFile()) throw new Error('not a file');
    accessSync(abs, constants.R_OK);
  } catch {
    throw new InvalidInputError(`inputDataPath: no readable .h5ad file at "${abs}"${spec.inputDataPath !== abs ? ` (from "${spec.inputDataPath}", relative to the spec file)` : ''}`);
  }
  return { ...spec, inputDataPath: abs };
}

const COMPILE = 'import sys\nsrc = sys.stdin.read()\ntry:\n    compile(src, "<inline block>", "exec")\nexcept SyntaxError as e:\n    print(f"{e.msg} (line {e.lineno})")\n    sys.exit(1)\n';

/** A node as far as {@link checkInlineCode} reads it. */
interface CodeNode {
  id: string;
  block: Block;
}

/**
 * Compiles every inline block with the local python3, when there is one; syntax errors name the
 * node. Takes a spec, or the nodes of an `add` (their `forEachSample` absent).
 */
export function checkInlineCode(spec: { nodes: readonly CodeNode[]; forEachSample?: readonly CodeNode[] }, python = process.env.RAGOMICS_PYTHON ?? 'python3'): void {
  const problems: string[] = [];
  const check = (prefix: string) => (node: CodeNode, i: number): void => {
    if (!('code' in node.block)) return;
    const r = spawnSync(python, ['-c', COMPILE], { input: node.block.code, encoding: 'utf8', timeout: 20_000 });
    if (r.error) return; // no local Python: the worker reports it (InvalidBlockCodeError, never retried)
    if (r.status === 1) problems.push(`${prefix}[${i}].block.code: node "${node.id}" has a Python syntax error: ${r.stdout.trim()}`);
  };
  (spec.forEachSample ?? []).forEach(check('forEachSample'));
  spec.nodes.forEach(check('nodes'));
  if (problems.length > 0) throw new InvalidInputError(problems);
}
