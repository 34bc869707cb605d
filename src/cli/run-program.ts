import { CommanderError, type Command } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';

const report = (error: unknown): number => {
  if (error instanceof CommanderError) {
    // Help and --version "fail" with exit code 0; everything else commander rejects is misuse.
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (error instanceof CliError) {
    process.stderr.write(`harken: ${error.message}\n`);
    return error.exitCode;
  }
  process.stderr.write(`harken: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return ExitCode.failure;
};

/** Parses argv and runs the command; errors become one line on stderr and the exit code (0 ok, 1 failure, 2 usage). */
export const runProgram = async (program: Command): Promise<void> => {
  const exitOverrideAll = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(exitOverrideAll);
  };
  exitOverrideAll(program);
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    process.exitCode = report(error);
  }
};
