/**
 * An error meant for the client: an HTTP status, a stable machine-readable code
 * and a message safe to show. Anything else that escapes a handler becomes a 500
 * with a generic message, so internals never leak.
 */
export class HarkenError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
    this.name = 'HarkenError';
  }
}

export const notFound = (what: string): HarkenError => new HarkenError(404, 'not_found', `${what} not found`);
export const conflict = (code: string, message: string): HarkenError => new HarkenError(409, code, message);
export const badRequest = (code: string, message: string): HarkenError => new HarkenError(400, code, message);
