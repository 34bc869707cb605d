import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HarkenError } from '../errors.js';
import { EngineBusyError, EngineTimeoutError } from '../engines/engine-errors.js';
import { isStorageFull } from '../store/database.js';
import { ClientGoneError, ShuttingDownError } from './client-gone.js';

/** Fastify's own client errors, renamed to our stable codes. */
const FRAMEWORK_CODES: Record<string, { code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', message: 'unsupported Content-Type; send application/json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', message: 'request body is too large' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', message: 'body is empty but Content-Type is application/json' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', message: 'body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_request', message: 'Content-Length does not match the body' },
};

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

const describeValidation = (error: FastifyError): string => {
  const first = error.validation?.[0];
  if (!first) return error.message;
  const location = error.validationContext ?? 'request';
  const path = first.instancePath ? `${location}${first.instancePath.replaceAll('/', '.')}` : location;
  const params = first.params as { missingProperty?: string; additionalProperty?: string } | undefined;
  if (params?.missingProperty) return `${location}.${params.missingProperty} is required`;
  if (params?.additionalProperty) return `${location}.${params.additionalProperty} is not allowed`;
  return `${path} ${first.message ?? 'is invalid'}`;
};

/** Maps anything thrown in a route to `{error:{code,message}}` with the right status. */
export const errorHandler = (error: FastifyError | HarkenError | Error, request: FastifyRequest, reply: FastifyReply) => {
  if (error instanceof HarkenError) {
    return reply.status(error.statusCode).send({ error: { code: error.code, message: error.message } } satisfies ErrorBody);
  }
  if (error instanceof EngineTimeoutError) {
    request.log.warn({ engine: error.engine, stage: error.stage }, 'speech engine timed out');
    return reply.status(504).send({ error: { code: 'engine_timeout', message: `${error.message}; try again` } } satisfies ErrorBody);
  }
  if (error instanceof EngineBusyError) {
    return reply.status(503).header('retry-after', 1).send({ error: { code: error.code, message: error.message } } satisfies ErrorBody);
  }
  if (error instanceof ShuttingDownError && !reply.raw.destroyed) {
    return reply.status(503).header('retry-after', 5).send({ error: { code: 'shutting_down', message: error.message } } satisfies ErrorBody);
  }
  if (reply.raw.destroyed || error instanceof ClientGoneError) {
    // Nobody is left to answer; the work for them was cancelled.
    request.log.info({ reason: error.message }, 'client went away before the answer');
    return reply.status(499).send({ error: { code: 'client_closed', message: 'the client closed the connection' } } satisfies ErrorBody);
  }
  if (isStorageFull(error)) {
    // One line, no stack: the operator needs to know the disk is full, not where in the code.
    request.log.error({ storageError: (error as Error).message }, 'write refused: the data volume is full');
    return reply.status(507).send({ error: { code: 'storage_full', message: 'the server’s storage is full, so nothing was saved; try again later (reads still work)' } } satisfies ErrorBody);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return reply.status(400).send({ error: { code: 'invalid_request', message: describeValidation(fastifyError) } } satisfies ErrorBody);
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const known = fastifyError.code ? FRAMEWORK_CODES[fastifyError.code] : undefined;
    const code = known?.code ?? (status === 404 ? 'not_found' : 'invalid_request');
    return reply.status(status).send({ error: { code, message: known?.message ?? fastifyError.message } } satisfies ErrorBody);
  }
  // Unexpected: log everything for operators, tell the client nothing internal.
  request.log.error({ err: error }, 'unhandled error');
  return reply.status(500).send({ error: { code: 'internal_error', message: 'internal server error; the request id is in the x-request-id header' } } satisfies ErrorBody);
};

export const registerErrorHandling = (app: FastifyInstance): void => {
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } } satisfies ErrorBody),
  );
};
