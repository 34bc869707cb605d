import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runCli, startCliServer } from '../helpers/cli.js';
import { voiceTestEnv } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const HTTP_REQUESTS = Number(process.env.HARKEN_FUZZ_HTTP ?? 50_000);
const WS_MESSAGES = Number(process.env.HARKEN_FUZZ_WS ?? 50_000);

/** A seeded generator (mulberry32): a failure names its seed and replays exactly. */
const generator = (seed: number) => {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (below: number): number => Math.floor(next() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const bytes = (length: number): Buffer => Buffer.from(Array.from({ length }, () => int(256)));
  const text = (): string =>
    pick([
      () => '',
      () => 'a'.repeat(int(5_000)),
      () => '\u0000\u202e\ud83d\ude00\u200b',
      () => '../../etc/passwd',
      () => '%00%2e%2e%2f',
      () => "' OR 1=1 --",
      () => '<script>alert(1)</script>',
      () => '12345678-1234-1234-1234-123456789abc',
      () => crypto.randomUUID(),
      () => bytes(int(40)).toString('latin1'),
      () => String(int(1e9) - 5e8),
      () => 'echo',
    ])();
  const value = (depth = 0): unknown =>
    depth > 3
      ? text()
      : pick([() => text(), () => int(1e6) - 5e5, () => next() < 0.5, () => null, () => Array.from({ length: int(4) }, () => value(depth + 1)), () => Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['text', 'type', 'agent', 'sampleRate', 'encoding', 'conversationId', '__proto__', 'constructor', text()]), value(depth + 1)]))])();
  return { next, int, pick, bytes, text, value };
};

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('fuzzing a real server', () => {
  const tempDir = useTempDirs();

  it(`${HTTP_REQUESTS} random HTTP requests and ${WS_MESSAGES} random WebSocket messages: no 5xx, no internal error, no crash, bounded memory`, async () => {
    const seed = Number(process.env.HARKEN_FUZZ_SEED ?? Date.now() % 1_000_000);
    const random = generator(seed);
    const cwd = tempDir();
    const env = { ...voiceTestEnv(), HARKEN_LOG_LEVEL: 'warn', HARKEN_RATE_LIMIT_REQUESTS: '10000000', HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '10000000', HARKEN_RATE_LIMIT_VOICE_CHAT_REQUESTS: '10000000', HARKEN_REALTIME_MAX_PENDING_PER_ADDRESS: '1000', HARKEN_REALTIME_MAX_SESSIONS_PER_ADDRESS: '1000' };
    const keys = ['admin', 'conversations,realtime,transcribe,synthesize', 'metrics'].map((scopes) => {
      const result = runCli(['keys', 'create', '--name', `fuzz ${scopes}`, '--scopes', scopes, '--json'], { cwd, env });
      return (JSON.parse(result.stdout) as { key: string }).key;
    });
    const server = await startCliServer({ cwd, env });
    const pid = server.process.pid!;
    try {
      // The routes, from the server's own OpenAPI document, with each path parameter to fill.
      const openapi = (await (await fetch(`${server.url}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> };
      // Streams that never end by design (the event feed, WebSocket endpoints) are fuzzed elsewhere or not at all.
      const endless = new Set(['/v1/admin/events', '/v1/realtime', '/v1/twilio/media']);
      const routes = Object.entries(openapi.paths)
        .filter(([path]) => !endless.has(path))
        .flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })));
      expect(routes.length).toBeGreaterThan(40);
      const authorization = () => random.pick([`Bearer ${random.pick(keys)}`, `Bearer ${random.pick(keys)}`, 'Bearer hk_zzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', `Bearer ${random.text()}`, 'Basic Zm9vOmJhcg==', '', random.text()]);
      const request = () => {
        const route = random.pick(routes);
        const method = random.next() < 0.9 ? route.method : random.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']);
        const path = route.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(random.text()).slice(0, 300) || 'x');
        const query = random.next() < 0.4 ? `?${Array.from({ length: 1 + random.int(3) }, () => `${encodeURIComponent(random.pick(['limit', 'cursor', 'agent', 'status', 'q', 'from', 'format', 'sampleRate', 'expect', random.text().slice(0, 20)]))}=${encodeURIComponent(random.text().slice(0, 200))}`).join('&')}` : '';
        const type = random.pick(['application/json', 'application/json', 'audio/wav', 'audio/pcm', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', '']);
        const body = method === 'GET' || method === 'HEAD' ? undefined : random.pick([() => JSON.stringify(random.value()), () => random.bytes(random.int(64 * 1024)), () => '', () => '{"text":"' + 'x'.repeat(random.int(10_000)) + '"}', () => '['.repeat(3_000)])();
        const headers: Record<string, string> = { ...(type ? { 'content-type': type } : {}) };
        // Header values an HTTP client can send at all (visible ASCII); the rest of the request is anything.
        const printable = (value: string) => value.replace(/[^\x20-\x7e]/g, '?');
        const auth = printable(authorization());
        if (auth) headers.authorization = auth;
        if (random.next() < 0.1) headers['x-request-id'] = printable(random.text()).slice(0, 200);
        if (random.next() < 0.05) headers.origin = 'https://evil.example';
        return { method, url: `${server.url}${path}${query}`, headers, body };
      };

      // Warm up, then note the memory the rest must stay near.
      let sent = 0;
      const failures: string[] = [];
      const statuses = new Map<number, number>();
      let slow = 0;
      const fire = async (count: number) => {
        const workers = Array.from({ length: 16 }, async () => {
          while (sent < count && server.process.exitCode === null && server.process.signalCode === null) {
            sent += 1;
            const { method, url, headers, body } = request();
            let status: number;
            try {
              const response = await fetch(url, { method, headers, signal: AbortSignal.timeout(15_000), ...(body === undefined ? {} : { body }) });
              await response.arrayBuffer();
              status = response.status;
            } catch (error) {
              // A request the client itself cannot send (an invalid header value, a body with HEAD) is not the server's answer.
              if ((error as Error).name === 'TypeError' && !(error as { cause?: unknown }).cause) continue;
              if ((error as { cause?: { code?: string } }).cause?.code === 'UND_ERR_INVALID_ARG') continue;
              // Speech work queues behind the engines' concurrency: a long synthesis may outlast the wait (and is cancelled when we leave).
              if ((error as Error).name === 'TimeoutError' && /\/v1\/(synthesize|transcribe|voice-chat|audio\/)/.test(url)) {
                slow += 1;
                continue;
              }
              failures.push(`${method} ${url.slice(0, 120)}: ${(error as Error).message} ${String((error as { cause?: { code?: string; message?: string } }).cause?.code ?? (error as { cause?: { message?: string } }).cause?.message ?? "")} exit=${server.process.exitCode}`);
              continue;
            }
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status >= 500) failures.push(`${method} ${url.slice(0, 120)} → ${status}`);
          }
        });
        await Promise.all(workers);
      };
      await fire(2_000);
      const rssBefore = rssMb(pid);
      const httpStarted = performance.now();
      await fire(HTTP_REQUESTS);
      if (process.env.HARKEN_FUZZ_DEBUG) console.log('http', Math.round(performance.now() - httpStarted), JSON.stringify([...statuses]));
      const died = () => `seed ${seed}; the server exited (${server.process.exitCode ?? server.process.signalCode}): ${server.stdout().split('\n').filter((line) => /"level":(50|60)/.test(line)).slice(-3).join('\n')}`;
      expect(server.process.exitCode, died()).toBeNull();
      expect(failures.slice(0, 10), `seed ${seed}`).toEqual([]);
      expect(slow, `seed ${seed}`).toBeLessThan(HTTP_REQUESTS / 1000);
      expect([...statuses.keys()].some((status) => status >= 200 && status < 300)).toBe(true);

      // WebSocket: connections that send random frames, reconnecting when the server closes them.
      const wsUrl = `${server.url.replace(/^http/, 'ws')}/v1/realtime`;
      let messages = 0;
      const closeCodes = new Map<number, number>();
      const internalErrors: string[] = [];
      const frame = (): string | Buffer => {
        const roll = random.next();
        if (roll < 0.02) return JSON.stringify({ type: 'start', sampleRate: 16_000, encoding: 'pcm_s16le', agent: 'echo' });
        if (roll < 0.3) return JSON.stringify({ type: random.pick(['start', 'text', 'interrupt', 'stop', 'nonsense', random.text()]), ...(random.value() as object) });
        if (roll < 0.5) return random.text();
        if (roll < 0.55) return Buffer.from([0xff, 0xfe, 0xc3]).toString('latin1');
        return random.bytes(random.int(4_000));
      };
      const connection = async () => {
        while (messages < WS_MESSAGES && server.process.exitCode === null && server.process.signalCode === null) {
          const socket = new WebSocket(wsUrl, ['harken.v1'], { headers: { authorization: random.next() < 0.9 ? `Bearer ${keys[1]}` : authorization().replace(/[^\x20-\x7e]/g, '?') } });
          socket.on('message', (data, binary) => {
            if (binary) return;
            const event = JSON.parse(String(data)) as { type: string; code?: string };
            if (event.type === 'error' && event.code === 'internal_error') internalErrors.push(String(data));
          });
          const closed = new Promise<void>((resolve) => {
            socket.on('close', (code) => {
              closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
              resolve();
            });
            socket.on('error', () => resolve());
          });
          await new Promise<void>((resolve) => {
            socket.once('open', () => resolve());
            socket.once('error', () => resolve());
            socket.once('unexpected-response', (_request, response) => {
              response.resume();
              resolve();
            });
          });
          for (let index = 0; index < 20 && socket.readyState === WebSocket.OPEN && messages < WS_MESSAGES; index += 1) {
            socket.send(frame());
            messages += 1;
            if (index % 5 === 4) await new Promise((resolve) => setImmediate(resolve));
          }
          if (socket.readyState === WebSocket.OPEN) socket.close(1000);
          else if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
          await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2_000))]);
        }
      };
      const wsStarted = performance.now();
      await Promise.all(Array.from({ length: 16 }, () => connection()));
      if (process.env.HARKEN_FUZZ_DEBUG) console.log('ws', Math.round(performance.now() - wsStarted), JSON.stringify([...closeCodes]));
      expect(server.process.exitCode, died()).toBeNull();
      expect(messages).toBeGreaterThanOrEqual(WS_MESSAGES);
      expect(internalErrors, `seed ${seed}`).toEqual([]);
      expect(closeCodes.get(1011) ?? 0, `seed ${seed}`).toBe(0);

      // Still up and ready, no uncaught error, memory near where it was.
      expect(server.process.exitCode).toBeNull();
      await expect.poll(async () => (await fetch(`${server.url}/ready`)).status, { timeout: 15_000 }).toBe(200);
      expect(server.stdout()).not.toContain('uncaught error');
      expect(rssMb(pid) - rssBefore, `RSS ${rssBefore.toFixed(0)} MB → ${rssMb(pid).toFixed(0)} MB`).toBeLessThan(200);
    } finally {
      if (server.process.exitCode === null) {
        const code = await server.stop('SIGTERM');
        expect(code, `shutdown: ${server.stdout().split('\n').filter((line) => /DEBUG|shutting|drain|level":50/.test(line)).slice(-12).join('\n')}`).toBe(0);
      }
    }
  }, 300_000);
});
