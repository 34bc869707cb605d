import { userInfo } from 'node:os';
import pino from 'pino';
import type { HarkenConfig } from '../config/schema.js';
import { openDatabase } from '../runtime.js';
import { AdminRepository } from '../security/admins.js';
import { ApiKeyRepository } from '../security/api-keys.js';
import { AuditLog } from '../security/audit-log.js';
import { parseScopes, type Scope } from '../security/scopes.js';
import { ServiceAccountRepository } from '../security/service-accounts.js';
import { checkTenant, TenantNameError } from '../security/tenants.js';
import { migrateToLatest } from '../store/migrations.js';
import { CliError, ExitCode } from './exit-codes.js';

export interface AccessStore {
  readonly keys: ApiKeyRepository;
  readonly accounts: ServiceAccountRepository;
  readonly admins: AdminRepository;
  readonly audit: AuditLog;
  /** The audit actor for changes made from this terminal. */
  readonly actor: string;
}

/**
 * Opens the database (migrating it if needed) for a command that manages credentials,
 * directly: works whether or not the server is running, and changes apply to it at once.
 */
export const withAccessStore = async <T>(config: HarkenConfig, run: (store: AccessStore) => Promise<T>): Promise<T> => {
  const database = openDatabase(config);
  try {
    await migrateToLatest(database.kysely);
    const silent = pino({ level: 'silent' });
    const keys = new ApiKeyRepository(database.kysely, () => database.externalChangeCounter());
    const accounts = new ServiceAccountRepository(database.kysely, () => database.externalChangeCounter());
    const result = await run({
      keys,
      accounts,
      admins: new AdminRepository(database.kysely),
      audit: new AuditLog(database.kysely, silent),
      actor: `cli:${userInfo().username}`,
    });
    await Promise.all([keys.flushUse(), accounts.flushUse()]);
    return result;
  } finally {
    await database.close();
  }
};

export const scopesOption = (value: string): Scope[] => {
  try {
    return parseScopes([value]);
  } catch (error) {
    throw new CliError((error as Error).message, ExitCode.usage);
  }
};

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90m", "12h", "30d" → a date that far ahead. */
export const expiryOption = (value: string, now = new Date()): Date => {
  const match = /^(\d+)([mhd])$/.exec(value.trim());
  if (!match || Number(match[1]) <= 0) throw new CliError(`--expires-in takes a number and a unit: 90m, 12h or 30d (got "${value}")`, ExitCode.usage);
  return new Date(now.getTime() + Number(match[1]) * (UNITS[match[2] as string] as number));
};

export const positiveIntegerOption = (flag: string, value: string): number => {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new CliError(`${flag} takes a whole number above 0 (got "${value}")`, ExitCode.usage);
  return number;
};

export const tenantOption = (value: string): string => {
  try {
    return checkTenant(value);
  } catch (error) {
    if (error instanceof TenantNameError) throw new CliError(`--tenant: ${error.message}`, ExitCode.usage);
    throw error;
  }
};
