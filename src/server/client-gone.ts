import type { FastifyReply } from 'fastify';

/** The client closed the connection before its answer was sent: the work for it was cancelled. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection before the answer was ready');
    this.name = 'ClientGoneError';
  }
}

/**
 * A signal that aborts when the client goes away before the answer is sent, so speech engines
 * and agents stop working for nobody (a hung-up upload must not hold a synthesis slot).
 */
export const clientGoneSignal = (reply: FastifyReply): AbortSignal => {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) controller.abort(new ClientGoneError());
  });
  return controller.signal;
};
