/**
 * A client event the server cannot act on: sent back as an `error` event naming the offending
 * `param` and the client's `event_id`. Only `fatal` ones close the connection.
 */
export class OpenAiProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly fatal = false,
  ) {
    super(message);
    this.name = 'OpenAiProtocolError';
  }
}

export type Json = Record<string, unknown>;

export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A field with a bad value, named by its path in the event (`session.audio.input.format.type`). */
export const invalid = (param: string, message: string, code = 'invalid_value'): OpenAiProtocolError => new OpenAiProtocolError(code, message, param);
