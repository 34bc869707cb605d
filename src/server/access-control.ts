import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HarkenConfig } from '../config/schema.js';
import type { Access as AccessServices } from '../security/access.js';
import type { Authentication, Caller, PresentedCredentials } from '../security/authenticator.js';
import type { QuotaDecision } from '../security/daily-quotas.js';
import { secretMatches } from '../security/credentials.js';
import { limitKeyOf } from '../security/ip-mask.js';
import type { Bucket, RateDecision } from '../security/rate-limits.js';
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

/** OpenAI's browser clients carry their (ephemeral) key the same way; here it takes a token too. */
export const OPENAI_KEY_SUBPROTOCOL_PREFIX = 'openai-insecure-api-key.';

const subprotocolTokenOf = (header: string | string[] | undefined): string | undefined => {
  if (header === undefined) return undefined;
  const protocols = String(header).split(',').map((item) => item.trim());
  for (const prefix of [TOKEN_SUBPROTOCOL_PREFIX, OPENAI_KEY_SUBPROTOCOL_PREFIX]) {
    const token = protocols.find((item) => item.startsWith(prefix));
    if (token !== undefined) return token.slice(prefix.length);
  }
  return undefined;
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
export const registerAccessControl = (app: FastifyInstance, config: HarkenConfig, access: AccessServices, onRefused: (policy: string) => void = () => undefined): void => {
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

  const rateHeaders = (reply: FastifyReply, limit: number, remaining: number, resetSeconds: number, policy: string): void => {
    reply.header('ratelimit-limit', limit);
    reply.header('ratelimit-remaining', remaining);
    reply.header('ratelimit-reset', resetSeconds);
    reply.header('ratelimit-policy', policy);
  };

  const draw = (buckets: readonly Bucket[]): RateDecision | undefined => (config.rateLimit.enabled ? access.rateLimits.consume(buckets) : undefined);

  /** Draws one request from each bucket; false once a 429 was sent. */
  const admitRate = (request: FastifyRequest, reply: FastifyReply, buckets: readonly Bucket[], actor: string): boolean => {
    const decision = draw(buckets);
    return decision === undefined || applyRate(request, reply, decision, actor);
  };

  /** Names the tightest bucket in the RateLimit-* headers; refused: 429, audited once a window. */
  const applyRate = (request: FastifyRequest, reply: FastifyReply, decision: RateDecision, actor: string): boolean => {
    rateHeaders(reply, decision.bucket.limit, decision.remaining, decision.resetSeconds, `${decision.bucket.limit};w=${config.rateLimit.windowSeconds};name="${decision.bucket.name}"`);
    if (decision.allowed) return true;
    onRefused(decision.bucket.name);
    reply.header('retry-after', decision.resetSeconds);
    if (decision.firstRefusal) {
      void access.audit.record({ action: 'rate_limit.hit', outcome: 'failure', actor, ip: request.ip, details: { bucket: decision.bucket.name, limit: decision.bucket.limit } });
    }
    deny(reply, 429, 'rate_limited', `too many requests (${decision.bucket.name}: ${decision.bucket.limit} per ${config.rateLimit.windowSeconds} s); retry in ${decision.resetSeconds} s`);
    return false;
  };

  /** The daily quota binds when it has fewer requests left than the window (or none). */
  const applyQuota = (request: FastifyRequest, reply: FastifyReply, decision: RateDecision, quota: QuotaDecision, actor: string): boolean => {
    if (quota.allowed && quota.remaining >= decision.remaining) return applyRate(request, reply, decision, actor);
    rateHeaders(reply, quota.limit, quota.remaining, quota.resetSeconds, `${quota.limit};w=86400;name="daily"`);
    if (quota.allowed) return true;
    onRefused('daily');
    reply.header('retry-after', quota.resetSeconds);
    if (quota.firstRefusal) void access.audit.record({ action: 'quota.exhausted', outcome: 'failure', actor, ip: request.ip, details: { limit: quota.limit } });
    deny(reply, 429, 'quota_exhausted', `this key's daily quota of ${quota.limit} requests is used up; it resets at 00:00 UTC (in ${quota.resetSeconds} s)`);
    return false;
  };

  /** What one request is checked against, read from its route once. */
  interface Target {
    readonly effective: Exclude<Access, 'public'>;
    readonly routeKey: string;
    readonly route: FastifyContextConfig | undefined;
  }

  /** Limits, then the checks that need to know who calls; true when the route may run. */
  const admitCaller = (request: FastifyRequest, reply: FastifyReply, result: Authentication, byAddress: RateDecision | undefined, target: Target): boolean | Promise<boolean> => {
    const { routeKey } = target;
    if (!result.ok) {
      if (byAddress) applyRate(request, reply, byAddress, 'anonymous');
      if (result.presented) {
        void access.audit.record({ action: 'auth.denied', outcome: 'failure', actor: result.actor ?? 'anonymous', ip: request.ip, details: { reason: result.code, route: `${request.method} ${routeKey}` } });
      }
      deny(reply, 401, result.code, result.message);
      return false;
    }
    const caller = result.caller;
    const routeLimit = target.route?.routeRateLimit?.(config);
    const buckets: Bucket[] = [{ name: 'caller', key: caller.label, limit: caller.rateLimit ?? config.rateLimit.requests }];
    if (routeLimit) buckets.push({ name: `route:${routeKey}`, key: caller.label, limit: routeLimit });
    const dailyLimit = caller.kind === 'api-key' ? (caller.dailyLimit ?? config.rateLimit.dailyRequests) : 0;
    const decision = draw(buckets);
    if (decision && decision.allowed && dailyLimit > 0) {
      // Today's count is in memory after a key's first request of the day; only that first one waits for the database.
      const known = access.quotas.tryConsume(caller.id, dailyLimit);
      if (!known) return access.quotas.consume(caller.id, dailyLimit).then((loaded) => applyQuota(request, reply, decision, loaded, caller.label) && authorise(request, reply, caller, target));
      if (!applyQuota(request, reply, decision, known, caller.label)) return false;
    } else if (decision && !applyRate(request, reply, decision, caller.label)) {
      return false;
    }
    return authorise(request, reply, caller, target);
  };

  /** Origin, scope, CSRF, second factor and credential management, for a caller within its limits. */
  const authorise = (request: FastifyRequest, reply: FastifyReply, caller: Caller, { effective, routeKey, route }: Target): boolean => {
    if (caller.via === 'session') {
      const refusal = originRefusal(request, String(request.headers.upgrade ?? '').toLowerCase() === 'websocket');
      if (refusal) {
        void access.audit.record({ action: 'origin.refused', outcome: 'failure', actor: caller.label, ip: request.ip, details: { origin: String(request.headers.origin ?? '(none)').slice(0, 100), route: `${request.method} ${routeKey}` } });
        deny(reply, 403, 'origin_not_allowed', refusal);
        return false;
      }
    }
    if (effective !== 'authenticated' && !grants(caller.scopes, effective)) {
      void access.audit.record({ action: 'auth.forbidden', outcome: 'failure', actor: caller.label, ip: request.ip, details: { needed: effective, route: `${request.method} ${routeKey}` } });
      deny(reply, 403, 'insufficient_scope', `this route needs the "${effective}" scope; these credentials have: ${caller.scopes.join(', ') || 'none'}`);
      return false;
    }
    if (caller.via === 'session' && !SAFE_METHODS.has(request.method)) {
      const header = request.headers[CSRF_HEADER];
      if (typeof header !== 'string' || !caller.csrfHash || !secretMatches(header, caller.csrfHash)) {
        void access.audit.record({ action: 'auth.forbidden', outcome: 'failure', actor: caller.label, ip: request.ip, details: { reason: 'csrf', route: `${request.method} ${routeKey}` } });
        deny(reply, 403, 'csrf_failed', `a change made with a login session needs the ${CSRF_HEADER} header from the login response`);
        return false;
      }
    }
    if (caller.mustEnrolTotp && !route?.beforeTotpEnrolment) {
      deny(reply, 403, 'totp_enrolment_required', 'this server requires a second factor: enrol one with POST /v1/auth/totp first');
      return false;
    }
    if (route?.credentialManagement && caller.via !== 'session') {
      void access.audit.record({ action: 'auth.forbidden', outcome: 'failure', actor: caller.label, ip: request.ip, details: { reason: 'session_required', via: caller.via, route: `${request.method} ${routeKey}` } });
      deny(reply, 403, 'session_required', 'managing credentials and changing settings need an admin login session (cookie and x-csrf-token) or the harken CLI, not a token or API key');
      return false;
    }
    request.caller = caller;
    if (caller.kind === 'api-key') access.keys.recordUse(caller.id);
    else if (caller.kind === 'service-account') access.accounts.recordUse(caller.id);
    return true;
  };

  /** True when the route may run; false once a refusal was sent. Synchronous unless something must be loaded. */
  const admit = (request: FastifyRequest, reply: FastifyReply): boolean | Promise<boolean> => {
    const route = request.routeOptions;
    const path = pathOf(request.url);
    const effective = accessOf(path, route.config?.access);
    const exempt = route.config?.rateLimitExempt === true;
    const routeKey = route.url ?? path;

    if (effective === 'public' && exempt) return true;
    const address = limitKeyOf(request.ip);
    // The address's allowance is drawn before credentials are checked (bad credentials count too); its
    // headers are sent only when nothing tighter follows (an authentication failure).
    const byAddress = exempt ? undefined : draw([{ name: 'ip', key: address, limit: config.rateLimit.requestsPerIp }]);
    if (byAddress && !byAddress.allowed) return applyRate(request, reply, byAddress, 'anonymous');
    if (effective === 'public') {
      const routeLimit = route.config?.routeRateLimit?.(config);
      return admitRate(request, reply, [{ name: 'caller', key: `ip:${address}`, limit: config.rateLimit.requests }, ...(routeLimit ? [{ name: `route:${routeKey}`, key: `ip:${address}`, limit: routeLimit }] : [])], 'anonymous');
    }
    const presented = presentedCredentials(request);
    // A key or service account in use is checked from memory; tokens, sessions and first uses need I/O.
    const target: Target = { effective, routeKey, route: route.config };
    const cached = access.authenticator.authenticateCached(presented);
    if (cached) return admitCaller(request, reply, cached, byAddress, target);
    return access.authenticator.authenticate(presented).then((result) => admitCaller(request, reply, result, byAddress, target));
  };

  // A callback hook, not an async one: a request whose checks need no I/O passes without a promise.
  app.addHook('onRequest', (request, reply, done) => {
    const admitted = admit(request, reply);
    if (admitted === true) done();
    else if (admitted !== false) admitted.then((go) => go && done(), done);
  });
};
