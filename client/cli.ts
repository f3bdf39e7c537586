/**
 * The `ragomics` command line (CONTRACT.md): run, watch, status, add, cancel, pause, resume,
 * parallelism, timeline, report, list, worker, dev, fork, gc. Built on the SDK, so the CLI and other
 * services see the same validation and the same errors.
 *
 * Exit codes: 0 every node COMPLETED; 1 the tree ended with a node FAILED, TIMEOUT or
 * CANCELLED; 2 invalid input (nothing started or changed); 3 a service cannot be reached.
 */
import { Command, CommanderError } from 'commander';
import { registerRunCommands } from './cli/run';
import { registerInspectCommands } from './cli/inspect';
import { registerSteerCommands } from './cli/steer';
import { registerExportCommands } from './cli/export';
import { registerWorkerCommands } from './cli/worker';
import { registerForkCommand } from './cli/fork';
import { registerGcCommand } from './cli/gc';
import { ExitCode, reportError } from './cli/exit';
import { packageVersion } from '../activities/executors/repo-root';

/** Builds the program (exported for tests and for embedding). */
export function buildProgram(): Command {
  const program = new Command()
    .name('ragomics')
    .description('Durable single-cell analysis trees on Temporal.\nConnection: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*,\nTEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE (Temporal\'s standard client settings), RAGOMICS_TASK_QUEUE.\nState (dev server database, workspace): .data/ in a checkout, else $RAGOMICS_HOME/data (default ~/.ragomics/data); RAGOMICS_DATA_DIR overrides both.')
    .version(packageVersion(), '-V, --version')
    .showSuggestionAfterError(true)
    // One line per problem: the suggestion joins the error's line instead of taking its own.
    .configureOutput({ outputError: (text, write) => write(text.replace(/\n(?=\(Did you mean)/g, ' ')) })
    // Usage errors are thrown, not exited on, so they map to the contract's exit code 2.
    .exitOverride();
  registerRunCommands(program);
  registerInspectCommands(program);
  registerSteerCommands(program);
  registerExportCommands(program);
  registerWorkerCommands(program);
  registerForkCommand(program);
  registerGcCommand(program);
  // Subcommands inherit exitOverride only when set on each of them.
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI with `argv` (as `process.argv`) and resolves with the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its one-line message (or the help / version).
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.ok;
      return ExitCode.invalidInput;
    }
    return reportError(err);
  }
}

/** Entry point of bin/ragomics.js: runs, flushes stdout, exits with the contract's code. */
export function main(argv: readonly string[] = process.argv): void {
  runCli(argv).then(
    (code) => exitAfterFlush(code),
    (err: unknown) => exitAfterFlush(reportError(err)),
  );
}

function exitAfterFlush(code: number): void {
  // Exit explicitly: a lingering gRPC handle must not keep a finished command alive, but only
  // after stdout has taken everything (a big --json or timeline may still be queued).
  process.stdout.write('', () => process.exit(code));
}
