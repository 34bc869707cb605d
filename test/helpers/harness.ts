import { Writable } from 'node:stream';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Scope } from '../../src/security/scopes.js';
import { loadConfig } from '../../src/config/load.js';
import type { HarkenConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging/logger.js';
import { createHarken, type Harken, type HarkenExtensions } from '../../src/runtime.js';
import { SHARED_MODELS } from './shared.js';

/** Log lines captured in memory, so tests can assert on what was (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestServer {
  readonly harken: Harken;
  readonly config: HarkenConfig;
  readonly logs: LogCapture;
  /** An API key with every scope, created for the test. */
  readonly apiKey: string;
  /** app.inject with the test's API key (a request's own authorization header wins). */
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** Creates another key, e.g. with fewer scopes. */
  createKey(scopes: Scope[], extra?: { expiresAt?: Date; rateLimit?: number; dailyLimit?: number; maxSessions?: number; tenant?: string }): Promise<string>;
  /** Creates an admin (once per username) and logs in through the API: what credential management needs. */
  loginAdmin(username?: string): Promise<AdminLogin>;
}

export interface AdminLogin {
  readonly cookie: string;
  readonly csrfToken: string;
  /** app.inject with the session cookie and CSRF header. */
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
}

export const ADMIN_TEST_PASSWORD = 'correct horse battery staple';

/**
 * Limits that keep feature tests from tripping over rate limiting; the security tests
 * set their own.
 */
const FEATURE_TEST_LIMITS = {
  HARKEN_RATE_LIMIT_REQUESTS: '100000',
  HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '100000',
  HARKEN_RATE_LIMIT_VOICE_CHAT_REQUESTS: '100000',
};

/** A real in-process Harken on a temp data dir (real SQLite file), driven with app.inject. */
export const startTestServer = async (
  dataDir: string,
  env: Record<string, string> = {},
  now?: () => Date,
  extensions?: HarkenExtensions,
): Promise<TestServer> => {
  const config = loadConfig({ env: { HARKEN_DATA_DIR: dataDir, HARKEN_LOG_LEVEL: 'info', ...FEATURE_TEST_LIMITS, ...env } });
  const logs = new LogCapture();
  const logger = createLogger({ level: config.log.level, format: 'json', destination: logs });
  const harken = await createHarken(config, logger, now, extensions);
  await harken.app.ready();
  const createKey: TestServer['createKey'] = async (scopes, extra = {}) => (await harken.access.keys.create({ name: `test ${scopes.join(',')}`, scopes, ...extra })).key;
  const apiKey = await createKey(['admin']);
  const inject = (options: InjectOptions) => harken.app.inject({ ...options, headers: { authorization: `Bearer ${apiKey}`, ...options.headers } });
  const loginAdmin = async (username = 'test-admin'): Promise<AdminLogin> => {
    if (!(await harken.access.admins.byUsername(username))) await harken.access.admins.create(username, ADMIN_TEST_PASSWORD);
    const login = await harken.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password: ADMIN_TEST_PASSWORD } });
    if (login.statusCode !== 200) throw new Error(`admin login failed: ${login.statusCode} ${login.body}`);
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
    const csrfToken = (login.json() as { csrfToken: string }).csrfToken;
    return { cookie, csrfToken, inject: (options) => harken.app.inject({ ...options, headers: { cookie, 'x-csrf-token': csrfToken, ...options.headers } }) };
  };
  return { harken, config, logs, apiKey, inject, createKey, loginAdmin };
};

/** Settings that make voice tests find the shared models. */
export const voiceTestEnv = (): Record<string, string> => ({
  HARKEN_VAD_MODEL: `${SHARED_MODELS}/vad/silero_vad_v4.onnx`,
  // Tests start many servers: the prompt cache fills on first use there, not with a burst of synthesis at every start.
  HARKEN_TTS_PROMPT_WARMUP: 'false',
});

/** A real in-process Harken listening on a free loopback port, for WebSocket and HTTP clients. */
export const startListeningServer = async (dataDir: string, env: Record<string, string> = {}): Promise<TestServer & { url: string; wsUrl: string }> => {
  const server = await startTestServer(dataDir, { ...voiceTestEnv(), ...env });
  const url = await server.harken.app.listen({ host: '127.0.0.1', port: 0 });
  return { ...server, url, wsUrl: `${url.replace(/^http/, 'ws')}/v1/realtime` };
};
