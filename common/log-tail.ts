/**
 * The one form of a log's last lines inside a failure message. Workers append it to the messages
 * of failures whose log explains them (a block's stderr, a requirements build); the report shows a
 * failed node's log tail from the workspace only when its message does not already carry one.
 * Writers and the reader share this module, so the heading the reader looks for is the heading
 * every writer writes.
 */

/** The heading before the tail: `--- last 40 lines of /path/stderr.log ---` (`lines` when known). */
function heading(file: string, lines?: number): string {
  return `--- last ${lines === undefined ? '' : `${lines} `}lines of ${file} ---`;
}

/**
 * `tail` (a log's last lines) as a section to append to a failure message: a newline, the
 * heading naming `file` (and `lines`, the tail's length limit, when known), a newline, the tail.
 * Empty when `tail` is empty, so a message never ends in a heading with nothing under it.
 */
export function logTailSection(file: string, tail: string, lines?: number): string {
  return tail ? `\n${heading(file, lines)}\n${tail}` : '';
}

/** A section {@link logTailSection} wrote, at a line start; the file name runs to the heading's end. */
const SECTION = /(^|\n)--- last (\d+ )?lines of [^\n]+ ---\n/;

/** True when `message` carries a log tail section written by {@link logTailSection}. */
export function hasLogTailSection(message: string | null | undefined): boolean {
  return SECTION.test(message ?? '');
}
