import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { HarkenConfig } from '../../config/schema.js';
import { HarkenError } from '../../errors.js';
import type { Access } from '../../security/access.js';
import { AdminInputError, MIN_PASSWORD_LENGTH } from '../../security/admins.js';
import { SCOPES, type Scope } from '../../security/scopes.js';
import type { SetupCode } from '../../security/setup-code.js';
import { totpStep } from '../../security/totp.js';
import { CSRF_HEADER, presentedCredentials, sessionCookieName, TOKEN_SUBPROTOCOL_PREFIX } from '../access-control.js';
import { errorResponses } from '../schemas.js';

const ScopeName = Type.Union(SCOPES.map((scope) => Type.Literal(scope)));

const LoginResponse = Type.Object({
  admin: Type.Object({ id: Type.String(), username: Type.String() }),
  csrfToken: Type.String({ description: `Send as the ${CSRF_HEADER} header on every state-changing request made with the session cookie.` }),
  expiresAt: Type.String({ format: 'date-time' }),
});

export interface AuthRouteDependencies {
  readonly config: HarkenConfig;
  readonly access: Access;
  readonly setupCode: SetupCode;
}

/** Secure cookies get the `__Host-` prefix: browsers then refuse them from subdomains and plain HTTP. */
export const sessionCookie = (config: HarkenConfig, request: FastifyRequest, value: string, maxAgeSeconds: number): string => {
  const secure = config.server.environment === 'production' || request.protocol === 'https';
  return `${sessionCookieName(secure)}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
};

const tooManyAttempts = (reply: FastifyReply, retryAfterSeconds: number): FastifyReply =>
  reply
    .status(429)
    .header('retry-after', retryAfterSeconds)
    .send({ error: { code: 'too_many_attempts', message: `too many failed logins; try again in ${retryAfterSeconds} s` } });

/** Admin login/logout, first-admin setup, and short-lived tokens. */
export const authRoutes = (deps: AuthRouteDependencies): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { config, access } = deps;
    const sessionTtlSeconds = config.auth.sessionTtlMinutes * 60;

    const startSession = async (request: FastifyRequest, reply: FastifyReply, admin: { id: string; username: string }) => {
      const session = await access.admins.startSession(admin.id, sessionTtlSeconds * 1000, request.ip);
      reply.header('set-cookie', sessionCookie(config, request, session.sessionToken, sessionTtlSeconds));
      reply.header('cache-control', 'no-store');
      return { admin: { id: admin.id, username: admin.username }, csrfToken: session.csrfToken, expiresAt: session.expiresAt };
    };

    app.post(
      '/v1/auth/login',
      {
        config: { access: 'public' },
        schema: {
          summary: 'Admin login: sets an HttpOnly session cookie',
          description: `After ${config.auth.loginMaxFailures} failures on an account from one address that address is locked out of it for ${config.auth.loginLockoutSeconds} s; an address is blocked after ${config.auth.loginMaxFailuresPerIp} failures an hour (429 with Retry-After). Admins with a second factor also send \`totp\` (or a \`recoveryCode\`).`,
          tags: ['auth'],
          body: Type.Object(
            {
              username: Type.String({ minLength: 1, maxLength: 200 }),
              password: Type.String({ minLength: 1, maxLength: 1024 }),
              totp: Type.Optional(Type.String({ minLength: 1, maxLength: 12, description: 'The 6-digit code of the admin’s authenticator app.' })),
              recoveryCode: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'One of the recovery codes shown at TOTP enrolment (each works once).' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: LoginResponse, ...errorResponses(400, 401, 429) },
        },
      },
      async (request, reply) => {
        const { username, password, totp, recoveryCode } = request.body;
        const account = username.trim().toLowerCase();
        // What was typed as a username may be a password typed in the wrong field: only known names are recorded.
        const actorFor = async () => ((await access.admins.byUsername(account)) ? `admin:${account}` : 'unknown');
        const gate = await access.loginGuard.gate(account, request.ip);
        if (!gate.open) {
          await access.audit.record({ action: 'auth.login', outcome: 'failure', actor: await actorFor(), ip: request.ip, details: { reason: `locked_${gate.scope}` } });
          return tooManyAttempts(reply, gate.retryAfterSeconds);
        }
        const failed = async (reason: string, knownUsername: boolean, code = 'invalid_credentials', message = 'wrong username or password'): Promise<never> => {
          const actor = knownUsername ? `admin:${account}` : 'unknown';
          await access.audit.record({ action: 'auth.login', outcome: 'failure', actor, ip: request.ip, details: { reason } });
          const after = await access.loginGuard.failed(account, request.ip, knownUsername);
          if (!after.open) await access.audit.record({ action: 'auth.locked', outcome: 'failure', actor, ip: request.ip, details: { scope: after.scope, seconds: after.retryAfterSeconds } });
          throw new HarkenError(401, code, message);
        };
        const check = await access.admins.checkPassword(account, password);
        if (!check.ok) {
          if (check.reason === 'disabled') {
            await access.audit.record({ action: 'auth.login', outcome: 'failure', actor: `admin:${account}`, ip: request.ip, details: { reason: 'disabled' } });
            throw new HarkenError(403, 'account_disabled', 'this admin account is disabled; another admin can enable it');
          }
          return failed('wrong_credentials', check.knownUsername);
        }
        const admin = check.admin;
        if (check.totpSecret) {
          if (recoveryCode !== undefined) {
            if (!(await access.admins.useRecoveryCode(admin.id, recoveryCode))) return failed('wrong_recovery_code', true, 'invalid_second_factor', 'wrong or already used recovery code');
            await access.audit.record({ action: 'auth.recovery_code_used', outcome: 'success', actor: `admin:${admin.username}`, ip: request.ip, details: { left: await access.admins.remainingRecoveryCodes(admin.id) } });
          } else if (totp === undefined) {
            throw new HarkenError(401, 'second_factor_required', 'this admin uses a second factor: send the 6-digit code as "totp" (or a "recoveryCode")');
          } else {
            const step = totpStep(check.totpSecret, totp);
            if (step === undefined || !(await access.admins.acceptTotpStep(admin.id, step))) return failed('wrong_totp', true, 'invalid_second_factor', 'wrong or already used authenticator code');
          }
        }
        await access.loginGuard.succeeded(account, request.ip);
        await access.admins.recordLogin(admin.id);
        await access.audit.record({ action: 'auth.login', outcome: 'success', actor: `admin:${admin.username}`, ip: request.ip, details: { secondFactor: check.totpSecret ? (recoveryCode !== undefined ? 'recovery_code' : 'totp') : 'none' } });
        return startSession(request, reply, admin);
      },
    );

    app.post(
      '/v1/auth/logout',
      {
        config: { access: 'authenticated', beforeTotpEnrolment: true },
        schema: { summary: 'End the admin session (the cookie stops working at once)', tags: ['auth'], response: { 204: Type.Null(), ...errorResponses(401, 403) } },
      },
      async (request, reply) => {
        const cookie = presentedCredentials(request).sessionCookie;
        if (request.caller?.via === 'session' && cookie) {
          await access.admins.endSession(cookie);
          await access.audit.record({ action: 'auth.logout', outcome: 'success', actor: request.caller.label, ip: request.ip });
        }
        reply.header('set-cookie', sessionCookie(config, request, '', 0));
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/v1/auth/setup',
      {
        config: { access: 'public' },
        schema: {
          summary: 'Create the first admin with the one-time setup code printed by `harken serve`',
          tags: ['auth'],
          body: Type.Object(
            { setupCode: Type.String({ minLength: 1, maxLength: 100 }), username: Type.String({ minLength: 1, maxLength: 63 }), password: Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: 1024 }) },
            { additionalProperties: false },
          ),
          response: { 201: LoginResponse, ...errorResponses(400, 401, 409, 429) },
        },
      },
      async (request, reply) => {
        const { setupCode, username, password } = request.body;
        const gate = await access.loginGuard.setupGate(request.ip);
        if (!gate.open) return tooManyAttempts(reply, gate.retryAfterSeconds);
        if ((await access.admins.count()) > 0) {
          deps.setupCode.revoke();
          throw new HarkenError(409, 'already_set_up', 'an admin already exists; log in instead');
        }
        if (!deps.setupCode.consume(setupCode)) {
          await access.loginGuard.setupFailed(request.ip);
          await access.audit.record({ action: 'admin.created', outcome: 'failure', actor: 'anonymous', ip: request.ip, details: { reason: 'wrong_setup_code' } });
          throw new HarkenError(401, 'invalid_setup_code', 'the setup code is wrong or was already used');
        }
        let admin;
        try {
          admin = await access.admins.create(username, password);
        } catch (error) {
          deps.setupCode.issue();
          if (error instanceof AdminInputError) throw new HarkenError(400, 'invalid_request', `${error.message}; restart harken serve for a new setup code`);
          throw error;
        }
        await access.audit.record({ action: 'admin.created', outcome: 'success', actor: `admin:${admin.username}`, target: `admin:${admin.username}`, ip: request.ip, details: { via: 'setup_code' } });
        reply.status(201);
        return startSession(request, reply, admin);
      },
    );

    app.get(
      '/v1/auth/me',
      {
        config: { access: 'authenticated', beforeTotpEnrolment: true },
        schema: {
          summary: 'Who the presented credentials belong to',
          tags: ['auth'],
          response: {
            200: Type.Object({ kind: Type.String(), id: Type.String(), actor: Type.String(), tenant: Type.String(), scopes: Type.Array(Type.String()), via: Type.String() }),
            ...errorResponses(401),
          },
        },
      },
      async (request) => {
        const caller = request.caller!;
        return { kind: caller.kind, id: caller.id, actor: caller.label, tenant: caller.tenant, scopes: [...caller.scopes], via: caller.via };
      },
    );

    app.post(
      '/v1/auth/token',
      {
        config: { access: 'authenticated' },
        // A bodiless POST asks for a token with every scope of the credential and the default lifetime.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: {
          summary: 'Exchange an API key, service account secret or admin session for a short-lived token',
          description: `The token (a JWT) goes in "Authorization: Bearer …" or, for browsers opening /v1/realtime, as the WebSocket subprotocol "${TOKEN_SUBPROTOCOL_PREFIX}<token>" next to "harken.v1". It dies with the credential it came from.`,
          tags: ['auth'],
          body: Type.Object(
            {
              scopes: Type.Optional(Type.Array(ScopeName, { minItems: 1, uniqueItems: true, description: 'Narrow the token to these scopes (default: all the credential has).' })),
              ttlSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: config.auth.tokenMaxTtlSeconds, description: `Lifetime (default ${config.auth.tokenTtlSeconds}).` })),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({ token: Type.String(), tokenType: Type.Literal('Bearer'), expiresAt: Type.String({ format: 'date-time' }), expiresIn: Type.Integer(), scopes: Type.Array(Type.String()) }),
            ...errorResponses(400, 401, 403),
          },
        },
      },
      async (request, reply) => {
        const caller = request.caller!;
        if (caller.via === 'token') throw new HarkenError(403, 'token_not_allowed', 'a token cannot mint tokens; use the API key, service account secret or login session');
        const held = caller.scopes.includes('admin') ? [...SCOPES] : [...caller.scopes];
        const wanted: Scope[] = request.body.scopes ?? [...caller.scopes];
        const missing = wanted.filter((scope) => !held.includes(scope));
        if (missing.length > 0) throw new HarkenError(403, 'insufficient_scope', `these credentials cannot grant: ${missing.join(', ')}`);
        const ttl = request.body.ttlSeconds ?? config.auth.tokenTtlSeconds;
        const issued = await access.tokens.issue(caller.source, wanted, ttl);
        await access.audit.record({ action: 'token.issued', outcome: 'success', actor: caller.label, ip: request.ip, details: { scopes: wanted, ttlSeconds: ttl } });
        reply.header('cache-control', 'no-store');
        reply.status(201);
        return { token: issued.token, tokenType: 'Bearer' as const, expiresAt: issued.expiresAt.toISOString(), expiresIn: ttl, scopes: wanted };
      },
    );
  };
