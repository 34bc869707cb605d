import pino, { type Logger, type LoggerOptions } from 'pino';
import { maskIp } from '../security/ip-mask.js';

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

/** Request lines carry a masked client address (IPv4 /24, IPv6 /48) and no port. */
const requestSerializer = (request: LoggedRequest) => ({
  method: request.method,
  url: request.url,
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
