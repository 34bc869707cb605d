import type { FastifyReply } from 'fastify';

/** The client closed the connection before its answer was sent: the work for it was cancelled. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection before the answer was ready');
    this.name = 'ClientGoneError';
  }
}

/** The server is stopping and in-flight work ran past its grace: cancelled, answered 503. */
export class ShuttingDownError extends Error {
  constructor() {
    super('the server is shutting down; try again in a moment');
    this.name = 'ShuttingDownError';
  }
}

/**
 * A signal for a request's engine work: aborted when the client goes away before the answer is
 * sent (also if it already has), so speech engines and agents stop working for nobody, or when
 * the server's shutdown can wait no longer (`shutdown`).
 */
export const requestWorkSignal = (reply: FastifyReply, shutdown?: AbortSignal): AbortSignal => {
  const controller = new AbortController();
  const gone = () => {
    if (!reply.raw.writableEnded) controller.abort(new ClientGoneError());
  };
  if (reply.raw.destroyed || reply.request.raw.socket?.destroyed) gone();
  else reply.raw.once('close', gone);
  return shutdown ? AbortSignal.any([controller.signal, shutdown]) : controller.signal;
};
