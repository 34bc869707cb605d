import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HarkenConfig } from '../config/schema.js';
import type { Access as AccessServices } from '../security/access.js';
import type { Caller, PresentedCredentials } from '../security/authenticator.js';
import { secretMatches } from '../security/credentials.js';
import { limitKeyOf } from '../security/ip-mask.js';
import type { Bucket } from '../security/rate-limits.js';
import { grants, type Access } from '../security/scopes.js';
import type { ErrorBody } from './error-handler.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route. Routes without it need `admin` (secure default). */
    access?: Access;
    /** A tighter per-caller limit for this route, requests per rate-limit window. */
    routeRateLimit?: (config: HarkenConfig) => number;
    /** Health probes are not rate limited. */
    rateLimitExempt?: boolean;
    /**
     * Creates, rotates or revokes credentials: only an admin login session (cookie + CSRF)
     * may, never a token or API key, so a leaked token cannot mint lasting access.
     */
    credentialManagement?: boolean;
    /** Open to an admin who must still enrol a second factor (auth.requireTotp). */
    beforeTotpEnrolment?: boolean;
  }
  interface FastifyInstance {
    /** Every route with the access it requires, for audits and the auth-matrix test. */
    readonly accessTable: RouteAccess[];
  }
  interface FastifyRequest {
    /** Set once credentials were checked; undefined on public routes. */
    caller?: Caller;
  }
}

export interface RouteAccess {
  readonly method: string;
  readonly url: string;
  readonly access: Access;
  readonly websocket: boolean;
}

export const SESSION_COOKIE = 'harken_session';
/** Over HTTPS the cookie is `__Host-harken_session`: only this exact host, only Secure, Path=/. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
export const sessionCookieName = (secure: boolean): string => (secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE);
export const CSRF_HEADER = 'x-csrf-token';
/** Browsers cannot set headers on a WebSocket: a token may come as a subprotocol `harken.token.<jwt>`. */
export const TOKEN_SUBPROTOCOL_PREFIX = 'harken.token.';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A cookie that is not valid percent-encoding is ignored, like an absent one (never a 500). */
const cookieValue = (header: string | undefined, name: string): string | undefined => {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
};

const subprotocolTokenOf = (header: string | string[] | undefined): string | undefined => {
  if (header === undefined) return undefined;
  const protocols = String(header).split(',').map((item) => item.trim());
  return protocols.find((item) => item.startsWith(TOKEN_SUBPROTOCOL_PREFIX))?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
};

export const presentedCredentials = (request: FastifyRequest): PresentedCredentials => {
  const { authorization, cookie } = request.headers;
  const apiKeyHeader = request.headers['x-api-key'];
  const subprotocolToken = subprotocolTokenOf(request.headers['sec-websocket-protocol']);
  const sessionCookie = cookie === undefined ? undefined : (cookieValue(cookie, SECURE_SESSION_COOKIE) ?? cookieValue(cookie, SESSION_COOKIE));
  const credentials: { -readonly [K in keyof PresentedCredentials]: PresentedCredentials[K] } = {};
  if (authorization !== undefined) {
    const [scheme = '', ...rest] = authorization.trim().split(/\s+/);
    if (scheme.toLowerCase() === 'bearer') credentials.bearer = rest.join(' ');
    else credentials.unsupportedScheme = scheme.slice(0, 20);
  } else if (typeof apiKeyHeader === 'string') {
    credentials.bearer = apiKeyHeader.trim();
  }
  if (subprotocolToken !== undefined) credentials.subprotocolToken = subprotocolToken;
  if (sessionCookie !== undefined) credentials.sessionCookie = sessionCookie;
  return credentials;
};

const pathOf = (url: string): string => url.split('?')[0] ?? url;

const DOCS_PATH = '/docs';

/** server.docsPublic: `auto` opens /docs in development only. */
export const docsArePublic = (config: HarkenConfig): boolean =>
  config.server.docsPublic === 'auto' ? config.server.environment !== 'production' : config.server.docsPublic === 'true';

const normaliseOrigin = (origin: string): string => origin.trim().replace(/\/+$/, '').toLowerCase();

/** `/docs` covers `/docs` and `/docs/…`, not `/docsx`. */
export const isPublicPath = (path: string, publicPaths: readonly string[]): boolean =>
  publicPaths.some((prefix) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));

const deny = (reply: FastifyReply, status: number, code: string, message: string): FastifyReply => {
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="harken"');
  return reply.status(status).send({ error: { code, message } } satisfies ErrorBody);
};

/**
 * Authentication, rate limits, authorisation and CSRF, in one onRequest hook for every
 * route (the realtime WebSocket upgrade included), driven by each route's `config.access`.
 */
export const registerAccessControl = (app: FastifyInstance, config: HarkenConfig, access: AccessServices): void => {
  const docsPublic = docsArePublic(config);
  const publicPaths = config.auth.publicPaths.split(',').map((path) => path.trim()).filter((path) => path && (docsPublic || path !== DOCS_PATH));
  const accessOf = (url: string, declared: Access | undefined): Access => {
    if (isPublicPath(url, publicPaths)) return 'public';
    // Documentation that is not public is open to any valid credentials.
    if (isPublicPath(url, [DOCS_PATH])) return 'authenticated';
    return declared ?? 'admin';
  };
  const allowedOrigins = new Set(config.server.allowedOrigins.split(',').map(normaliseOrigin).filter(Boolean));
  /** Cookie-borne requests from pages of other origins are refused (cross-site WebSocket hijacking, CSRF). */
  const originRefusal = (request: FastifyRequest, websocket: boolean): string | undefined => {
    const origin = request.headers.origin;
    if (origin === undefined) return websocket ? 'a WebSocket opened with the login cookie must come from a page (Origin header)' : undefined;
    const normalised = normaliseOrigin(origin);
    if (normalised !== 'null' && (normalised === normaliseOrigin(`${request.protocol}://${request.host}`) || allowedOrigins.has(normalised))) return undefined;
    return `requests made with the login cookie are not accepted from origin ${origin.slice(0, 100)}; add it to server.allowedOrigins if it is yours`;
  };

  // Declared up front so every request object keeps one shape (set later, it deoptimises Fastify's hot paths).
  app.decorateRequest('caller', undefined);
  const table: RouteAccess[] = [];
  app.decorate('accessTable', table);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      table.push({ method, url: route.url, access: accessOf(route.url, route.config?.access), websocket: route.websocket === true });
    }
  });

  const limit = async (request: FastifyRequest, reply: FastifyReply, buckets: Bucket[], actor: string, daily?: { keyId: string; limit: number }): Promise<boolean> => {
    if (!config.rateLimit.enabled || buckets.length === 0) return true;
    const decision = await access.rateLimits.consume(buckets);
    if (!decision) return true;
    if (decision.allowed && daily) {
      const quota = await access.quotas.consume(daily.keyId, daily.limit);
      // The daily quota binds when it has fewer requests left than the window.
      if (!quota.allowed || quota.remaining < decision.remaining) {
        reply.header('ratelimit-limit', quota.limit);
        reply.header('ratelimit-remaining', quota.remaining);
        reply.header('ratelimit-reset', quota.resetSeconds);
        reply.header('ratelimit-policy', `${quota.limit};w=86400;name="daily"`);
        if (quota.allowed) return true;
        reply.header('retry-after', quota.resetSeconds);
        if (quota.firstRefusal) void access.audit.record({ action: 'quota.exhausted', outcome: 'failure', actor, ip: request.ip, details: { limit: quota.limit } });
        deny(reply, 429, 'quota_exhausted', `this key's daily quota of ${quota.limit} requests is used up; it resets at 00:00 UTC (in ${quota.resetSeconds} s)`);
        return false;
      }
    }
    reply.header('ratelimit-limit', decision.bucket.limit);
    reply.header('ratelimit-remaining', decision.remaining);
    reply.header('ratelimit-reset', decision.resetSeconds);
    reply.header('ratelimit-policy', `${decision.bucket.limit};w=${config.rateLimit.windowSeconds};name="${decision.bucket.name}"`);
    if (decision.allowed) return true;
    reply.header('retry-after', decision.resetSeconds);
    if (decision.firstRefusal) {
      void access.audit.record({ action: 'rate_limit.hit', outcome: 'failure', actor, ip: request.ip, details: { bucket: decision.bucket.name, limit: decision.bucket.limit } });
    }
    deny(reply, 429, 'rate_limited', `too many requests (${decision.bucket.name}: ${decision.bucket.limit} per ${config.rateLimit.windowSeconds} s); retry in ${decision.resetSeconds} s`);
    return false;
  };

  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions;
    const path = pathOf(request.url);
    const effective = accessOf(path, route.config?.access);
    const exempt = route.config?.rateLimitExempt === true;
    const routeKey = route.url ?? path;

    if (effective === 'public' && exempt) return;
    const address = limitKeyOf(request.ip);
    if (!exempt && !(await limit(request, reply, [{ name: 'ip', key: address, limit: config.rateLimit.requestsPerIp }], 'anonymous'))) return reply;
    if (effective === 'public') {
      const routeLimit = route.config?.routeRateLimit?.(config);
      if (!exempt && !(await limit(request, reply, [{ name: 'caller', key: `ip:${address}`, limit: config.rateLimit.requests }, ...(routeLimit ? [{ name: `route:${routeKey}`, key: `ip:${address}`, limit: routeLimit }] : [])], 'anonymous'))) return reply;
      return;
    }

    const result = await access.authenticator.authenticate(presentedCredentials(request));
    if (!result.ok) {
      if (result.presented) {
        void access.audit.record({ action: 'auth.denied', outcome: 'failure', actor: result.actor ?? 'anonymous', ip: request.ip, details: { reason: result.code, route: `${request.method} ${routeKey}` } });
      }
      return deny(reply, 401, result.code, result.message);
    }
    const caller = result.caller;
    const routeLimit = route.config?.routeRateLimit?.(config);
    const buckets: Bucket[] = [{ name: 'caller', key: caller.label, limit: caller.rateLimit ?? config.rateLimit.requests }];
    if (routeLimit) buckets.push({ name: `route:${routeKey}`, key: caller.label, limit: routeLimit });
    const dailyLimit = caller.kind === 'api-key' ? (caller.dailyLimit ?? config.rateLimit.dailyRequests) : 0;
    if (!(await limit(request, reply, buckets, caller.label, dailyLimit > 0 ? { keyId: caller.id, limit: dailyLimit } : undefined))) return reply;

    if (caller.via === 'session') {
      const refusal = originRefusal(request, String(request.headers.upgrade ?? '').toLowerCase() === 'websocket');
      if (refusal) {
        void access.audit.record({ action: 'origin.refused', outcome: 'failure', actor: caller.label, ip: request.ip, details: { origin: String(request.headers.origin ?? '(none)').slice(0, 100), route: `${request.method} ${routeKey}` } });
        return deny(reply, 403, 'origin_not_allowed', refusal);
      }
    }

    if (effective !== 'authenticated' && !grants(caller.scopes, effective)) {
      void access.audit.record({ action: 'auth.forbidden', outcome: 'failure', actor: caller.label, ip: request.ip, details: { needed: effective, route: `${request.method} ${routeKey}` } });
      return deny(reply, 403, 'insufficient_scope', `this route needs the "${effective}" scope; these credentials have: ${caller.scopes.join(', ') || 'none'}`);
    }
    if (caller.via === 'session' && !SAFE_METHODS.has(request.method)) {
      const header = request.headers[CSRF_HEADER];
      if (typeof header !== 'string' || !caller.csrfHash || !secretMatches(header, caller.csrfHash)) {
        void access.audit.record({ action: 'auth.forbidden', outcome: 'failure', actor: caller.label, ip: request.ip, details: { reason: 'csrf', route: `${request.method} ${routeKey}` } });
        return deny(reply, 403, 'csrf_failed', `a change made with a login session needs the ${CSRF_HEADER} header from the login response`);
      }
    }
    if (caller.mustEnrolTotp && !route.config?.beforeTotpEnrolment) {
      return deny(reply, 403, 'totp_enrolment_required', 'this server requires a second factor: enrol one with POST /v1/auth/totp first');
    }
    if (route.config?.credentialManagement && caller.via !== 'session') {
      void access.audit.record({ action: 'auth.forbidden', outcome: 'failure', actor: caller.label, ip: request.ip, details: { reason: 'session_required', via: caller.via, route: `${request.method} ${routeKey}` } });
      return deny(reply, 403, 'session_required', 'managing credentials and changing settings need an admin login session (cookie and x-csrf-token) or the harken CLI, not a token or API key');
    }
    request.caller = caller;
    if (caller.kind === 'api-key') access.keys.recordUse(caller.id);
    else if (caller.kind === 'service-account') access.accounts.recordUse(caller.id);
  });
};
