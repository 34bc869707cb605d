import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { createHarken, type Harken } from '../../src/runtime.js';
import { ADMIN_TEST_PASSWORD, LogCapture } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

interface Setting {
  path: string;
  value: unknown;
  source: string;
  secret: boolean;
  isSet: boolean;
  pending?: unknown;
  pinned: boolean;
  editable: boolean;
  live: boolean;
}

const SECRET_IN_ENV = 'twilio-token-from-the-environment-4711';
const SECRET_BY_ADMIN = 'sk-admin-typed-secret-0815';

describe('configuration API: GET /v1/config and PUT /v1/admin/config', () => {
  const tempDir = useTempDirs();
  const running: Harken[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((harken) => harken.close()));
  });

  /** A server as `harken serve` builds one: a config file, a few environment variables, no pinned log level. */
  const start = async (dataDir: string, env: Record<string, string> = {}) => {
    const configFile = join(dataDir, 'harken.yaml');
    writeFileSync(configFile, 'voice:\n  endOfTurnSilenceMs: 700\n', { mode: 0o600 });
    const config = loadConfig({ configPath: configFile, env: { HARKEN_DATA_DIR: dataDir, HARKEN_TWILIO_AUTH_TOKEN: SECRET_IN_ENV, ...env } });
    const logs = new LogCapture();
    const harken = await createHarken(config, createLogger({ level: config.log.level, format: 'json', destination: logs }));
    running.push(harken);
    if (!(await harken.access.admins.byUsername('admin'))) await harken.access.admins.create('admin', ADMIN_TEST_PASSWORD);
    const login = await harken.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'admin', password: ADMIN_TEST_PASSWORD } });
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
    const csrf = (login.json() as { csrfToken: string }).csrfToken;
    const key = (await harken.access.keys.create({ name: 'reader', scopes: ['transcribe'] })).key;
    const adminKey = (await harken.access.keys.create({ name: 'admin key', scopes: ['admin'] })).key;
    const read = async () => {
      const response = await harken.app.inject({ method: 'GET', url: '/v1/config', headers: { authorization: `Bearer ${adminKey}` } });
      expect(response.statusCode).toBe(200);
      return { body: response.body, settings: new Map((response.json().settings as Setting[]).map((setting) => [setting.path, setting])) };
    };
    const put = (settings: Record<string, unknown>, headers: Record<string, string> = { cookie, 'x-csrf-token': csrf }) => harken.app.inject({ method: 'PUT', url: '/v1/admin/config', headers, payload: { settings } });
    return { harken, logs, read, put, key, adminKey, cookie };
  };

  it('shows every setting with its value and source, secrets only as set or not; admin credentials read it, a non-admin key does not', async () => {
    const dataDir = tempDir();
    const { harken, read, key } = await start(dataDir);
    expect((await harken.app.inject({ method: 'GET', url: '/v1/config' })).statusCode).toBe(401);
    expect((await harken.app.inject({ method: 'GET', url: '/v1/config', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(403);
    const { body, settings } = await read();
    expect(settings.get('voice.endOfTurnSilenceMs')).toMatchObject({ value: 700, source: 'config file', pinned: false, editable: true });
    expect(settings.get('server.port')).toMatchObject({ value: 8080, source: 'default' });
    expect(settings.get('data.dir')).toMatchObject({ source: 'environment', editable: false });
    expect(settings.get('twilio.authToken')).toMatchObject({ secret: true, value: null, isSet: true, source: 'environment', pinned: true });
    expect(settings.get('llm.apiKey')).toMatchObject({ secret: true, value: null, isSet: false });
    expect(body).not.toContain(SECRET_IN_ENV);
  });

  it('changes settings: validated like a start, audited old → new, saved 0600, live where safe, the rest after a restart', async () => {
    const dataDir = tempDir();
    const { harken, read, put, adminKey, logs, cookie } = await start(dataDir);
    // Only an admin login session with its CSRF header may change settings.
    expect((await put({ 'log.level': 'debug' }, { authorization: `Bearer ${adminKey}` })).json().error.code).toBe('session_required');
    expect((await put({ 'log.level': 'debug' }, { cookie })).json().error.code).toBe('csrf_failed');

    const invalid = await put({ 'voice.endOfTurnSilenceMs': 'soon', 'log.level': 'loud' });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error.code).toBe('invalid_setting');
    expect(invalid.json().error.message).toContain('log.level');
    expect(invalid.json().error.message).toContain('must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"');
    expect((await put({ 'voice.endOfTurnSilenceMs': 'soon' })).json().error.message).toBe('voice.endOfTurnSilenceMs: must be integer');
    expect((await put({ 'voice.nonsense': 1 })).json().error.message).toContain('voice.nonsense: unknown setting');
    // Pinned by the environment, or where the data lives: not here.
    expect((await put({ 'twilio.authToken': 'x' })).json().error).toMatchObject({ code: 'setting_not_editable' });
    expect((await put({ 'data.dir': '/tmp/elsewhere' })).json().error).toMatchObject({ code: 'setting_not_editable' });
    // Where credentials are sent: a login session cannot redirect the Twilio token or an API key to a server of its own.
    for (const destination of ['twilio.apiBaseUrl', 'llm.baseUrl', 'llm.fallbackBaseUrl', 'stt.openaiBaseUrl', 'tts.openaiBaseUrl']) {
      const refused = (await put({ [destination]: 'https://collector.evil.example' })).json().error;
      expect(refused).toMatchObject({ code: 'setting_not_editable' });
      expect(refused.message).toContain('receives credentials');
    }
    expect((await read()).settings.get('llm.baseUrl')).toMatchObject({ editable: false });
    // Valid for the schema, refused by a start: refused here too, so the next start still works.
    const wouldNotStart = await put({ 'llm.model': 'clinic-model', 'llm.lookupUrl': 'https://lookup.example/patients' });
    expect(wouldNotStart.statusCode).toBe(400);
    expect(wouldNotStart.json().error).toMatchObject({ code: 'invalid_setting', message: 'llm.lookupSecret: is required with llm.lookupUrl (requests are signed)' });
    expect((await put({ 'llm.model': 'clinic-model', 'llm.transferTargets': 'desk' })).json().error.message).toContain('llm.transferTargets');

    const changed = await put({ 'log.level': 'debug', 'voice.endOfTurnSilenceMs': 450, 'llm.apiKey': SECRET_BY_ADMIN });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toEqual({
      changed: [
        { path: 'log.level', from: 'info', to: 'debug' },
        { path: 'voice.endOfTurnSilenceMs', from: 700, to: 450 },
        { path: 'llm.apiKey', from: '[unset]', to: '[set]' },
      ],
      applied: ['log.level'],
      restartRequired: ['voice.endOfTurnSilenceMs', 'llm.apiKey'],
    });
    expect(harken.app.log.level).toBe('debug');
    const { body, settings } = await read();
    expect(settings.get('log.level')).toMatchObject({ value: 'debug', source: 'settings file', live: true });
    expect(settings.get('log.level')!.pending).toBeUndefined();
    expect(settings.get('voice.endOfTurnSilenceMs')).toMatchObject({ value: 700, pending: 450, source: 'settings file' });
    expect(settings.get('llm.apiKey')).toMatchObject({ value: null, isSet: false, pending: true });
    expect(body).not.toContain(SECRET_BY_ADMIN);

    const file = join(dataDir, 'settings.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ log: { level: 'debug' }, voice: { endOfTurnSilenceMs: 450 }, llm: { apiKey: SECRET_BY_ADMIN } });

    const audit = (await harken.app.inject({ method: 'GET', url: '/v1/admin/audit?action=config.changed', headers: { authorization: `Bearer ${adminKey}` } })).json().events as Array<{ actor: string; details: { changes: unknown[] } }>;
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor).toBe('admin:admin');
    expect(audit[0]!.details.changes).toContainEqual({ path: 'voice.endOfTurnSilenceMs', from: 700, to: 450 });
    expect(JSON.stringify(audit)).not.toContain(SECRET_BY_ADMIN);
    expect(logs.text).not.toContain(SECRET_BY_ADMIN);

    // The same value again changes nothing; null removes a saved value (back to the config file).
    expect((await put({ 'voice.endOfTurnSilenceMs': 450 })).json().error.code).toBe('nothing_changed');
    expect((await put({ 'voice.endOfTurnSilenceMs': null })).json().changed).toEqual([{ path: 'voice.endOfTurnSilenceMs', from: 450, to: 700 }]);
    expect((await read()).settings.get('voice.endOfTurnSilenceMs')!.pending).toBeUndefined();
  });

  it('a restart reads the saved settings, and the environment still wins over them', async () => {
    const dataDir = tempDir();
    const first = await start(dataDir);
    expect((await first.put({ 'voice.endOfTurnSilenceMs': 450, 'realtime.maxSessions': 7 })).statusCode).toBe(200);
    await first.harken.close();
    running.splice(running.indexOf(first.harken), 1);

    const second = await start(dataDir, { HARKEN_REALTIME_MAX_SESSIONS: '9' });
    const { settings } = await second.read();
    expect(settings.get('voice.endOfTurnSilenceMs')).toMatchObject({ value: 450, source: 'settings file' });
    expect(settings.get('realtime.maxSessions')).toMatchObject({ value: 9, source: 'environment', pinned: true });
  });
});
