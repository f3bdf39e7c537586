/**
 * `ragomics report`: collects a tree's status, timeline, parameters, figures and logs and
 * renders them as one self-contained HTML page.
 */
import type { TreeHandle } from '../sdk';
import { collectReport, type CollectOptions } from './collect';
import { reportHtml } from './html';

export type { ReportData } from './collect';

/** Builds the HTML report of a tree. */
export async function buildReport(tree: TreeHandle, options: CollectOptions = {}): Promise<string> {
  return reportHtml(await collectReport(tree, options));
}
