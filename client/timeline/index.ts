/**
 * Timeline export of a tree in the format asked for: `html` (interactive, self-contained),
 * `svg` (static, with hover titles), `json` and `csv` (trace records).
 */
import type { TimelineEntry } from '../../workflows/views';
import { InvalidInputError } from '../errors';
import { timelineHtml } from './html';
import type { GanttOptions } from './model';

export { timelineSamples, type TimelineSamples } from './model';
import { timelineSvg } from './svg';
import { timelineCsv, timelineJson } from './tabular';

/** Export formats of `ragomics timeline`. */
export const TIMELINE_FORMATS = ['html', 'svg', 'json', 'csv'] as const;
export type TimelineFormat = (typeof TIMELINE_FORMATS)[number];

/** Picks the format: the flag, else the output file's extension, else JSON. @throws InvalidInputError for an unknown one. */
export function resolveTimelineFormat(format: string | undefined, file: string | undefined): TimelineFormat {
  const wanted = (format ?? /\.([a-z]+)$/i.exec(file ?? '')?.[1] ?? 'json').toLowerCase();
  const f = wanted === 'htm' ? 'html' : wanted;
  if (!(TIMELINE_FORMATS as readonly string[]).includes(f)) {
    throw new InvalidInputError(`--format: must be one of ${TIMELINE_FORMATS.join(', ')}, got "${format ?? wanted}"`);
  }
  return f as TimelineFormat;
}

/** Renders the timeline of `treeId` in `format`; `opts.samples` (a cohort) groups chart rows by sample and adds the `sample` column to JSON/CSV. */
export function renderTimeline(treeId: string, entries: readonly TimelineEntry[], format: TimelineFormat, opts: GanttOptions = {}): string {
  switch (format) {
    case 'html': return timelineHtml(treeId, entries, opts);
    case 'svg': return timelineSvg(treeId, entries, opts);
    case 'json': return timelineJson(treeId, entries, new Date(opts.now ?? Date.now()), opts.samples);
    case 'csv': return timelineCsv(entries, opts.samples);
  }
}
