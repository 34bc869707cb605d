import type { Command } from 'commander';
import { AdminInputError } from '../../security/admins.js';
import { withAccessStore, type AccessStore } from '../access-store.js';
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

  /** Finds an admin by username or fails with exit code 1, naming the fix. */
  const lifecycle = (name: string, description: string, run: (store: AccessStore, adminId: string, username: string, password: string | undefined) => Promise<Record<string, unknown>>, human: (result: Record<string, unknown>) => string) =>
    withConfigFlags(admin.command(name))
      .description(description)
      .argument('<username>', 'login name')
      .option('--json', 'machine-readable output')
      .action(async (username: string, options: ConfigFlags & { json?: boolean }) => {
        const config = loadCliConfig(options);
        const password = name === 'reset-password' ? await readPassword().catch((error: Error) => { throw new CliError(error.message, ExitCode.usage); }) : undefined;
        const result = await withAccessStore(config, async (store) => {
          const target = await store.admins.byUsername(username);
          if (!target) throw new CliError(`no admin named ${username} (see harken admin list)`);
          try {
            return await run(store, target.id, target.username, password);
          } catch (error) {
            if (error instanceof AdminInputError) throw new CliError(error.message, ExitCode.usage);
            throw error;
          }
        });
        printResult(Boolean(options.json), result, () => human(result));
      });

  lifecycle(
    'disable',
    'disable an admin: no login, and every session (and token from one) ends at once',
    async (store, id, username) => {
      if ((await store.admins.enabledCount()) <= 1 && !(await store.admins.get(id))?.disabledAt) throw new CliError('the last enabled admin cannot be disabled');
      await store.admins.setDisabled(id, true);
      await store.audit.record({ action: 'admin.updated', outcome: 'success', actor: store.actor, target: `admin:${username}`, details: { disabled: true } });
      return { username, disabled: true };
    },
    (result) => `disabled ${String(result.username)}`,
  );
  lifecycle(
    'enable',
    'enable a disabled admin',
    async (store, id, username) => {
      await store.admins.setDisabled(id, false);
      await store.audit.record({ action: 'admin.updated', outcome: 'success', actor: store.actor, target: `admin:${username}`, details: { disabled: false } });
      return { username, disabled: false };
    },
    (result) => `enabled ${String(result.username)}`,
  );
  lifecycle(
    'reset-password',
    'set a new password (read from stdin or typed); the admin’s sessions end',
    async (store, id, username, password) => {
      await store.admins.setPassword(id, password ?? '');
      await store.audit.record({ action: 'admin.password_changed', outcome: 'success', actor: store.actor, target: `admin:${username}`, details: { via: 'cli' } });
      return { username, passwordReset: true };
    },
    (result) => `new password set for ${String(result.username)}; their sessions ended`,
  );
  lifecycle(
    'logout',
    'log an admin out everywhere (every session and token from one)',
    async (store, id, username) => {
      const ended = await store.admins.revokeSessions(id);
      await store.audit.record({ action: 'admin.sessions_revoked', outcome: 'success', actor: store.actor, target: `admin:${username}`, details: { ended } });
      return { username, sessionsEnded: ended };
    },
    (result) => `ended ${String(result.sessionsEnded)} session(s) of ${String(result.username)}`,
  );
  lifecycle(
    'remove-totp',
    'remove an admin’s second factor (a lost phone); they can enrol again after logging in',
    async (store, id, username) => {
      await store.admins.setTotp(id, null, false);
      await store.audit.record({ action: 'admin.totp_disabled', outcome: 'success', actor: store.actor, target: `admin:${username}`, details: { via: 'cli' } });
      return { username, totpEnabled: false };
    },
    (result) => `removed the second factor of ${String(result.username)}`,
  );
  lifecycle(
    'delete',
    'delete an admin',
    async (store, id, username) => {
      const target = await store.admins.get(id);
      if (!target?.disabledAt && (await store.admins.enabledCount()) <= 1) throw new CliError('the last enabled admin cannot be deleted');
      await store.admins.delete(id);
      await store.audit.record({ action: 'admin.deleted', outcome: 'success', actor: store.actor, target: `admin:${username}` });
      return { username, deleted: true };
    },
    (result) => `deleted ${String(result.username)}`,
  );
};
