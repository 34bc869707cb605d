import type { Logger } from 'pino';

export interface ShutdownOptions {
  readonly logger: Logger;
  readonly timeoutMs: number;
  /** Stops taking work and releases resources. */
  readonly close: () => Promise<void>;
  readonly exit?: (code: number) => void;
}

/**
 * SIGTERM/SIGINT: stop accepting, finish in-flight requests, close the database,
 * exit 0. If that takes longer than the timeout, or a second signal arrives, exit 1 at once.
 */
export const installGracefulShutdown = (options: ShutdownOptions): void => {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      options.logger.warn({ signal }, 'second signal: exiting without waiting');
      exit(1);
      return;
    }
    shuttingDown = true;
    options.logger.info({ signal, timeoutMs: options.timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      options.logger.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out; exiting');
      exit(1);
    }, options.timeoutMs);
    timer.unref();
    options
      .close()
      .then(() => {
        clearTimeout(timer);
        options.logger.info('shutdown complete');
        options.logger.flush?.();
        exit(0);
      })
      .catch((error: unknown) => {
        options.logger.error({ err: error }, 'error during shutdown');
        exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
};
