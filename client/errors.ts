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
export class TreeFinishedError extends InvalidInputError {
  /** The error for tree `treeId`, worded the same wherever it is found out (SDK or CLI). */
  static of(treeId: string, options?: ErrorOptions): TreeFinishedError {
    return new TreeFinishedError(`tree "${treeId}" has finished; it accepts no more changes`, options);
  }
}

/**
 * No worker answered a query about the tree: none polls its task queue (the server's
 * FAILED_PRECONDITION, or DEADLINE_EXCEEDED after its ~30 s query timeout), or none took the
 * query in time. Exit code 3, like any other missing service.
 */
export class NoWorkerError extends ServiceUnavailableError {}

/** Why a node cannot be forked (see {@link ForkSourceError}). */
export type ForkSourceProblem =
  /** The source tree has no node with that id. */
  | 'unknown-node'
  /** The node has not COMPLETED (its state is in the message). */
  | 'not-completed'
  /** The node completed without an AnnData output (`_node_anndata.h5ad`). */
  | 'no-output'
  /** The published output cannot be read from here (to verify its sha256). */
  | 'output-unreadable'
  /** The published output's sha256 no longer matches the one recorded when it was published. */
  | 'output-changed'
  /** No nodes were given and the node has no descendants to copy. */
  | 'nothing-to-copy'
  /** No nodes were given and a descendant reads a node outside the copy. */
  | 'cannot-copy';

/**
 * The node named as a fork's source cannot be forked; `problem` says why (match on it, never on
 * the message). Exit code 2; nothing was started.
 */
export class ForkSourceError extends InvalidInputError {
  constructor(readonly problem: ForkSourceProblem, message: string, options?: { cause?: unknown }) {
    super([message], options);
  }
}

/**
 * A new tree was asked to start under an id that a tree Temporal still knows (running or closed)
 * already has, where the caller asked for a fresh one (fork). Exit code 2; nothing was started.
 */
export class TreeIdTakenError extends InvalidInputError {}

/**
 * `gc` refused to run because analysis trees are RUNNING (one of them might be about to reuse an
 * entry); `runningTrees` names some of them. Exit code 2 (the contract's "changes nothing"
 * refusal); nothing was removed.
 */
export class GcRefusedError extends RagomicsError {
  override readonly exitCode = 2;
  constructor(readonly runningTrees: string[], message: string) {
    super(message);
  }
}

/**
 * A tree's workspace (its published outputs, attempt folders) cannot be read from here: deleted,
 * or on another machine. Raised by exports that need the files, such as the run crate. Exit code 2.
 */
export class WorkspaceMissingError extends InvalidInputError {}
