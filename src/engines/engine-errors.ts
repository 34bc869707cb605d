/**
 * What every engine failure shares: a stable `code` for transports and clients, and whether
 * trying again later may succeed (`retryable`), so callers need not know each engine's errors.
 */
export class EngineError extends Error {
  constructor(readonly engine: string, readonly code: string, readonly retryable: boolean, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EngineError';
  }
}

/** An engine cannot run here: `message` says what is missing, `fix` how to get it. */
export class EngineUnavailableError extends EngineError {
  constructor(engine: string, message: string, readonly fix: string) {
    super(engine, 'engine_unavailable', false, message);
    this.name = 'EngineUnavailableError';
  }
}

/** An engine call that did not finish in time; its work was cancelled. */
export class EngineTimeoutError extends EngineError {
  constructor(engine: string, readonly stage: string, readonly timeoutMs: number) {
    super(engine, 'engine_timeout', true, `${engine} did not finish ${stage} within ${timeoutMs} ms`);
    this.name = 'EngineTimeoutError';
  }
}

/** Every slot of the engine is taken and its queue is full: try again shortly. */
export class EngineBusyError extends EngineError {
  constructor(engine: string, readonly queued: number) {
    super(engine, 'engine_busy', true, `${engine} is busy (${queued} calls waiting); try again shortly`);
    this.name = 'EngineBusyError';
  }
}
