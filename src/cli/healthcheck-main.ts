import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerHealthcheckCommand } from './commands/healthcheck.js';
import { runProgram } from './run-program.js';

/**
 * `harken healthcheck` alone: a container runs it every few seconds, so it loads only what it
 * needs (not the server, engines and database the full CLI brings in) and answers in well under a second.
 */
const program = new Command('harken').version(VERSION, '-V, --version', 'print the version').showHelpAfterError('(run harken --help for usage)');
registerHealthcheckCommand(program);
await runProgram(program);
