import type { Command } from 'commander';
import type { ApiKeyView } from '../../security/api-keys.js';
import { SCOPES } from '../../security/scopes.js';
import { expiryOption, positiveIntegerOption, scopesOption, tenantOption, withAccessStore } from '../access-store.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { CliError } from '../exit-codes.js';
import { printResult } from '../output.js';

const describe = (key: ApiKeyView): string =>
  `${key.id}  ${key.status.padEnd(7)}  ${key.tenant}  ${key.name}  [${key.scopes.join(',')}]` +
  `  used ${key.usageCount}×${key.lastUsedAt ? `, last ${key.lastUsedAt}` : ''}${key.expiresAt ? `  expires ${key.expiresAt}` : ''}`;

export const registerKeysCommand = (program: Command): void => {
  const keys = program.command('keys').description('manage API keys (stored hashed; a key is shown once, when created)');

  withConfigFlags(keys.command('create'))
    .description('create an API key and print it once')
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`)
    .option('--tenant <name>', 'tenant the key and the conversations it creates belong to', 'default')
    .option('--expires-in <duration>', 'e.g. 90m, 12h, 30d (default: never)')
    .option('--rate-limit <requests>', 'requests per rate-limit window for this key (default: rateLimit.requests)')
    .option('--daily-limit <requests>', 'requests per UTC day for this key (default: rateLimit.dailyRequests)')
    .option('--max-sessions <n>', 'concurrent realtime sessions (default: realtime.maxSessionsPerCaller)')
    .option('--json', 'machine-readable output')
    .action(async (options: ConfigFlags & { name: string; scopes: string; tenant: string; expiresIn?: string; rateLimit?: string; dailyLimit?: string; maxSessions?: string; json?: boolean }) => {
      const scopes = scopesOption(options.scopes);
      const tenant = tenantOption(options.tenant);
      const config = loadCliConfig(options);
      const created = await withAccessStore(config, async (store) => {
        const result = await store.keys.create({
          name: options.name,
          scopes,
          tenant,
          createdBy: store.actor,
          ...(options.expiresIn ? { expiresAt: expiryOption(options.expiresIn) } : {}),
          ...(options.rateLimit ? { rateLimit: positiveIntegerOption('--rate-limit', options.rateLimit) } : {}),
          ...(options.dailyLimit ? { dailyLimit: positiveIntegerOption('--daily-limit', options.dailyLimit) } : {}),
          ...(options.maxSessions ? { maxSessions: positiveIntegerOption('--max-sessions', options.maxSessions) } : {}),
        });
        await store.audit.record({ action: 'key.created', outcome: 'success', actor: store.actor, target: `key:${result.view.id}`, details: { name: options.name, scopes, tenant } });
        return result;
      });
      printResult(Boolean(options.json), { key: created.key, ...created.view }, () => `${created.key}\n(store this key now: it is not shown again; id ${created.view.id})`);
    });

  withConfigFlags(keys.command('list'))
    .description('list API keys (never their secrets)')
    .option('--tenant <name>', 'only this tenant’s keys')
    .option('--json', 'machine-readable output')
    .action(async (options: ConfigFlags & { tenant?: string; json?: boolean }) => {
      const tenant = options.tenant ? tenantOption(options.tenant) : undefined;
      const list = await withAccessStore(loadCliConfig(options), (store) => store.keys.list(tenant ? { tenant } : {}));
      printResult(Boolean(options.json), { keys: list }, () => (list.length === 0 ? 'no API keys' : list.map(describe).join('\n')));
    });

  withConfigFlags(keys.command('revoke'))
    .description('revoke an API key (takes effect at once, also for tokens made from it)')
    .argument('<id>', 'the key id (hk_<id>_…)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: ConfigFlags & { json?: boolean }) => {
      const revoked = await withAccessStore(loadCliConfig(options), async (store) => {
        const result = await store.keys.revoke(id);
        if (result) await store.audit.record({ action: 'key.revoked', outcome: 'success', actor: store.actor, target: `key:${id}` });
        return result;
      });
      if (!revoked) throw new CliError(`no API key with id ${id} (see harken keys list)`);
      printResult(Boolean(options.json), revoked, () => `revoked ${revoked.id} (${revoked.name})`);
    });
};
