import type { AdminRepository } from './admins.js';
import { looksLikeApiKey, type ApiKeyRepository, type ApiKeyView } from './api-keys.js';
import { SCOPES, type Scope } from './scopes.js';
import { looksLikeServiceAccountSecret, type ServiceAccountRepository, type ServiceAccountView } from './service-accounts.js';
import { looksLikeJwt, type TokenIssuer, type TokenSubject } from './tokens.js';

/** Who is calling, after their credentials were checked. */
export interface Caller {
  readonly kind: 'api-key' | 'service-account' | 'admin';
  readonly id: string;
  /** `key:<id>`, `service-account:<id>`, `admin:<username>`: the audit log's actor. */
  readonly label: string;
  readonly scopes: readonly Scope[];
  /** How the credentials arrived; session callers must also pass the CSRF check. */
  readonly via: 'secret' | 'token' | 'session';
  readonly rateLimit?: number;
  readonly maxSessions?: number;
  /** Session callers: hash of the session's CSRF token. */
  readonly csrfHash?: string;
}

/** Credentials as they arrived on a request. */
export interface PresentedCredentials {
  /** Bearer value or X-API-Key header. */
  readonly bearer?: string;
  /** A token offered as a WebSocket subprotocol (`harken.token.<jwt>`). */
  readonly subprotocolToken?: string;
  /** The admin session cookie. */
  readonly sessionCookie?: string;
  /** An Authorization header with a scheme other than Bearer. */
  readonly unsupportedScheme?: string;
}

export type AuthFailureCode = 'unauthenticated' | 'malformed_credentials' | 'invalid_credentials' | 'credentials_expired' | 'credentials_revoked';

export type Authentication =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly code: AuthFailureCode; readonly message: string; readonly presented: boolean; readonly actor?: string };

const fail = (code: AuthFailureCode, message: string, actor?: string): Authentication => ({ ok: false, code, message, presented: code !== 'unauthenticated', ...(actor ? { actor } : {}) });

const keyCaller = (key: ApiKeyView, via: Caller['via'], scopes: readonly Scope[] = key.scopes): Caller => ({
  kind: 'api-key',
  id: key.id,
  label: `key:${key.id}`,
  scopes,
  via,
  ...(key.rateLimit !== null ? { rateLimit: key.rateLimit } : {}),
  ...(key.maxSessions !== null ? { maxSessions: key.maxSessions } : {}),
});

const accountCaller = (account: ServiceAccountView, via: Caller['via'], scopes: readonly Scope[] = account.permissions): Caller => ({
  kind: 'service-account',
  id: account.id,
  label: `service-account:${account.id}`,
  scopes,
  via,
});

/** A token never grants more than its subject holds now (scopes may have been narrowed). */
const narrowed = (tokenScopes: readonly Scope[], held: readonly Scope[]): Scope[] =>
  held.includes('admin') ? [...tokenScopes] : tokenScopes.filter((scope) => held.includes(scope));

/**
 * Turns presented credentials into a Caller: API keys (`hk_…`), service-account secrets
 * (`hksa_…`), short-lived tokens (JWT) and admin session cookies. Every credential is
 * looked up on every request, so revocation takes effect at once, for tokens too.
 */
export class Authenticator {
  constructor(
    private readonly keys: ApiKeyRepository,
    private readonly accounts: ServiceAccountRepository,
    private readonly admins: AdminRepository,
    private readonly tokens: TokenIssuer,
  ) {}

  async authenticate(presented: PresentedCredentials): Promise<Authentication> {
    if (presented.unsupportedScheme) return fail('malformed_credentials', `unsupported Authorization scheme "${presented.unsupportedScheme}"; use Bearer`);
    const bearer = presented.bearer ?? presented.subprotocolToken;
    if (bearer !== undefined) return this.bearer(bearer);
    if (presented.sessionCookie !== undefined) return this.session(presented.sessionCookie);
    return fail('unauthenticated', 'credentials required: send an API key as "Authorization: Bearer hk_…", or a token from POST /v1/auth/token');
  }

  private async bearer(value: string): Promise<Authentication> {
    if (looksLikeApiKey(value)) {
      const check = await this.keys.verify(value);
      if (check.ok) return { ok: true, caller: keyCaller(check.key, 'secret') };
      return this.refused(check.reason, 'API key', check.keyId ? `key:${check.keyId}` : undefined);
    }
    if (looksLikeServiceAccountSecret(value)) {
      const check = await this.accounts.verify(value);
      if (check.ok) return { ok: true, caller: accountCaller(check.account, 'secret') };
      return this.refused(check.reason, 'service account secret', check.accountId ? `service-account:${check.accountId}` : undefined);
    }
    if (looksLikeJwt(value)) {
      const check = await this.tokens.verify(value);
      if (!check.ok) return this.refused(check.reason === 'invalid' ? 'unknown' : check.reason, 'token');
      return this.tokenSubject(check.token.subject, check.token.scopes);
    }
    return fail('malformed_credentials', 'credentials are not an API key (hk_…), a service account secret (hksa_…) or a token');
  }

  private async tokenSubject(subject: TokenSubject, scopes: readonly Scope[]): Promise<Authentication> {
    if (subject.kind === 'key') {
      const check = await this.keys.active(subject.id);
      if (!check.ok) return this.refused(check.reason === 'unknown' ? 'revoked' : check.reason, 'token’s API key', `key:${subject.id}`);
      return { ok: true, caller: keyCaller(check.key, 'token', narrowed(scopes, check.key.scopes)) };
    }
    if (subject.kind === 'service-account') {
      const check = await this.accounts.active(subject.id);
      if (!check.ok) return this.refused('revoked', 'token’s service account', `service-account:${subject.id}`);
      return { ok: true, caller: accountCaller(check.account, 'token', narrowed(scopes, check.account.permissions)) };
    }
    const admin = await this.admins.get(subject.id);
    if (!admin) return this.refused('revoked', 'token’s admin account');
    return { ok: true, caller: { kind: 'admin', id: admin.id, label: `admin:${admin.username}`, scopes: narrowed(scopes, SCOPES), via: 'token' } };
  }

  private async session(cookie: string): Promise<Authentication> {
    const session = await this.admins.session(cookie);
    if (!session) return fail('invalid_credentials', 'the login session is unknown, expired or logged out; log in again');
    return { ok: true, caller: { kind: 'admin', id: session.admin.id, label: `admin:${session.admin.username}`, scopes: ['admin'], via: 'session', csrfHash: session.csrfHash } };
  }

  private refused(reason: 'malformed' | 'unknown' | 'expired' | 'revoked', what: string, actor?: string): Authentication {
    if (reason === 'malformed') return fail('malformed_credentials', `the ${what} is malformed`, actor);
    if (reason === 'expired') return fail('credentials_expired', `the ${what} has expired`, actor);
    if (reason === 'revoked') return fail('credentials_revoked', `the ${what} has been revoked`, actor);
    return fail('invalid_credentials', `the ${what} is not valid`, actor);
  }
}
