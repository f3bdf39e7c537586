/**
 * The formats of `ragomics timeline` and how one is picked: kept apart from the renderers (the
 * SVG one loads echarts) so that the CLI can name them in its help without loading those.
 */
import { InvalidInputError } from '../errors';

/** Export formats of `ragomics timeline`. */
export const TIMELINE_FORMATS = ['html', 'svg', 'json', 'csv'] as const;
export type TimelineFormat = (typeof TIMELINE_FORMATS)[number];

/** Picks the format: the flag, else the output file's extension, else JSON. @throws InvalidInputError for an unknown one. */
export function resolveTimelineFormat(format: string | undefined, file: string | undefined): TimelineFormat {
  const wanted = (format ?? /\.([a-z]+)$/i.exec(file ?? '')?.[1] ?? 'json').toLowerCase();
  const f = wanted === 'htm' ? 'html' : wanted;
  if (!(TIMELINE_FORMATS as readonly string[]).includes(f)) {
    // Name what the user typed: the flag, or the file whose extension chose the format.
    if (format !== undefined) throw new InvalidInputError(`--format: must be one of ${TIMELINE_FORMATS.join(', ')}, got "${format}"`);
    throw new InvalidInputError(`-o ${file ?? ''}: the extension ".${wanted}" is not a timeline format (${TIMELINE_FORMATS.join(', ')}); give --format, or one of those extensions`);
  }
  return f as TimelineFormat;
}
