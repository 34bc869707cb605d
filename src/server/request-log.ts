import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { redactUrl } from '../logging/logger.js';
import { maskIp } from '../security/ip-mask.js';

const roundedMs = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * One line per request (Fastify writes two) with flat, already-safe fields: the query
 * redacted, the address masked. Built here rather than through the `req` serializer,
 * it costs half as much on every call.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: redactUrl(request.url),
      remoteAddress: maskIp(request.ip),
      statusCode: reply.statusCode,
      responseTime: roundedMs(reply.elapsedTime),
    };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}
