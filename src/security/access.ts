import type { Logger } from 'pino';
import type { HarkenConfig } from '../config/schema.js';
import type { Database } from '../store/database.js';
import { AdminRepository } from './admins.js';
import { ApiKeyRepository } from './api-keys.js';
import { AuditLog } from './audit-log.js';
import { Authenticator } from './authenticator.js';
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
  readonly loginGuard: LoginGuard;
  readonly sessions: SessionLimits;
}

export const createAccess = (config: HarkenConfig, database: Database, logger: Logger, now: () => Date = () => new Date()): Access => {
  const secret = loadSecret({
    value: config.auth.tokenSecret,
    setting: 'HARKEN_AUTH_TOKEN_SECRET',
    file: config.auth.tokenSecretFile,
    production: config.server.environment === 'production',
  });
  if (secret.warning) logger.warn(`${secret.warning} (allowed in development only)`);
  if (secret.origin === 'generated') logger.info({ file: config.auth.tokenSecretFile }, 'generated the token signing key');
  const keys = new ApiKeyRepository(database.kysely, now);
  const accounts = new ServiceAccountRepository(database.kysely, now);
  const admins = new AdminRepository(database.kysely, now);
  const tokens = new TokenIssuer(secret.value, now);
  return {
    keys,
    accounts,
    admins,
    tokens,
    authenticator: new Authenticator(keys, accounts, admins, tokens),
    audit: new AuditLog(database.kysely, logger, now),
    rateLimits: new RateLimits(config.rateLimit.windowSeconds),
    loginGuard: new LoginGuard({
      maxFailuresPerAccount: config.auth.loginMaxFailures,
      maxFailuresPerIp: config.auth.loginMaxFailuresPerIp,
      lockoutSeconds: config.auth.loginLockoutSeconds,
    }),
    sessions: new SessionLimits(config.realtime.maxSessions),
  };
};
