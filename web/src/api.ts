/**
 * The documented HTTP API, as the browser calls it: the HttpOnly session cookie goes along,
 * changes carry the CSRF token from the login answer, and errors keep the API's shape.
 */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly retryAfterSeconds?: number) {
    super(message);
  }
}

const CSRF_KEY = 'harken.csrf';

export const csrf = {
  get: (): string | null => localStorage.getItem(CSRF_KEY),
  set: (token: string): void => localStorage.setItem(CSRF_KEY, token),
  clear: (): void => localStorage.removeItem(CSRF_KEY),
};

/** Called when a request made with the session is refused as unauthenticated: the session has ended. */
let onSessionEnded: (() => void) | undefined;
export const whenSessionEnds = (handler: () => void): void => {
  onSessionEnded = handler;
};

export const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = csrf.get();
  if (method !== 'GET' && token) headers['x-csrf-token'] = token;
  const response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (response.status === 204) return undefined as T;
  const data = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!response.ok) {
    const code = data.error?.code ?? 'error';
    if (response.status === 401 && path !== '/v1/auth/login' && path !== '/v1/auth/setup') onSessionEnded?.();
    // The session is fine but this browser lost its CSRF token: only a new login gives one.
    if (response.status === 403 && code === 'csrf_failed') onSessionEnded?.();
    const retry = Number(response.headers.get('retry-after'));
    throw new ApiError(response.status, code, data.error?.message ?? `${response.status}`, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  }
  return data as T;
};
