import type { AdminRepository, AdminSession } from './admins.js';
import { looksLikeApiKey, type ApiKeyRepository, type ApiKeyView, type KeyCheck } from './api-keys.js';
import type { CredentialSource } from './credential-source.js';
import { SCOPES, type Scope } from './scopes.js';
import { looksLikeServiceAccountSecret, type ServiceAccountCheck, type ServiceAccountRepository, type ServiceAccountView } from './service-accounts.js';
import { ALL_TENANTS, DEFAULT_TENANT, tenantScope, type TenantScope } from './tenants.js';
import { looksLikeJwt, type TokenIssuer } from './tokens.js';

/** Who is calling, after their credentials were checked. */
export interface Caller {
  readonly kind: 'api-key' | 'service-account' | 'admin';
  readonly id: string;
  /** `key:<id>`, `service-account:<id>`, `admin:<username>`: the audit log's actor. */
  readonly label: string;
  /** The tenant whose records this caller reaches (admins reach every tenant's). */
  readonly tenant: string;
  readonly scopes: readonly Scope[];
  /** How the credentials arrived; session callers must also pass the CSRF and origin checks. */
  readonly via: 'secret' | 'token' | 'session';
  /** What the access rests on; re-checked by open sessions. */
  readonly source: CredentialSource;
  readonly rateLimit?: number;
  readonly dailyLimit?: number;
  readonly maxSessions?: number;
  /** Session callers: hash of the session's CSRF token. */
  readonly csrfHash?: string;
  /** An admin without a second factor on a server that requires one: may only enrol it. */
  readonly mustEnrolTotp?: boolean;
}

/** Which conversations (and other tenant records) a caller may reach. */
export const tenantScopeOf = (caller: Caller): TenantScope => (caller.scopes.includes('admin') ? ALL_TENANTS : tenantScope(caller.tenant));

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

export type AuthFailure = { readonly ok: false; readonly code: AuthFailureCode; readonly message: string; readonly presented: boolean; readonly actor?: string };
export type Authentication = { readonly ok: true; readonly caller: Caller } | AuthFailure;

const fail = (code: AuthFailureCode, message: string, actor?: string): AuthFailure => ({ ok: false, code, message, presented: code !== 'unauthenticated', ...(actor ? { actor } : {}) });

const keyCaller = (key: ApiKeyView, via: Caller['via'], scopes: readonly Scope[] = key.scopes): Caller => ({
  kind: 'api-key',
  id: key.id,
  label: `key:${key.id}`,
  tenant: key.tenant,
  scopes,
  via,
  source: { kind: 'key', id: key.id },
  ...(key.rateLimit !== null ? { rateLimit: key.rateLimit } : {}),
  ...(key.dailyLimit !== null ? { dailyLimit: key.dailyLimit } : {}),
  ...(key.maxSessions !== null ? { maxSessions: key.maxSessions } : {}),
});

const accountCaller = (account: ServiceAccountView, via: Caller['via'], scopes: readonly Scope[] = account.permissions): Caller => ({
  kind: 'service-account',
  id: account.id,
  label: `service-account:${account.id}`,
  tenant: account.tenant,
  scopes,
  via,
  source: { kind: 'service-account', id: account.id, secretVersion: account.secretVersion },
});

const adminCaller = (session: AdminSession, via: Caller['via'], scopes: readonly Scope[], requireTotp = false): Caller => ({
  kind: 'admin',
  id: session.admin.id,
  label: `admin:${session.admin.username}`,
  tenant: DEFAULT_TENANT,
  scopes,
  via,
  source: { kind: 'admin-session', id: session.id },
  ...(via === 'session' ? { csrfHash: session.csrfHash } : {}),
  ...(requireTotp && !session.admin.totpEnabled ? { mustEnrolTotp: true } : {}),
});

/** A token never grants more than its subject holds now (scopes may have been narrowed). */
const narrowed = (tokenScopes: readonly Scope[], held: readonly Scope[]): Scope[] =>
  held.includes('admin') ? [...tokenScopes] : tokenScopes.filter((scope) => held.includes(scope));

export interface AuthenticatorOptions {
  /** An admin session unused this long has ended. */
  readonly sessionIdleMs: number;
  readonly requireTotp: boolean;
}

/**
 * Turns presented credentials into a Caller: API keys (`hk_…`), service-account secrets
 * (`hksa_…`), short-lived tokens (JWT) and admin session cookies. Every credential is
 * checked against its source on every request, so revocation takes effect at once,
 * for tokens too; `recheck` lets open sessions do the same.
 */
export class Authenticator {
  private readonly secretCallers = new WeakMap<object, Caller>();

  constructor(
    private readonly keys: ApiKeyRepository,
    private readonly accounts: ServiceAccountRepository,
    private readonly admins: AdminRepository,
    private readonly tokens: TokenIssuer,
    private readonly options: AuthenticatorOptions,
  ) {}

  async authenticate(presented: PresentedCredentials): Promise<Authentication> {
    if (presented.unsupportedScheme) return fail('malformed_credentials', `unsupported Authorization scheme "${presented.unsupportedScheme}"; use Bearer`);
    if (presented.bearer !== undefined) return this.bearer(presented.bearer);
    if (presented.subprotocolToken !== undefined) {
      // That channel is for short-lived tokens: an API key there would sit in browser code.
      if (!looksLikeJwt(presented.subprotocolToken)) return fail('malformed_credentials', 'a WebSocket subprotocol (harken.token. or openai-insecure-api-key.) carries tokens from POST /v1/auth/token only, never an API key or secret');
      return this.bearer(presented.subprotocolToken);
    }
    if (presented.sessionCookie !== undefined) return this.session(presented.sessionCookie);
    return fail('unauthenticated', 'credentials required: send an API key as "Authorization: Bearer hk_…", or a token from POST /v1/auth/token');
  }

  /** Is what the caller's access rests on still valid? Open sessions ask this at each turn and every few seconds. */
  async recheck(caller: Caller): Promise<Authentication> {
    const source = caller.source;
    if (source.kind === 'key') {
      const check = await this.keys.active(source.id);
      if (!check.ok) return this.refused(check.reason === 'unknown' ? 'revoked' : check.reason, 'API key', caller.label);
      return { ok: true, caller };
    }
    if (source.kind === 'service-account') {
      const check = await this.accounts.active(source.id);
      if (!check.ok) return this.refused('revoked', 'service account', caller.label);
      if (check.account.secretVersion !== source.secretVersion) return fail('credentials_revoked', 'the service account secret has been rotated', caller.label);
      return { ok: true, caller };
    }
    const session = await this.admins.sessionById(source.id, this.options.sessionIdleMs);
    if (!session) return fail('credentials_revoked', 'the login session has ended (logged out, expired or the admin was disabled)', caller.label);
    return { ok: true, caller };
  }

  /**
   * The same answer as `authenticate` when it needs no I/O: an API key or service-account
   * secret whose row is cached (every request of a key in use). Undefined otherwise: tokens,
   * sessions and rows not yet loaded go through `authenticate`.
   */
  authenticateCached(presented: PresentedCredentials): Authentication | undefined {
    const value = presented.bearer;
    if (value === undefined || presented.unsupportedScheme) return undefined;
    if (looksLikeApiKey(value)) {
      const check = this.keys.verifyCached(value);
      return check && this.keyAuthentication(check);
    }
    if (looksLikeServiceAccountSecret(value)) {
      const check = this.accounts.verifyCached(value);
      return check && this.accountAuthentication(check);
    }
    return undefined;
  }

  private async bearer(value: string): Promise<Authentication> {
    if (looksLikeApiKey(value)) return this.keyAuthentication(await this.keys.verify(value));
    if (looksLikeServiceAccountSecret(value)) return this.accountAuthentication(await this.accounts.verify(value));
    if (looksLikeJwt(value)) {
      const check = await this.tokens.verify(value);
      if (!check.ok) return this.refused(check.reason === 'invalid' ? 'unknown' : check.reason, 'token');
      return this.tokenSource(check.token.source, check.token.scopes);
    }
    return fail('malformed_credentials', 'credentials are not an API key (hk_…), a service account secret (hksa_…) or a token');
  }

  private keyAuthentication(check: KeyCheck): Authentication {
    if (check.ok) return { ok: true, caller: this.secretCaller(check.key, keyCaller) };
    return this.refused(check.reason, 'API key', check.keyId ? `key:${check.keyId}` : undefined);
  }

  private accountAuthentication(check: ServiceAccountCheck): Authentication {
    if (check.ok) return { ok: true, caller: this.secretCaller(check.account, accountCaller) };
    return this.refused(check.reason, 'service account secret', check.accountId ? `service-account:${check.accountId}` : undefined);
  }

  private async tokenSource(source: CredentialSource, scopes: readonly Scope[]): Promise<Authentication> {
    if (source.kind === 'key') {
      const check = await this.keys.active(source.id);
      if (!check.ok) return this.refused(check.reason === 'unknown' ? 'revoked' : check.reason, 'token’s API key', `key:${source.id}`);
      return { ok: true, caller: keyCaller(check.key, 'token', narrowed(scopes, check.key.scopes)) };
    }
    if (source.kind === 'service-account') {
      const check = await this.accounts.active(source.id);
      const actor = `service-account:${source.id}`;
      if (!check.ok) return this.refused('revoked', 'token’s service account', actor);
      if (check.account.secretVersion !== source.secretVersion) return fail('credentials_revoked', 'the token’s service account secret has been rotated', actor);
      return { ok: true, caller: accountCaller(check.account, 'token', narrowed(scopes, check.account.permissions)) };
    }
    const session = await this.admins.sessionById(source.id, this.options.sessionIdleMs);
    if (!session) return this.refused('revoked', 'token’s login session');
    return { ok: true, caller: adminCaller(session, 'token', narrowed(scopes, SCOPES), this.options.requireTotp) };
  }

  private async session(cookie: string): Promise<Authentication> {
    const session = await this.admins.session(cookie, this.options.sessionIdleMs);
    if (!session) return fail('invalid_credentials', 'the login session is unknown, expired or logged out; log in again');
    return { ok: true, caller: adminCaller(session, 'session', ['admin'], this.options.requireTotp) };
  }

  /** Views of cached rows are reused request after request, and so is the caller made from one. */
  private secretCaller<View extends object>(view: View, make: (view: View, via: Caller['via']) => Caller): Caller {
    let caller = this.secretCallers.get(view);
    if (caller === undefined) {
      caller = make(view, 'secret');
      this.secretCallers.set(view, caller);
    }
    return caller;
  }

  private refused(reason: 'malformed' | 'unknown' | 'expired' | 'revoked', what: string, actor?: string): AuthFailure {
    if (reason === 'malformed') return fail('malformed_credentials', `the ${what} is malformed`, actor);
    if (reason === 'expired') return fail('credentials_expired', `the ${what} has expired`, actor);
    if (reason === 'revoked') return fail('credentials_revoked', `the ${what} has been revoked`, actor);
    return fail('invalid_credentials', `the ${what} is not valid`, actor);
  }
}
