import type { Logger } from 'pino';
import { isStorageFull } from '../store/database.js';
import type { HarkenConfig } from '../config/schema.js';
import type { Database } from '../store/database.js';
import { AdminRepository } from './admins.js';
import { ApiKeyRepository } from './api-keys.js';
import { AuditLog } from './audit-log.js';
import { Authenticator } from './authenticator.js';
import { DailyQuotas } from './daily-quotas.js';
import { LoginGuard } from './login-guard.js';
import { RateLimits } from './rate-limits.js';
import { loadSecret } from './server-secrets.js';
import { ServiceAccountRepository } from './service-accounts.js';
import { SessionLimits } from './session-limits.js';
import { TokenIssuer } from './tokens.js';

/** Everything access control needs, built once per server from config and the database. */
export interface Access {
  readonly keys: ApiKeyRepository;
  readonly accounts: ServiceAccountRepository;
  readonly admins: AdminRepository;
  readonly tokens: TokenIssuer;
  readonly authenticator: Authenticator;
  readonly audit: AuditLog;
  readonly rateLimits: RateLimits;
  readonly quotas: DailyQuotas;
  readonly loginGuard: LoginGuard;
  readonly sessions: SessionLimits;
  /** Sessions one caller may hold at once unless its key says otherwise. */
  readonly sessionsPerCaller: number;
  /** Writes batched usage counters (also done every second); call before closing the database. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const FLUSH_INTERVAL_MS = 1_000;

/** realtime.maxSessionsPerCaller, or its share of realtime.maxSessions. */
export const sessionsPerCaller = (config: HarkenConfig): number =>
  config.realtime.maxSessionsPerCaller || Math.max(1, Math.floor(config.realtime.maxSessions * config.realtime.callerSessionShare));

export const createAccess = (config: HarkenConfig, database: Database, logger: Logger, now: () => Date = () => new Date()): Access => {
  const secret = loadSecret({
    value: config.auth.tokenSecret,
    setting: 'HARKEN_AUTH_TOKEN_SECRET',
    file: config.auth.tokenSecretFile,
    production: config.server.environment === 'production',
  });
  if (secret.warning) logger.warn(`${secret.warning} (allowed in development only)`);
  if (secret.origin === 'generated') logger.info({ file: config.auth.tokenSecretFile }, 'generated the token signing key');
  const keys = new ApiKeyRepository(database.kysely, () => database.externalChangeCounter(), now);
  const accounts = new ServiceAccountRepository(database.kysely, () => database.externalChangeCounter(), now);
  const admins = new AdminRepository(database.kysely, now);
  const tokens = new TokenIssuer(secret.value, now);
  const quotas = new DailyQuotas(database.kysely, now);
  const perCaller = sessionsPerCaller(config);
  // Once per outage, not once a second: a full disk would otherwise flood the log it shares.
  let failing = false;
  const flush = async () => {
    const results = await Promise.allSettled([keys.flushUse(), accounts.flushUse(), quotas.flush()]);
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure && !failing) {
      const reason = failure.reason as Error;
      if (isStorageFull(reason)) logger.warn({ storageError: reason.message }, 'usage counters could not be stored (the data volume is full); kept in memory for the next try');
      else logger.warn({ err: reason }, 'usage counters could not be stored; kept for the next try');
    } else if (!failure && failing) logger.info('usage counters stored again');
    failing = failure !== undefined;
  };
  const timer = setInterval(() => void flush(), FLUSH_INTERVAL_MS);
  timer.unref();
  return {
    keys,
    accounts,
    admins,
    tokens,
    authenticator: new Authenticator(keys, accounts, admins, tokens, { sessionIdleMs: config.auth.sessionIdleMinutes * 60_000, requireTotp: config.auth.requireTotp }),
    audit: new AuditLog(database.kysely, logger, now),
    rateLimits: new RateLimits(config.rateLimit.windowSeconds),
    quotas,
    loginGuard: new LoginGuard({
      maxFailuresPerAccount: config.auth.loginMaxFailures,
      maxFailuresPerIp: config.auth.loginMaxFailuresPerIp,
      lockoutSeconds: config.auth.loginLockoutSeconds,
      accountLockAddresses: config.auth.loginAccountLockAddresses,
      accountLockFailures: config.auth.loginAccountLockFailures,
    }),
    sessions: new SessionLimits({
      maxTotal: config.realtime.maxSessions,
      maxPerAddress: config.realtime.maxSessionsPerAddress || perCaller,
      maxPendingPerAddress: config.realtime.maxPendingPerAddress,
    }),
    sessionsPerCaller: perCaller,
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
};
