/**
 * Reads the runner's `result.json` leniently: the known fields are validated, the rest ignored,
 * and suggested children that fail the schema are dropped with a warning rather than failing
 * a node whose data output is fine.
 */
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SuggestedChildSchema, type SuggestedChild } from '../common/schemas';
import { BlockCrashedError } from './errors';

const ManifestSchema = z.object({
  shape: z.tuple([z.number(), z.number()]).nullable().optional(),
  metrics: z.record(z.string(), z.unknown()).optional(),
  suggestedChildren: z.array(z.unknown()).optional(),
  summary: z.string().optional(),
  figures: z.array(z.string()).optional(),
});

/** The fields of result.json that go into NodeResult; figures relative to the output folder. */
export interface ResultManifest {
  shape: [number, number] | null;
  metrics: Record<string, unknown>;
  suggestedChildren: SuggestedChild[];
  summary: string;
  figures: string[];
}

/** @throws BlockCrashedError when result.json is missing or not the documented shape. */
export async function readResultManifest(outputDir: string, warn: (message: string) => void): Promise<ResultManifest> {
  const file = path.join(outputDir, 'result.json');
  const logDir = path.dirname(outputDir);
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) throw new BlockCrashedError(`the runner exited 0 but wrote no result.json in ${outputDir}`, { exitCode: 0, logDir });
  let parsed;
  try {
    parsed = ManifestSchema.safeParse(JSON.parse(text));
  } catch (e) {
    throw new BlockCrashedError(`result.json is not JSON: ${(e as Error).message}`, { exitCode: 0, logDir });
  }
  if (!parsed.success) throw new BlockCrashedError(`result.json is malformed: ${parsed.error.message}`, { exitCode: 0, logDir });
  const m = parsed.data;
  const suggestedChildren: SuggestedChild[] = [];
  (m.suggestedChildren ?? []).forEach((raw, i) => {
    const child = SuggestedChildSchema.safeParse(raw);
    if (child.success) suggestedChildren.push(child.data);
    else warn(`result.json suggestedChildren[${i}] dropped: ${child.error.issues.map((x) => x.message).join('; ')}`);
  });
  return {
    shape: m.shape ?? null,
    metrics: m.metrics ?? {},
    suggestedChildren,
    summary: m.summary ?? '',
    figures: await existingFigures(outputDir, m.figures ?? [], warn),
  };
}

/** Figures named by the manifest that are real files inside the output folder (no escapes). */
async function existingFigures(outputDir: string, names: string[], warn: (message: string) => void): Promise<string[]> {
  const root = await realpath(outputDir);
  const out: string[] = [];
  for (const name of names) {
    const rel = name.includes('/') ? name : path.join('figures', name);
    const real = await realpath(path.join(outputDir, rel)).catch(() => null);
    if (real && real.startsWith(root + path.sep)) out.push(path.relative(root, real));
    else warn(`result.json figure "${name}" dropped: not a file inside the output folder`);
  }
  return out;
}
