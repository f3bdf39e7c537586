/**
 * Ages on the command line (`ragomics gc --older-than 7d`): one or more `<integer><unit>` parts,
 * units `s` (seconds), `m` (minutes), `h` (hours), `d` (days), `w` (weeks), e.g. `90s`, `12h`,
 * `1w2d`. A bare number is refused: "7" could mean seconds or days.
 */
import { InvalidInputError } from '../errors';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
/** Longest age accepted (100 years): keeps the milliseconds exact and the arithmetic finite. */
const MAX_AGE_MS = 100 * 365 * UNIT_MS.d;

/**
 * Parses an age into milliseconds.
 * @param name the option, for the error (e.g. `--older-than`)
 * @throws InvalidInputError naming the option and the value when it is not an age.
 */
export function parseAge(name: string, value: string): number {
  const text = value.trim().toLowerCase();
  const bad = (why: string) => new InvalidInputError(`${name}: "${value}" ${why}`);
  if (!/^(\d+[smhdw])+$/.test(text)) throw bad('is not an age such as 7d, 12h, 30m, 90s or 1w2d (an integer and a unit s, m, h, d or w, repeated)');
  let ms = 0;
  for (const m of text.matchAll(/(\d+)([smhdw])/g)) ms += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (!Number.isSafeInteger(ms) || ms > MAX_AGE_MS) throw bad('is longer than 100 years');
  return ms;
}
