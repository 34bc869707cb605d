import { chmodSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { BackupError, backupDatabase, restoreDatabase } from '../../store/backup.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { CliError } from '../exit-codes.js';
import { liveServerHolding } from '../../ops/run-history.js';
import { printResult } from '../output.js';

const stamp = (date: Date): string => date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
const secretBeside = (file: string): string => `${file}.token-signing.key`;

const copySecret = (from: string, to: string): void => {
  mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
  copyFileSync(from, to);
  chmodSync(to, 0o600);
};

const asCliError = (error: unknown): unknown => (error instanceof BackupError ? new CliError(error.message) : error);

export const registerBackupCommands = (program: Command): void => {
  withConfigFlags(program.command('backup'))
    .description('copy the database while the server runs (SQLite online backup), checked, mode 0600')
    .option('-o, --out <file>', 'where to write it (default: <data.dir>/backups/harken-<time>.db)')
    .option('--with-secrets', 'also copy the token signing key, beside the backup as <file>.token-signing.key')
    .option('--json', 'machine-readable output')
    .action(async (options: ConfigFlags & { out?: string; withSecrets?: boolean; json?: boolean }) => {
      const config = loadCliConfig(options);
      const out = resolve(options.out ?? join(config.data.dir, 'backups', `harken-${stamp(new Date())}.db`));
      const result = await backupDatabase(config.store.sqlitePath, out).catch((error: unknown) => Promise.reject(asCliError(error)));
      let secret: string | undefined;
      if (options.withSecrets) {
        if (!existsSync(config.auth.tokenSecretFile)) throw new CliError(`no token signing key at ${config.auth.tokenSecretFile} to copy (is the key set through the environment?)`);
        secret = secretBeside(out);
        copySecret(config.auth.tokenSecretFile, secret);
      }
      printResult(Boolean(options.json), { ...result, ...(secret ? { secretFile: secret } : {}) }, () => `backed up ${config.store.sqlitePath} to ${out} (${(result.bytes / 1024).toFixed(0)} KiB, checked)${secret ? `, token signing key to ${secret}` : ''}`);
    });

  withConfigFlags(program.command('restore'))
    .description('put a backup in place of the database (stop the server first); the old one is kept as <db>.before-restore')
    .argument('<file>', 'a file made by harken backup')
    .option('--force', 'replace an existing database')
    .option('--with-secrets', 'also restore the token signing key saved beside the backup')
    .option('--json', 'machine-readable output')
    .action(async (file: string, options: ConfigFlags & { force?: boolean; withSecrets?: boolean; json?: boolean }) => {
      const config = loadCliConfig(options);
      // Replacing the database under a running server would lose what it writes and confuse its caches.
      const holder = liveServerHolding(join(config.data.dir, 'server.run'));
      if (holder) throw new CliError(`a Harken server (pid ${holder.pid}, started ${holder.startedAt}) is using ${config.data.dir}; stop it first, then restore`);
      const backup = resolve(file);
      if (options.withSecrets && !existsSync(secretBeside(backup))) throw new CliError(`no ${secretBeside(backup)} beside the backup; it was made without --with-secrets`);
      const result = await restoreDatabase(backup, config.store.sqlitePath, { force: Boolean(options.force) }).catch((error: unknown) => Promise.reject(asCliError(error)));
      if (options.withSecrets) copySecret(secretBeside(backup), config.auth.tokenSecretFile);
      printResult(Boolean(options.json), { ...result, restoredFrom: backup, ...(options.withSecrets ? { secretFile: config.auth.tokenSecretFile } : {}) }, () => `restored ${backup} to ${config.store.sqlitePath}${options.withSecrets ? ' with the token signing key' : ''}; start the server to use it`);
    });
};
