import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Fastify types this hook per server generics
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from './error-handler.js';

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'the request took too long to arrive' },
};

/**
 * Requests Node's HTTP parser rejects before Fastify sees them (oversized headers,
 * garbage): answered in Harken's error shape, with no body for HEAD, and not logged
 * above debug (they are the client's problem and a flood must not fill the log).
 */
export const clientErrorHandler = (logger: { debug(obj: object, msg: string): void }) => (error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void => {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const known = (error.code && CLIENT_ERRORS[error.code]) || { status: 400, code: 'bad_request', message: 'the request is not valid HTTP' };
  logger.debug({ clientError: error.code ?? 'unknown' }, 'malformed request refused');
  if (socket.writable) {
    const head = Buffer.isBuffer(error.rawPacket) && error.rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
    const body = head ? '' : JSON.stringify({ error: { code: known.code, message: known.message } } satisfies ErrorBody);
    socket.write(
      `HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
};

/** Errors Fastify raises before routing (a URL that is not valid percent-encoding). */
export const frameworkErrors = (error: FastifyError, _request: FastifyRequest, reply: FastifyReply<any>): void => {
  const badUrl = error.code === 'FST_ERR_BAD_URL';
  void reply
    .status(400)
    .send({ error: { code: badUrl ? 'invalid_url' : 'invalid_request', message: badUrl ? 'the URL is not valid (bad percent-encoding)' : 'the request could not be routed' } } satisfies ErrorBody);
};
