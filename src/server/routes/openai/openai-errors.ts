import type { FastifyInstance, FastifyReply } from 'fastify';

/** OpenAI's error body: its SDKs and clients read `message`, `type`, `param` and `code`. */
export interface OpenAiErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null; readonly code: string | null };
}

/** OpenAI's error `type` for a status (its 401s are invalid_request_errors too). */
const typeFor = (status: number): string => (status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error');

/** Harken's codes that OpenAI names differently. */
const OPENAI_CODES: Record<string, string> = { rate_limited: 'rate_limit_exceeded' };

export const openAiError = (status: number, code: string | null, message: string, param: string | null = null): OpenAiErrorBody => ({
  // Harken's own codes stay (credentials_expired says more than OpenAI's invalid_api_key); SDKs go by the status.
  error: { message, type: typeFor(status), param, code: code === null ? null : (OPENAI_CODES[code] ?? code) },
});

/** Answers a request error in OpenAI's shape, naming the parameter at fault. */
export const sendOpenAiError = (reply: FastifyReply, status: number, code: string, message: string, param: string | null = null): FastifyReply =>
  reply.status(status).send(openAiError(status, code, message, param));

/**
 * Every error on these routes leaves in OpenAI's shape, whoever produced it: the access layer
 * (401, 403, 429), validation, the engines, the error handler. Harken's `{error:{code,message}}`
 * is rewritten on its way out; a body already in OpenAI's shape is left alone.
 */
export const answerErrorsLikeOpenAi = (app: FastifyInstance): void => {
  app.addHook('onSend', async (_request, reply, payload) => inOpenAiShape(reply.statusCode, payload));
};

/** A response body, with a Harken error rewritten in OpenAI's shape (anything else unchanged). */
export const inOpenAiShape = (status: number, payload: unknown): unknown => {
  if (status < 400 || typeof payload !== 'string') return payload;
  let body: { error?: { code?: unknown; message?: unknown; type?: unknown } };
  try {
    body = JSON.parse(payload) as typeof body;
  } catch {
    return payload;
  }
  if (!body.error || typeof body.error.message !== 'string' || body.error.type !== undefined) return payload;
  return JSON.stringify(openAiError(status, typeof body.error.code === 'string' ? body.error.code : null, body.error.message));
};
