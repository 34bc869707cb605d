import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HarkenConfig } from '../config/schema.js';
import type { Access as AccessServices } from '../security/access.js';
import type { Caller, PresentedCredentials } from '../security/authenticator.js';
import { secretMatches } from '../security/credentials.js';
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
export const CSRF_HEADER = 'x-csrf-token';
/** Browsers cannot set headers on a WebSocket: a token may come as a subprotocol `harken.token.<jwt>`. */
export const TOKEN_SUBPROTOCOL_PREFIX = 'harken.token.';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const cookieValue = (header: string | undefined, name: string): string | undefined => {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
};

export const presentedCredentials = (request: FastifyRequest): PresentedCredentials => {
  const authorization = request.headers.authorization;
  const apiKeyHeader = request.headers['x-api-key'];
  const protocols = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((item) => item.trim());
  const subprotocolToken = protocols.find((item) => item.startsWith(TOKEN_SUBPROTOCOL_PREFIX))?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  const sessionCookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
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
  const publicPaths = config.auth.publicPaths.split(',').map((path) => path.trim()).filter(Boolean);
  const accessOf = (url: string, declared: Access | undefined): Access => (isPublicPath(url, publicPaths) ? 'public' : (declared ?? 'admin'));

  const table: RouteAccess[] = [];
  app.decorate('accessTable', table);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      table.push({ method, url: route.url, access: accessOf(route.url, route.config?.access), websocket: route.websocket === true });
    }
  });

  const limit = async (request: FastifyRequest, reply: FastifyReply, buckets: Bucket[], actor: string): Promise<boolean> => {
    if (!config.rateLimit.enabled || buckets.length === 0) return true;
    const decision = await access.rateLimits.consume(buckets);
    if (!decision) return true;
    reply.header('ratelimit-limit', decision.bucket.limit);
    reply.header('ratelimit-remaining', decision.remaining);
    reply.header('ratelimit-reset', decision.resetSeconds);
    reply.header('ratelimit-policy', `${decision.bucket.limit};w=${config.rateLimit.windowSeconds}`);
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

    if (!exempt && !(await limit(request, reply, [{ name: 'ip', key: request.ip, limit: config.rateLimit.requestsPerIp }], 'anonymous'))) return reply;
    if (effective === 'public') {
      const routeLimit = route.config?.routeRateLimit?.(config);
      if (!exempt && !(await limit(request, reply, [{ name: 'caller', key: `ip:${request.ip}`, limit: config.rateLimit.requests }, ...(routeLimit ? [{ name: `route:${routeKey}`, key: `ip:${request.ip}`, limit: routeLimit }] : [])], 'anonymous'))) return reply;
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
    if (!(await limit(request, reply, buckets, caller.label))) return reply;

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
    request.caller = caller;
    if (caller.kind === 'api-key') await access.keys.recordUse(caller.id);
    else if (caller.kind === 'service-account') await access.accounts.recordUse(caller.id);
  });
};
