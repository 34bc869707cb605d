import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { checkSecretFileMode, SecretError, writeSecretFile } from '../../security/server-secrets.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { CliError } from '../exit-codes.js';
import { printResult } from '../output.js';

export const registerSecretsCommand = (program: Command): void => {
  const secrets = program.command('secrets').description('server secrets (kept in files with mode 0600; values are never printed)');

  withConfigFlags(secrets.command('generate'))
    .description('create missing secret files; --rotate replaces existing ones (outstanding tokens stop working)')
    .option('--rotate', 'replace secrets that already exist')
    .option('--json', 'machine-readable output')
    .action((options: ConfigFlags & { rotate?: boolean; json?: boolean }) => {
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
