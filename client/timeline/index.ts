/**
 * Timeline export of a tree in the format asked for: `html` (interactive, self-contained),
 * `svg` (static, with hover titles), `json` and `csv` (trace records).
 */
import type { TimelineEntry } from '../../workflows/views';
import type { TimelineFormat } from './formats';
import { timelineHtml } from './html';
import type { GanttOptions } from './model';

export { timelineSamples, type TimelineSamples } from './model';
export { TIMELINE_FORMATS, resolveTimelineFormat, type TimelineFormat } from './formats';
import { timelineSvg } from './svg';
import { timelineCsv, timelineJson } from './tabular';

/** Renders the timeline of `treeId` in `format`; `opts.samples` (a cohort) groups chart rows by sample and adds the `sample` column to JSON/CSV. */
export function renderTimeline(treeId: string, entries: readonly TimelineEntry[], format: TimelineFormat, opts: GanttOptions = {}): string {
  switch (format) {
    case 'html': return timelineHtml(treeId, entries, opts);
    case 'svg': return timelineSvg(treeId, entries, opts);
    case 'json': return timelineJson(treeId, entries, new Date(opts.now ?? Date.now()), opts.samples);
    case 'csv': return timelineCsv(entries, opts.samples);
  }
}
