import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomToken } from './credentials.js';

/** A secret Harken cannot use safely; the message names the setting or file, never the value. */
export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

const WEAK = new Set(['secret', 'changeme', 'change-me', 'password', 'harken', 'default', 'test', 'example', 'admin', '123456']);
export const MIN_SECRET_LENGTH = 32;

/** Why a secret is weak, or undefined when it is fine. */
export const weakness = (secret: string): string | undefined => {
  if (WEAK.has(secret.toLowerCase())) return 'it is a well-known default';
  if (secret.length < MIN_SECRET_LENGTH) return `it is shorter than ${MIN_SECRET_LENGTH} characters`;
  if (new Set(secret).size < 10) return 'it has fewer than 10 distinct characters';
  return undefined;
};

/** Secret files must be private to the server's user. */
export const checkSecretFileMode = (path: string): void => {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SecretError(`secret file ${path} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`);
  }
};

/** Writes a new random secret to `path` (0600, in a 0700 directory); refuses to overwrite unless asked. */
export const writeSecretFile = (path: string, options: { overwrite?: boolean } = {}): void => {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, options.overwrite ? 'w' : 'wx', 0o600);
  try {
    writeSync(fd, `${randomToken(48)}\n`);
  } finally {
    closeSync(fd);
  }
};

export interface SecretSource {
  /** The value from the environment or config (a secret setting), if any. */
  readonly value: string;
  /** Setting name for messages, e.g. HARKEN_AUTH_TOKEN_SECRET. */
  readonly setting: string;
  /** File used (and generated on first start) when no value is set. */
  readonly file: string;
  readonly production: boolean;
}

export interface LoadedSecret {
  readonly value: string;
  readonly origin: 'setting' | 'file' | 'generated';
  /** Set in development when the secret is weak (production refuses it instead). */
  readonly warning?: string;
}

/**
 * A server secret from a setting, else from its file, generating the file on first
 * start. Weak secrets are refused in production; files readable by others always.
 */
export const loadSecret = (source: SecretSource): LoadedSecret => {
  let value: string;
  let origin: LoadedSecret['origin'];
  let where: string;
  if (source.value !== '') {
    value = source.value;
    origin = 'setting';
    where = source.setting;
  } else {
    origin = existsSync(source.file) ? 'file' : 'generated';
    if (origin === 'generated') writeSecretFile(source.file);
    checkSecretFileMode(source.file);
    value = readFileSync(source.file, 'utf8').trim();
    where = `secret file ${source.file}`;
  }
  const problem = weakness(value);
  if (problem === undefined) return { value, origin };
  const message = `${where} is weak: ${problem}; use \`harken secrets generate\` or at least ${MIN_SECRET_LENGTH} random characters`;
  if (source.production) throw new SecretError(`refusing to start in production: ${message}`);
  return { value, origin, warning: message };
};

export const defaultSecretsDir = (dataDir: string): string => join(dataDir, 'secrets');
