import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { redactUrl } from '../logging/logger.js';
import { maskIp } from '../security/ip-mask.js';

const roundedMs = (ms: number): number => Math.round(ms * 10) / 10;

/** Client addresses repeat from request to request: each is masked once (bounded). */
const MASKED_CACHE_SIZE = 1_000;

/**
 * One line per request (Fastify writes two) with flat, already-safe fields: the query
 * redacted, the address masked. Built here rather than through the `req` serializer, and
 * written through a child logger without the redaction pass: every field of this line is
 * made safe above, and the pass (a walk of the line for credential-shaped paths) was a third
 * of a line's cost. Everything else a request logs keeps the redaction.
 */
export class RequestLog extends LogController {
  private readonly lines: Logger;
  private readonly masked = new Map<string, string | null>();

  constructor(logger: Logger) {
    super();
    // No level of its own: it follows the root logger's, changed live by the config API.
    this.lines = logger.child({}, { redact: [] });
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      reply.log.error({ method: request.method, url: redactUrl(request.url), remoteAddress: this.maskedAddress(request.ip), statusCode: reply.statusCode, responseTime: roundedMs(reply.elapsedTime), err: error }, 'request errored');
      return;
    }
    // A route's own log level (the health probes: warn) lives on the request's logger (pino's, as built in app.ts).
    if (!(reply.log as Logger).isLevelEnabled('info')) return;
    this.lines.info(
      { reqId: request.id, method: request.method, url: redactUrl(request.url), remoteAddress: this.maskedAddress(request.ip), statusCode: reply.statusCode, responseTime: roundedMs(reply.elapsedTime) },
      'request completed',
    );
  }

  private maskedAddress(ip: string): string | null {
    let masked = this.masked.get(ip);
    if (masked === undefined) {
      masked = maskIp(ip);
      if (this.masked.size >= MASKED_CACHE_SIZE) this.masked.clear();
      this.masked.set(ip, masked);
    }
    return masked;
  }
}
