/** Loading attempts before giving up on an engine (a model on a slow mount, a busy device). */
export const LOAD_ATTEMPTS = 3;
const LOAD_BACKOFF_MS = 500;

export type LoadRetryListener = (what: string, attempt: number, error: Error, waitMs: number) => void;

/**
 * Loads an engine (at start, or a decoder replacing a hung one), retrying with exponential
 * back-off (0.5 s, 1 s); the last error is the one reported.
 */
export const loadWithRetries = async <T>(what: string, load: () => Promise<T> | T, onRetry?: LoadRetryListener): Promise<T> => {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await load();
    } catch (error) {
      if (attempt >= LOAD_ATTEMPTS) throw error;
      const waitMs = LOAD_BACKOFF_MS * 2 ** (attempt - 1);
      onRetry?.(what, attempt, error as Error, waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
};
