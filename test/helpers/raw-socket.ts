import WebSocket from 'ws';

export interface RawSession {
  readonly socket: WebSocket;
  /** JSON events received so far. */
  readonly events: Array<{ type: string; code?: string; [key: string]: unknown }>;
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string; atMs: number }>;
  waitFor(type: string, timeoutMs?: number): Promise<{ type: string; [key: string]: unknown }>;
}

/** Opens /v1/realtime with raw headers; rejects with the HTTP status when the upgrade is refused. */
export const openRaw = (url: string, options: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<RawSession> =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options.protocols ?? ['harken.v1'], { headers: options.headers ?? {} });
    const events: RawSession['events'] = [];
    const waiters: Array<{ type: string; resolve: (event: RawSession['events'][number]) => void }> = [];
    const closed = new Promise<{ code: number; reason: string; atMs: number }>((done) => socket.once('close', (code, reason) => done({ code, reason: reason.toString(), atMs: Date.now() })));
    socket.on('message', (data, binary) => {
      if (binary) return;
      const event = JSON.parse(String(data)) as RawSession['events'][number];
      events.push(event);
      for (const waiter of waiters.filter((item) => item.type === event.type)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    });
    socket.once('unexpected-response', (_request, response) => reject(Object.assign(new Error(`upgrade refused: ${response.statusCode}`), { status: response.statusCode })));
    socket.once('error', reject);
    socket.once('open', () =>
      resolve({
        socket,
        events,
        closed,
        waitFor: (type, timeoutMs = 10_000) => {
          const seen = events.find((event) => event.type === type);
          if (seen) return Promise.resolve(seen);
          return new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`no ${type} event within ${timeoutMs} ms; got ${events.map((event) => event.type).join(', ')}`)), timeoutMs);
            waiters.push({ type, resolve: (event) => (clearTimeout(timer), done(event)) });
          });
        },
      }),
    );
  });

export const startMessage = (extra: Record<string, unknown> = {}): string => JSON.stringify({ type: 'start', sampleRate: 16000, encoding: 'pcm_s16le', agent: 'echo', ...extra });
