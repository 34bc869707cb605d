/** An engine cannot run here: `message` says what is missing, `fix` how to get it. */
export class EngineUnavailableError extends Error {
  constructor(readonly engine: string, message: string, readonly fix: string) {
    super(message);
    this.name = 'EngineUnavailableError';
  }
}
