import pino, { type Logger, type LoggerOptions } from 'pino';
import { maskIp } from '../security/ip-mask.js';

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

const SENSITIVE_PARAM = /key|token|secret|pass|auth|code|sig|session|cookie|credential/i;
const CREDENTIAL_SHAPED = /^(hk|hksa)_|^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$|^[A-Za-z0-9+/_-]{32,}={0,2}$/;

/**
 * A URL for the log: query values that are (or are named like) credentials become
 * `[redacted]`, so a key pasted into a query string never reaches a log line.
 */
export const redactUrl = (url: string | undefined): string | undefined => {
  if (!url) return url;
  const mark = url.indexOf('?');
  if (mark < 0) return url;
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const [name = '', ...rest] = pair.split('=');
      let value = rest.join('=');
      try {
        value = decodeURIComponent(value.replace(/\+/g, ' '));
      } catch {
        return `${name}=[redacted]`;
      }
      return SENSITIVE_PARAM.test(name) || CREDENTIAL_SHAPED.test(value) ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, mark)}?${query}`;
};

/** Request lines carry a masked client address (IPv4 /24, IPv6 /48), no port, and no credentials from the query. */
const requestSerializer = (request: LoggedRequest) => ({
  method: request.method,
  url: redactUrl(request.url),
  host: request.host,
  remoteAddress: maskIp(request.ip ?? request.socket?.remoteAddress),
});

export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * Paths that may carry credentials. Request logs only include method, url and
 * addresses by default; this is the second line of defence for anything logged
 * with headers or bodies attached.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["sec-websocket-protocol"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.secret',
  '*.apiKey',
  '*.token',
];

export interface LoggerSettings {
  readonly level: string;
  readonly format: LogFormat;
  /** Where JSON lines go; tests pass a stream to capture them. */
  readonly destination?: pino.DestinationStream;
}

export const createLogger = (settings: LoggerSettings): Logger => {
  const options: LoggerOptions = {
    level: settings.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { req: requestSerializer },
    base: { service: 'harken' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const pretty = settings.format === 'pretty' || (settings.format === 'auto' && process.stdout.isTTY === true);
  if (settings.destination) return pino(options, settings.destination);
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  }
  return pino(options);
};
