import type { Command } from 'commander';
import { AdminInputError } from '../../security/admins.js';
import { withAccessStore } from '../access-store.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { printResult } from '../output.js';
import { readPassword } from '../read-password.js';

export const registerAdminCommand = (program: Command): void => {
  const admin = program.command('admin').description('manage admin accounts (dashboard and admin API logins)');

  withConfigFlags(admin.command('create'))
    .description('create an admin; the password is read from stdin or typed (never a flag)')
    .argument('<username>', 'login name')
    .option('--json', 'machine-readable output')
    .action(async (username: string, options: ConfigFlags & { json?: boolean }) => {
      const config = loadCliConfig(options);
      let password: string;
      try {
        password = await readPassword();
      } catch (error) {
        throw new CliError((error as Error).message, ExitCode.usage);
      }
      const created = await withAccessStore(config, async (store) => {
        try {
          const view = await store.admins.create(username, password);
          await store.audit.record({ action: 'admin.created', outcome: 'success', actor: store.actor, target: `admin:${view.username}`, details: { via: 'cli' } });
          return view;
        } catch (error) {
          if (error instanceof AdminInputError) throw new CliError(error.message, ExitCode.usage);
          throw error;
        }
      });
      printResult(Boolean(options.json), created, () => `created admin ${created.username}; log in with POST /v1/auth/login`);
    });

  withConfigFlags(admin.command('list'))
    .description('list admin accounts')
    .option('--json', 'machine-readable output')
    .action(async (options: ConfigFlags & { json?: boolean }) => {
      const list = await withAccessStore(loadCliConfig(options), (store) => store.admins.list());
      printResult(Boolean(options.json), { admins: list }, () =>
        list.length === 0 ? 'no admins (create one: harken admin create <username>)' : list.map((item) => `${item.username}  created ${item.createdAt}${item.lastLoginAt ? `  last login ${item.lastLoginAt}` : ''}`).join('\n'),
      );
    });
};
