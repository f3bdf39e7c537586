/**
 * Reads tree specs and nodes files (YAML or JSON) for the CLI. Every problem becomes an
 * {@link InvalidInputError} whose lines name the file, the line and column when known, and
 * the path of the bad field, e.g. `tree.yaml:14:9: nodes[3].dependencies[0]: unknown node "pca"`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { LineCounter, isMap, isScalar, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { NodeSpecSchema, formatZodError, type NodeSpecInput, type TreeSpec } from '../common/schemas';
import { InvalidInputError } from './errors';
import { readInputFile } from './read-input-file';
import { checkInlineCode, resolveInputPath } from './local-checks';
import { checkSampleFiles, loadSpecSamples, readSamplesFile } from './sample-sheet';
import type { SampleRow } from '../common/schemas';
import { validateSpec } from './sdk';
import { blockParameterErrors } from '../common/tree-validation';
import { FORK_FORBIDDEN_FIELDS, type ForkSpecInput } from './fork';

/** A parsed file: its data plus a way to turn a field path into `file:line:col`. */
interface LoadedFile {
  data: unknown;
  where: (fieldPath: string) => string;
}

/** Reads, parses and validates a tree spec file. @throws InvalidInputError (nothing is started). */
export function readSpecFile(file: string): TreeSpec {
  const loaded = loadFile(file);
  // `samples:` as a sheet path becomes inline rows; every sample path becomes absolute.
  const samples = loadSpecSamples((loaded.data as { samples?: unknown }).samples, file);
  const data = samples ? { ...(loaded.data as object), samples: samples.rows } : loaded.data;
  let spec: TreeSpec;
  try {
    spec = validateSpec(data);
  } catch (err) {
    throw locate(err, loaded);
  }
  checkInlineCode(spec);
  if (samples && Array.isArray(spec.samples)) checkSampleFiles(spec.samples, samples.where);
  return resolveInputPath(spec, file);
}

/**
 * Reads the samples of `ragomics add-samples`: a CSV/TSV sheet, or a YAML/JSON list of rows (or
 * `{ samples: [...] }`); paths resolved against that file, every `.h5ad` checked.
 * @throws InvalidInputError naming file, row and column.
 */
export function readAddSamplesFile(file: string): SampleRow[] {
  return readSamplesFile(file, (f) => loadFile(f).data);
}

/**
 * Reads a nodes file for `ragomics add`: either a list of nodes or `{ nodes: [...] }`. Each node
 * is checked on its own (shape, built-in blocks' parameters); references to other nodes are
 * checked by the tree, which rejects the whole request naming the offending id.
 * @throws InvalidInputError
 */
export function readNodesFile(file: string): NodeSpecInput[] {
  const loaded = listAsNodes(loadFile(file));
  const schema = z.union([
    z.array(NodeSpecSchema).min(1, 'must hold at least one node'),
    z.strictObject({ nodes: z.array(NodeSpecSchema).min(1, 'must hold at least one node') }),
  ]);
  // Report against the shape the user chose, not zod's union summary.
  const wrapped = !Array.isArray(loaded.data);
  const parsed = (wrapped ? schema.options[1] : schema.options[0]).safeParse(loaded.data);
  // Built-in blocks' parameters are checked here too, before anything is sent (the tree checks
  // them again), in the same pass as the shape.
  const parameters = blockParameterErrors({ nodes: wrapped ? (loaded.data as { nodes?: unknown } | null)?.nodes : loaded.data });
  if (!parsed.success || parameters.length > 0) {
    const lines = parsed.success ? [] : formatZodError(parsed.error, wrapped ? '' : 'nodes').split('\n');
    throw locate(new InvalidInputError([...lines, ...parameters]), loaded);
  }
  // Inline code compiles, as `run` and `fork` check it (located like the shape errors).
  try {
    checkInlineCode({ nodes: Array.isArray(parsed.data) ? parsed.data : parsed.data.nodes });
  } catch (err) {
    throw locate(err, loaded);
  }
  // The raw input, not the parsed one: defaults are filled in by the tree, exactly once.
  return (wrapped ? (loaded.data as { nodes: NodeSpecInput[] }).nodes : loaded.data) as NodeSpecInput[];
}

/** A file holding a bare list of nodes: its problems name `nodes[i]`, found at `[i]` in the file. */
function listAsNodes(raw: LoadedFile): LoadedFile {
  return Array.isArray(raw.data) ? { data: raw.data, where: (p) => raw.where(p.replace(/^nodes(?=\[|$)/, '')) } : raw;
}

/**
 * Reads the nodes file of `ragomics fork`: a list of nodes, or an object with `nodes` and any
 * other tree spec field (maxParallelJobs, expansion, ...) except those the fork sets
 * (`inputDataPath`, `origin`) or that need a cohort (`samples`, `forEachSample`). Validated as
 * the new tree's spec will be (with the forked output as its input), so a bad file starts nothing.
 * @throws InvalidInputError naming file, line and field.
 */
export function readForkFile(file: string): ForkSpecInput {
  const loaded = listAsNodes(loadFile(file));
  const data = (Array.isArray(loaded.data) ? { nodes: loaded.data } : loaded.data) as Record<string, unknown>;
  const forbidden = Object.keys(data).filter((k) => k in FORK_FORBIDDEN_FIELDS);
  if (forbidden.length > 0) throw locate(new InvalidInputError(forbidden.map((k) => `${k}: ${FORK_FORBIDDEN_FIELDS[k]}`)), loaded);
  if (Array.isArray(data.nodes) && data.nodes.length === 0) throw locate(new InvalidInputError('nodes: must hold at least one node (leave the file out to copy the node\'s descendants)'), loaded);
  let spec: TreeSpec;
  try {
    // A stand-in path: the real one is known only after the source tree was read.
    spec = validateSpec({ ...data, inputDataPath: 'forked-output.h5ad' });
  } catch (err) {
    throw locate(err, loaded);
  }
  checkInlineCode(spec);
  return data as ForkSpecInput;
}

/** Reads and parses a YAML or JSON file, keeping positions for error messages. */
function loadFile(file: string): LoadedFile {
  const ext = path.extname(file).toLowerCase();
  // Data files given where a spec goes (a scanpy or nf-core user's first move): say where they belong.
  const misplaced = MISPLACED_FILES[ext];
  if (misplaced) throw new InvalidInputError(`${file}: not a spec (YAML or JSON): ${misplaced}`);
  // A byte order mark (Windows editors write one) is no part of the text: JSON.parse would refuse it.
  const text = readInputFile(file).replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new InvalidInputError(`${file}: the file is empty`);
  if (text.includes('\u0000')) {
    // A UTF-16 text (a PowerShell redirect writes one) holds NUL bytes too: say how to fix it.
    const head = readFileSync(file).subarray(0, 2);
    const utf16 = (head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff);
    throw new InvalidInputError(`${file}: not a spec (YAML or JSON): ${utf16 ? 'it is UTF-16 text; save it as UTF-8' : 'it is a binary file'}`);
  }
  const isJson = ext === '.json';
  if (isJson) {
    try {
      JSON.parse(text);
    } catch (err) {
      // JSON.parse is the judge; where and why come from a parser that reports them as data.
      const problem = jsonProblem(text);
      throw new InvalidInputError(problem
        ? `${file}:${problem.line}:${problem.col}: malformed JSON: ${problem.message}`
        : `${file}: malformed JSON: ${(err as Error).message.replace(/\s*\n\s*/g, ' ')}`);
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    // The first error only: the parser's later ones mostly follow from it.
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    const message = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    const line = pos ? (text.split('\n')[pos.line - 1] ?? '') : '';
    // An unquoted `{sample}` is read as the start of a YAML mapping (quoted ones are left out).
    const unquoted = line.replace(/"(?:[^"\\]|\\.)*"|'[^']*'/g, '');
    const hint = !isJson && unquoted.includes('{sample}') ? ' (quote a value holding {sample}: "qc_{sample}")' : '';
    throw new InvalidInputError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: malformed ${isJson ? 'JSON' : 'YAML'}: ${shorten(message)}${hint}`);
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || typeof data !== 'object') throw new InvalidInputError(`${file}: expected ${isJson ? 'an object' : 'a mapping'} of spec fields, found ${data === null ? 'nothing' : typeof data}`);
  return { data, where: (fieldPath) => `${file}${positionOf(doc, lineCounter, fieldPath)}` };
}

/** What a file of these kinds is, and where it goes instead of `run`/`add`/`fork`'s spec argument. */
const MISPLACED_FILES: Record<string, string> = {
  '.h5ad': 'an .h5ad file is data: name it in a spec\'s `inputDataPath` (or a sample sheet\'s `path` column) and run the spec',
  '.h5': 'an .h5 file is data: convert it to .h5ad and name it in a spec\'s `inputDataPath`',
  '.loom': 'a .loom file is data: convert it to .h5ad and name it in a spec\'s `inputDataPath`',
  '.csv': 'a .csv file looks like a sample sheet: name it in a spec\'s `samples:` (with `forEachSample` templates), or give it to `add-samples`',
  '.tsv': 'a .tsv file looks like a sample sheet: name it in a spec\'s `samples:` (with `forEachSample` templates), or give it to `add-samples`',
};

/** A parser message cut to a readable length (a quoted token can be a whole binary line). */
function shorten(message: string, max = 160): string {
  return message.length <= max ? message : `${message.slice(0, max)}…`;
}

/** `:line:col` of the field at `fieldPath` (e.g. `nodes[3].dependencies[0]`), or of its closest existing parent. */
function positionOf(doc: Document, lc: LineCounter, fieldPath: string): string {
  const keys: (string | number)[] = [];
  for (const m of fieldPath.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) keys.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  const at = (offset: number): string => {
    const p = lc.linePos(offset);
    return `:${p.line}:${p.col}`;
  };
  while (keys.length > 0) {
    // A mapping key points at the key itself (where an unknown field is written), not its value.
    const last = keys[keys.length - 1];
    if (typeof last === 'string') {
      const parent = (keys.length > 1 ? doc.getIn(keys.slice(0, -1), true) : doc.contents) as unknown;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
        const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
        if (range) return at(range[0]);
      }
    }
    const node = doc.getIn(keys, true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return at(node.range[0]);
    keys.pop();
  }
  return '';
}

/** Prefixes each problem line with `file:line:col` when it starts with a field path. */
function locate(err: unknown, loaded: LoadedFile): unknown {
  if (!(err instanceof InvalidInputError)) return err;
  return new InvalidInputError(err.problems.map((line) => {
    // Keys as YAML allows them (`max-parallel-jobs` too), so an unknown one is still located.
    const m = /^([A-Za-z_][\w-]*(?:\[\d+\]|\.[A-Za-z_][\w-]*)*):\s/.exec(line);
    return m ? `${loaded.where(m[1] as string)}: ${line}` : `${loaded.where('')}: ${line}`;
  }), { cause: err });
}

/** What each of the JSON parser's error codes means, in the words of the one-line error. */
const JSON_ERRORS: Record<ReturnType<typeof printParseErrorCode>, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: "expected ':'",
  CommaExpected: "expected ','",
  CloseBraceExpected: "expected '}'",
  CloseBracketExpected: "expected ']'",
  EndOfFileExpected: 'expected the end of the file',
  InvalidCommentToken: 'comments are not JSON',
  UnexpectedEndOfComment: 'unterminated comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'unterminated number',
  InvalidUnicode: 'invalid \\u escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'invalid character in a string',
  '<unknown ParseErrorCode>': 'not valid JSON',
};

/**
 * The first place where `text` is not JSON, as `line`, `col` (1-based) and what is wrong there,
 * from jsonc-parser with comments and trailing commas refused as JSON refuses them (it reports
 * an error's offset as data, where JSON.parse's differs between Node versions and lives in its
 * message text). Null when it finds nothing to report.
 */
export function jsonProblem(text: string): { line: number; col: number; message: string } | null {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const e = errors[0];
  if (!e) return null;
  const before = text.slice(0, e.offset).split('\n');
  const found = text.slice(e.offset, e.offset + Math.min(Math.max(e.length, 1), 20));
  const where = e.offset < text.length && found.trim() !== '' ? `, found ${JSON.stringify(found)}` : ' before the end of the file';
  return { line: before.length, col: (before[before.length - 1]?.length ?? 0) + 1, message: `${JSON_ERRORS[printParseErrorCode(e.error)]}${where}` };
}
