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
