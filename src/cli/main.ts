import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerCallCommand } from './commands/call.js';
import { registerCallsCommand } from './commands/calls.js';
import { registerConfigCommand } from './commands/config.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerModelsCommand } from './commands/models.js';
import { registerServeCommand } from './commands/serve.js';
import { registerVersionCommand } from './commands/version.js';
import { registerAdminCommand } from './commands/admin.js';
import { registerKeysCommand } from './commands/keys.js';
import { registerSecretsCommand } from './commands/secrets.js';
import { registerServiceAccountsCommand } from './commands/service-accounts.js';
import { CliError, ExitCode } from './exit-codes.js';

const buildProgram = (): Command => {
  const program = new Command('harken')
    .description('Harken: a self-hosted voice AI agent server')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run harken --help for usage)')
    .exitOverride();
  registerServeCommand(program);
  registerMigrateCommand(program);
  registerBackupCommands(program);
  registerConfigCommand(program);
  registerVersionCommand(program);
  registerCallCommand(program);
  registerCallsCommand(program);
  registerModelsCommand(program);
  registerKeysCommand(program);
  registerAdminCommand(program);
  registerServiceAccountsCommand(program);
  registerSecretsCommand(program);
  const exitOverrideAll = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(exitOverrideAll);
  };
  program.commands.forEach(exitOverrideAll);
  return program;
};

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

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}
