import type { Command } from 'commander';
import { SCOPES } from '../../security/scopes.js';
import { ServiceAccountNameTaken, type ServiceAccountView } from '../../security/service-accounts.js';
import { scopesOption, tenantOption, withAccessStore } from '../access-store.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { printResult } from '../output.js';

type Flags = ConfigFlags & { json?: boolean };

const describe = (account: ServiceAccountView): string =>
  `${account.id}  ${account.disabledAt ? 'disabled' : 'active  '}  ${account.name}  [${account.permissions.join(',')}]${account.lastUsedAt ? `  last used ${account.lastUsedAt}` : ''}`;

export const registerServiceAccountsCommand = (program: Command): void => {
  const accounts = program.command('service-accounts').description('manage service accounts (machines such as satellites)');

  withConfigFlags(accounts.command('create'))
    .description('create a service account and print its secret once')
    .argument('<name>', 'unique name, e.g. kitchen-satellite')
    .requiredOption('--permissions <list>', `comma-separated: ${SCOPES.join(', ')}`)
    .option('--tenant <name>', 'tenant the account and what it creates belong to', 'default')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: Flags & { permissions: string; tenant: string }) => {
      const permissions = scopesOption(options.permissions);
      const tenant = tenantOption(options.tenant);
      const created = await withAccessStore(loadCliConfig(options), async (store) => {
        try {
          const result = await store.accounts.create(name, permissions, tenant);
          await store.audit.record({ action: 'service_account.created', outcome: 'success', actor: store.actor, target: `service-account:${result.view.id}`, details: { name, permissions } });
          return result;
        } catch (error) {
          if (error instanceof ServiceAccountNameTaken) throw new CliError(error.message, ExitCode.usage);
          throw error;
        }
      });
      printResult(Boolean(options.json), { secret: created.secret, ...created.view }, () => `${created.secret}\n(store this secret now: it is not shown again; id ${created.view.id})`);
    });

  withConfigFlags(accounts.command('list'))
    .description('list service accounts')
    .option('--json', 'machine-readable output')
    .action(async (options: Flags) => {
      const list = await withAccessStore(loadCliConfig(options), (store) => store.accounts.list());
      printResult(Boolean(options.json), { serviceAccounts: list }, () => (list.length === 0 ? 'no service accounts' : list.map(describe).join('\n')));
    });

  withConfigFlags(accounts.command('rotate'))
    .description('give a service account a new secret; the old one stops working at once')
    .argument('<id>', 'service account id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: Flags) => {
      const rotated = await withAccessStore(loadCliConfig(options), async (store) => {
        const result = await store.accounts.rotate(id);
        if (result) await store.audit.record({ action: 'service_account.rotated', outcome: 'success', actor: store.actor, target: `service-account:${id}` });
        return result;
      });
      if (!rotated) throw new CliError(`no service account with id ${id} (see harken service-accounts list)`);
      printResult(Boolean(options.json), { secret: rotated.secret, ...rotated.view }, () => `${rotated.secret}\n(new secret for ${rotated.view.name}; the old one no longer works)`);
    });

  withConfigFlags(accounts.command('disable'))
    .description('disable a service account')
    .argument('<id>', 'service account id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: Flags) => {
      const disabled = await withAccessStore(loadCliConfig(options), async (store) => {
        const result = await store.accounts.disable(id);
        if (result) await store.audit.record({ action: 'service_account.disabled', outcome: 'success', actor: store.actor, target: `service-account:${id}` });
        return result;
      });
      if (!disabled) throw new CliError(`no service account with id ${id} (see harken service-accounts list)`);
      printResult(Boolean(options.json), disabled, () => `disabled ${disabled.name}`);
    });
};
