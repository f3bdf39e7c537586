/**
 * Errors the SDK throws, each mapped to the CLI exit code of CONTRACT.md, so services and the
 * CLI tell "your input is wrong" from "the server is down" without parsing messages.
 */

/** Base class: `exitCode` is the CLI's exit code for this kind of error. */
export class RagomicsError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid input (spec, nodes file, ids, limits). Nothing was started or changed. Exit code 2. */
export class InvalidInputError extends RagomicsError {
  override readonly exitCode = 2;
  /** One line per problem, each naming the path of the bad field or the id. */
  readonly problems: string[];
  constructor(problems: string[] | string, options?: { cause?: unknown }) {
    const list = Array.isArray(problems) ? problems : problems.split('\n');
    super(list.join('\n'), options);
    this.problems = list;
  }
}

/** No tree with this id. Exit code 2. */
export class TreeNotFoundError extends RagomicsError {
  override readonly exitCode = 2;
}

/** The Temporal server (or another required service) cannot be reached. Exit code 3. */
export class ServiceUnavailableError extends RagomicsError {
  override readonly exitCode = 3;
}

/**
 * A setting is invalid: an environment variable, a flag or the Temporal client config file
 * (`TEMPORAL_CONFIG_FILE`, `TEMPORAL_PROFILE`). `problems` holds one line per bad setting,
 * each starting with the variable's name. Exit code 2; nothing was started.
 */
export class ConfigError extends InvalidInputError {}

/** The tree's workflow has closed, so it accepts no more changes. Exit code 2. */
export class TreeFinishedError extends InvalidInputError {}

/**
 * No worker answered a query about the tree: none polls its task queue (the server's
 * FAILED_PRECONDITION, or DEADLINE_EXCEEDED after its ~30 s query timeout), or none took the
 * query in time. Exit code 3, like any other missing service.
 */
export class NoWorkerError extends ServiceUnavailableError {}

/**
 * A tree's workspace (its published outputs, attempt folders) cannot be read from here: deleted,
 * or on another machine. Raised by exports that need the files, such as the run crate. Exit code 2.
 */
export class WorkspaceMissingError extends InvalidInputError {}
