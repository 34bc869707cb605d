import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerCallCommand } from './commands/call.js';
import { registerCallsCommand } from './commands/calls.js';
import { registerHealthcheckCommand } from './commands/healthcheck.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerConfigCommand } from './commands/config.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerModelsCommand } from './commands/models.js';
import { registerServeCommand } from './commands/serve.js';
import { registerVersionCommand } from './commands/version.js';
import { registerAdminCommand } from './commands/admin.js';
import { registerKeysCommand } from './commands/keys.js';
import { registerSecretsCommand } from './commands/secrets.js';
import { registerServiceAccountsCommand } from './commands/service-accounts.js';
import { runProgram } from './run-program.js';

const buildProgram = (): Command => {
  const program = new Command('harken')
    .description('Harken: a self-hosted voice AI agent server')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run harken --help for usage)')
    .exitOverride();
  registerServeCommand(program);
  registerDoctorCommand(program);
  registerHealthcheckCommand(program);
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
  return program;
};

await runProgram(buildProgram());
