import type { Logger } from 'pino';

export interface ShutdownOptions {
  readonly logger: Logger;
  readonly timeoutMs: number;
  /** Stops taking work, drains and releases resources; `why` is the signal or the reason given to begin(). */
  readonly close: (why: string) => Promise<void>;
  readonly exit?: (code: number) => void;
}

export interface ShutdownControl {
  /** Shuts down as a signal would, then exits with `exitCode` (a memory restart exits 1 so the supervisor restarts it). */
  begin(why: string, exitCode: number): void;
}

/**
 * SIGTERM/SIGINT (or begin()): stop accepting, drain, finish in-flight requests, close the
 * database, exit 0. If that takes longer than the timeout, or a second signal arrives, exit 1 at once.
 */
export const installGracefulShutdown = (options: ShutdownOptions): ShutdownControl => {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let shuttingDown = false;
  const begin = (why: string, exitCode: number) => {
    if (shuttingDown) {
      options.logger.warn({ why }, 'second signal: exiting without waiting');
      exit(1);
      return;
    }
    shuttingDown = true;
    options.logger.info({ why, timeoutMs: options.timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      options.logger.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out; exiting');
      exit(1);
    }, options.timeoutMs);
    timer.unref();
    options
      .close(why)
      .then(() => {
        clearTimeout(timer);
        options.logger.info({ exitCode }, 'shutdown complete');
        options.logger.flush?.();
        exit(exitCode);
      })
      .catch((error: unknown) => {
        options.logger.error({ err: error }, 'error during shutdown');
        exit(1);
      });
  };
  const onSignal = (signal: NodeJS.Signals) => begin(signal, 0);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { begin };
};
