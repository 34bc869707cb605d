import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Helmet's headers, worked out once at start. (@fastify/helmet rebuilds the middleware and
 * re-parses the CSP on every request, a measurable share of a request's CPU.) Nothing in
 * them depends on the request.
 */
export const helmetHeaders = (options: HelmetOptions): Record<string, string> => {
  const headers: Record<string, string> = {};
  const collector = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as never, collector as never, (error?: unknown) => {
    failure = error;
  });
  if (failure) throw failure;
  return headers;
};

/**
 * What a JSON (or audio) answer needs, after the OWASP REST cheat sheet: nothing may load
 * or frame it as a document, no MIME sniffing, no referrer; HSTS where Helmet sends it.
 * Document-only headers (a full CSP, COOP, X-XSS-Protection, …) go on HTML pages only:
 * on every API answer they were ~1 KB of headers each, with no effect.
 */
const apiHeaders = (page: Record<string, string>): Record<string, string> => ({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  ...(page['strict-transport-security'] ? { 'strict-transport-security': page['strict-transport-security'] } : {}),
});

/**
 * Every answer's headers, in one onSend hook: its request id, `no-store` on API answers (they
 * may carry conversations, transcripts or credentials, never to be kept by caches or browsers),
 * and the security set. HTML pages get Helmet's full set (a route's own CSP, e.g. the docs
 * page's, is kept).
 */
export const registerResponseHeaders = (app: FastifyInstance, options: HelmetOptions): void => {
  const page = helmetHeaders(options);
  const api = apiHeaders(page);
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (request.url.startsWith('/v1/') && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    const type = reply.getHeader('content-type');
    const headers = typeof type === 'string' && type.startsWith('text/html') ? page : api;
    for (const name in headers) if (!reply.hasHeader(name)) reply.header(name, headers[name]);
    done(null, payload);
  });
};
