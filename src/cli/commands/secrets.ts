import { closeSync, existsSync, fchmodSync, openSync, writeSync } from 'node:fs';
import { renderEnvFile } from '../../security/env-file.js';
import type { Command } from 'commander';
import { checkSecretFileMode, SecretError, writeSecretFile } from '../../security/server-secrets.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { printResult } from '../output.js';

/** Writes (never over an existing file unless rotating) an env file of secrets; `-` prints it (only an example may go to a terminal). */
const writeEnvFile = (file: string, options: { rotate: boolean; example: boolean; json: boolean }): void => {
  const text = renderEnvFile({ example: options.example });
  if (file === '-') {
    if (!options.example && process.stdout.isTTY) throw new CliError('refusing to print secrets to a terminal; give --env-out a file, or add --example');
    process.stdout.write(text);
    return;
  }
  const existed = existsSync(file);
  let fd: number;
  try {
    fd = openSync(file, options.rotate ? 'w' : 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${file} exists; keep it, or replace its secrets with --rotate`);
    throw new CliError(`cannot write ${file}: ${(error as Error).message}`);
  }
  try {
    writeSync(fd, text);
    // A rotated file keeps its old mode otherwise.
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
  const status = existed ? 'rotated' : 'created';
  printResult(options.json, { envOut: file, status, example: options.example }, () => `${options.example ? 'example env file' : 'env file with a new token signing key'}: ${status} ${file} (mode 0600)`);
};

export const registerSecretsCommand = (program: Command): void => {
  const secrets = program.command('secrets').description('server secrets (kept in files with mode 0600; values are never printed)');

  withConfigFlags(secrets.command('generate'))
    .description('create missing secret files; --rotate replaces existing ones (outstanding tokens stop working)')
    .option('--rotate', 'replace secrets that already exist')
    // Not `--env-file`: Node 20 takes that flag for itself wherever it appears on the command line.
    .option('--env-out <file>', 'write the secrets as HARKEN_* lines to this file (0600) for docker compose or systemd, instead of the secret files; `-` prints it')
    .option('--example', 'with --env-out: placeholders instead of secrets (for deploy/.env.example)')
    .option('--json', 'machine-readable output')
    .action((options: ConfigFlags & { rotate?: boolean; json?: boolean; envOut?: string; example?: boolean }) => {
      if (options.envOut !== undefined) {
        writeEnvFile(options.envOut, { rotate: options.rotate ?? false, example: options.example ?? false, json: options.json ?? false });
        return;
      }
      if (options.example) throw new CliError('--example goes with --env-out', ExitCode.usage);
      const config = loadCliConfig(options);
      const file = config.auth.tokenSecretFile;
      const existed = existsSync(file);
      try {
        if (existed && !options.rotate) checkSecretFileMode(file);
        else writeSecretFile(file, { overwrite: true });
      } catch (error) {
        if (error instanceof SecretError) throw new CliError(error.message);
        throw error;
      }
      const status = !existed ? 'created' : options.rotate ? 'rotated' : 'kept';
      const overridden = config.auth.tokenSecret !== '';
      printResult(Boolean(options.json), { secrets: [{ name: 'token-signing-key', file, status, overriddenBySetting: overridden }] }, () =>
        `token signing key: ${status} ${file} (mode 0600)` + (overridden ? '\nnote: HARKEN_AUTH_TOKEN_SECRET is set and takes precedence over the file' : ''),
      );
    });
};
