import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('health, readiness and API docs', () => {
  const tempDir = useTempDirs();
  let server: TestServer;

  beforeEach(async () => {
    server = await startTestServer(tempDir());
  });
  afterEach(async () => {
    await server.harken.close();
  });

  it('reports liveness with the version', async () => {
    const response = await server.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: 'ok', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it('is ready when the database and agents answer', async () => {
    const response = await server.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json().checks.map((check: { name: string; ok: boolean }) => [check.name, check.ok])).toEqual([
      ['database', true],
      ['storage', true],
      ['agents', true],
      ['audio', true],
      ['engines (silero, pocketsphinx, flite)', true],
    ]);
  });

  it('answers 503 naming the database when it is gone', async () => {
    await server.harken.database.close();
    const response = await server.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(503);
    const body = response.json();
    expect(body.status).toBe('unavailable');
    // The write probe needs the database too.
    expect(body.error).toEqual({ code: 'not_ready', message: 'not ready: database: database is closed; storage: database is closed' });
    expect(body.checks.find((check: { name: string }) => check.name === 'agents').ok).toBe(true);
  });

  it('answers 503 naming the engines when one can no longer serve', async () => {
    await server.harken.voice!.engines.tts.close(); // the flite launcher thread is gone
    const response = await server.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json().error.message).toMatch(/^not ready: engines \(silero, pocketsphinx, flite\): the flite launcher thread exited/);
  });

  it('answers 503 once shutdown has begun', async () => {
    server.harken.readiness.drain('shutting down');
    const response = await server.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json().error.message).toBe('not ready: shutdown: shutting down');
  });

  it('turns an unexpected failure into a bare 500 without internals', async () => {
    await server.harken.database.close();
    const response = await server.inject({ method: 'POST', url: '/v1/conversations', payload: {} });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ error: { code: 'internal_error', message: expect.stringContaining('x-request-id') } });
    expect(response.body).not.toMatch(/at .*\.ts|Kysely|driver/);
    expect(server.logs.text).toContain('unhandled error');
  });

  it('serves an OpenAPI document generated from the route schemas, and its UI at /docs', async () => {
    const spec = await server.inject({ method: 'GET', url: '/docs/json' });
    expect(spec.statusCode).toBe(200);
    const document = spec.json();
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/health', '/ready', '/v1/agents', '/v1/conversations', '/v1/conversations/{id}', '/v1/conversations/{id}/messages']),
    );
    const sendMessage = document.paths['/v1/conversations/{id}/messages'].post;
    expect(sendMessage.requestBody.content['application/json'].schema.required).toEqual(['text']);
    const ui = await server.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    // The UI is served from the package itself: no CDN, so it works offline.
    const script = /src="(\/docs\/[^"]*swagger-ui-bundle\.js)"/.exec(ui.body)?.[1];
    expect(script).toBeDefined();
    const bundle = await server.inject({ method: 'GET', url: script as string });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.body.length).toBeGreaterThan(100_000);
  });

  it('lists agents with the default marked', async () => {
    const response = await server.inject({ method: 'GET', url: '/v1/agents' });
    expect(response.json().agents).toEqual([
      { name: 'echo', description: expect.any(String), default: false },
      { name: 'intake', description: expect.stringMatching(/name, date of birth/), default: true },
    ]);
  });
});
