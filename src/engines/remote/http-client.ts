import { setTimeout as delay } from 'node:timers/promises';

export interface RemoteCallOptions {
  readonly timeoutMs: number;
  /** Extra attempts after a failure that may pass on retry (network error, 408, 429, 5xx). */
  readonly retries: number;
  readonly signal?: AbortSignal;
  /** First back-off; doubles each retry (a Retry-After header wins). */
  readonly backoffMs?: number;
}

/** A remote engine's answer we cannot use; the message is safe to log (it never contains the key). */
export class RemoteEngineError extends Error {
  constructor(readonly engine: string, message: string, readonly status?: number) {
    super(`${engine}: ${message}`);
    this.name = 'RemoteEngineError';
  }
}

const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);

const retryAfterMs = (response: Response): number | undefined => {
  const header = response.headers.get('retry-after');
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) ? Math.min(seconds * 1000, 30_000) : undefined;
};

/**
 * fetch with a per-attempt timeout and bounded retries with exponential back-off:
 * the one place remote engines get resilience, so each engine stays a wire format.
 */
export const callRemote = async (engine: string, url: string, init: () => RequestInit, options: RemoteCallOptions): Promise<Response> => {
  let backoff = options.backoffMs ?? 250;
  for (let attempt = 0; ; attempt += 1) {
    options.signal?.throwIfAborted();
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let response: Response | undefined;
    let failure: string;
    try {
      response = await fetch(url, { ...init(), signal });
      if (response.ok) return response;
      const detail = (await response.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
      failure = `HTTP ${response.status}${detail ? `: ${detail}` : ''}`;
      if (response.status === 401 || response.status === 403) throw new RemoteEngineError(engine, `the server refused the credentials (HTTP ${response.status})`, response.status);
      if (!RETRYABLE.has(response.status)) throw new RemoteEngineError(engine, failure, response.status);
    } catch (error) {
      if (error instanceof RemoteEngineError) throw error;
      options.signal?.throwIfAborted();
      failure = timeout.aborted ? `no answer within ${options.timeoutMs} ms` : `cannot reach ${new URL(url).origin}: ${(error as Error).message}`;
    }
    if (attempt >= options.retries) throw new RemoteEngineError(engine, `${failure} (after ${attempt + 1} attempts)`, response?.status);
    await delay((response && retryAfterMs(response)) ?? backoff, undefined, options.signal ? { signal: options.signal } : {});
    backoff *= 2;
  }
};

export const joinUrl = (base: string, path: string): string => `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
