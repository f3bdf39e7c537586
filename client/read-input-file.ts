/**
 * Reading a file the user named (a spec, a nodes file, a sample sheet), with the one-line error
 * the CLI prints for each way that fails.
 */
import { readFileSync } from 'node:fs';
import { InvalidInputError } from './errors';

/**
 * The file's text (UTF-8).
 * @param label what the file is, put before the reason in the message ("sample sheet"), or none.
 * @throws InvalidInputError naming the file and why it cannot be read (missing, a folder,
 *   permission denied, else the system's message).
 */
export function readInputFile(file: string, label?: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new InvalidInputError(`${file}: ${label ? `${label}: ` : ''}${why}`);
  }
}
