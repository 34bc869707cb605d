import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const issuesOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  const tempDir = useTempDirs();

  it('uses documented defaults with no configuration at all', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/harken' });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, bodyLimitBytes: 1_048_576 });
    expect(config.data.dir).toBe('/srv/harken/data');
    expect(config.store.sqlitePath).toBe('/srv/harken/data/harken.db');
    expect(config.agents.default).toBe('intake');
  });

  it('reads HARKEN_<SECTION>_<KEY> variables and converts their types', () => {
    const config = loadConfig({
      env: { HARKEN_SERVER_PORT: '9090', HARKEN_SERVER_TRUST_PROXY: 'true', HARKEN_CONVERSATIONS_MAX_MESSAGE_CHARS: '50', HARKEN_LOG_LEVEL: 'debug' },
      cwd: '/x',
    });
    expect(config.server.port).toBe(9090);
    expect(config.server.trustProxy).toBe(true);
    expect(config.conversations.maxMessageChars).toBe(50);
    expect(config.log.level).toBe('debug');
  });

  it('names the bad setting, its variable and value, and why', () => {
    const issues = issuesOf(() => loadConfig({ env: { HARKEN_SERVER_PORT: '99999' } }));
    expect(issues).toEqual([{ setting: 'server.port', source: 'HARKEN_SERVER_PORT="99999"', message: 'must be <= 65535' }]);
    const notANumber = issuesOf(() => loadConfig({ env: { HARKEN_SERVER_PORT: 'eighty' } }));
    expect(notANumber[0]).toMatchObject({ setting: 'server.port', message: expect.stringMatching(/integer/) });
  });

  it('lists the allowed values of an enumerated setting', () => {
    const issues = issuesOf(() => loadConfig({ env: { HARKEN_LOG_LEVEL: 'verbose' } }));
    expect(issues[0]?.message).toBe('must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"');
  });

  it('rejects misspelt variables with a suggestion instead of ignoring them', () => {
    const issues = issuesOf(() => loadConfig({ env: { HARKEN_SERVER_PROT: '1234' } }));
    expect(issues[0]).toMatchObject({ setting: 'HARKEN_SERVER_PROT', message: 'unknown setting (did you mean HARKEN_SERVER_PORT?)' });
  });

  it('reports every bad setting at once', () => {
    const issues = issuesOf(() => loadConfig({ env: { HARKEN_SERVER_PORT: '-1', HARKEN_SERVER_BODY_LIMIT_BYTES: '10', HARKEN_LOG_FORMAT: 'xml' } }));
    expect(issues.map((issue) => issue.setting).sort()).toEqual(['log.format', 'server.bodyLimitBytes', 'server.port']);
  });

  it('reads a YAML config file, with the environment taking precedence and overrides above both', () => {
    const dir = tempDir();
    const file = join(dir, 'harken.yaml');
    writeFileSync(file, 'server:\n  port: 7000\n  host: 0.0.0.0\nlog:\n  level: warn\n');
    const config = loadConfig({ configPath: file, env: { HARKEN_SERVER_PORT: '7001' }, overrides: { 'log.level': 'error' }, cwd: dir });
    expect(config.server).toMatchObject({ port: 7001, host: '0.0.0.0' });
    expect(config.log.level).toBe('error');
  });

  it('takes secrets from a config file only when other users cannot read it', () => {
    const dir = tempDir();
    const file = join(dir, 'harken.yaml');
    writeFileSync(file, 'auth:\n  tokenSecret: q7Vt2mXk9PzR4wLb8NcY3hJs6FgD1aQe5uTiO0pZ\nstt:\n  openaiApiKey: sk-test\n');
    chmodSync(file, 0o644);
    expect(issuesOf(() => loadConfig({ configPath: file, env: {}, cwd: dir }))).toEqual([
      { setting: 'stt.openaiApiKey', source: file, message: `is a secret in a file other users can read (mode 0644); run chmod 600 ${file}, or set HARKEN_STT_OPENAI_API_KEY instead` },
      { setting: 'auth.tokenSecret', source: file, message: `is a secret in a file other users can read (mode 0644); run chmod 600 ${file}, or set HARKEN_AUTH_TOKEN_SECRET instead` },
    ]);
    chmodSync(file, 0o600);
    expect(loadConfig({ configPath: file, env: {}, cwd: dir }).auth.tokenSecret).toMatch(/^q7Vt/);
    // A readable file without secrets is fine.
    writeFileSync(file, 'server:\n  port: 7000\n');
    chmodSync(file, 0o644);
    expect(loadConfig({ configPath: file, env: {}, cwd: dir }).server.port).toBe(7000);
  });

  it('reads a JSON config file named by HARKEN_CONFIG', () => {
    const dir = tempDir();
    const file = join(dir, 'harken.json');
    writeFileSync(file, JSON.stringify({ conversations: { maxMessages: 10 } }));
    expect(loadConfig({ env: { HARKEN_CONFIG: file } }).conversations.maxMessages).toBe(10);
  });

  it('names the config file for unknown keys, bad values, bad syntax and a missing file', () => {
    const dir = tempDir();
    const file = join(dir, 'harken.yaml');
    writeFileSync(file, 'server:\n  prot: 7000\n  port: nope\n');
    const issues = issuesOf(() => loadConfig({ configPath: file, env: {} }));
    expect(issues).toEqual(
      expect.arrayContaining([
        { setting: 'server.prot', source: file, message: 'unknown setting (did you mean server.port?)' },
        { setting: 'server.port', source: file, message: expect.stringMatching(/integer/) },
      ]),
    );
    writeFileSync(file, 'server: [unclosed');
    expect(issuesOf(() => loadConfig({ configPath: file, env: {} }))[0]?.message).toMatch(/^not valid YAML/);
    writeFileSync(file, '- just\n- a list\n');
    expect(issuesOf(() => loadConfig({ configPath: file, env: {} }))[0]?.message).toMatch(/mapping of sections/);
    expect(issuesOf(() => loadConfig({ configPath: join(dir, 'missing.yaml'), env: {} }))[0]).toMatchObject({ message: 'file not found' });
  });

  it('rejects an unknown section in a config file', () => {
    const dir = tempDir();
    const file = join(dir, 'harken.yaml');
    writeFileSync(file, 'sever:\n  port: 1\n');
    expect(issuesOf(() => loadConfig({ configPath: file, env: {} }))[0]).toMatchObject({ setting: 'sever', message: 'unknown setting (did you mean server?)' });
  });

  it('resolves relative paths against the working directory', () => {
    const config = loadConfig({ env: { HARKEN_DATA_DIR: 'state', HARKEN_STORE_SQLITE_PATH: 'db/main.db' }, cwd: '/opt/h' });
    expect(config.data.dir).toBe('/opt/h/state');
    expect(config.store.sqlitePath).toBe('/opt/h/db/main.db');
  });
});
