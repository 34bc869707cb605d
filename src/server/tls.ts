import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import type { HarkenConfig } from '../config/schema.js';

export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
}

const CHECK_MS = 60_000;

/** The certificate and key, read and checked at start; undefined when TLS is not configured. */
export const loadTls = (config: HarkenConfig): TlsFiles | undefined => {
  const { tlsCertFile, tlsKeyFile } = config.server;
  if (!tlsCertFile && !tlsKeyFile) return undefined;
  const issue = (setting: 'tlsCertFile' | 'tlsKeyFile', message: string) =>
    new ConfigError([{ setting: `server.${setting}`, source: `HARKEN_SERVER_${setting === 'tlsCertFile' ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'}`, message }]);
  if (!tlsCertFile) throw issue('tlsCertFile', 'is empty but server.tlsKeyFile is set: give both, or neither for plain HTTP');
  if (!tlsKeyFile) throw issue('tlsKeyFile', 'is empty but server.tlsCertFile is set: give both, or neither for plain HTTP');
  const read = (setting: 'tlsCertFile' | 'tlsKeyFile', path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw issue(setting, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const files = { cert: read('tlsCertFile', tlsCertFile), key: read('tlsKeyFile', tlsKeyFile) };
  try {
    createSecureContext(files);
  } catch (error) {
    throw issue('tlsCertFile', `${tlsCertFile} and ${tlsKeyFile} are not a usable certificate and key: ${(error as Error).message}`);
  }
  return files;
};

/** A running HTTPS server's certificate, kept current with its files. */
export interface TlsWatch {
  /** Loads the files if they changed since last time (or always, with `force`); true when a new pair is in use. */
  reload(force?: boolean): boolean;
  stop(): void;
}

/**
 * Renewed certificates are taken without a restart: every minute (and on SIGHUP, `harken serve`)
 * the files' times are checked, and changed files are loaded into the running server. A broken
 * pair is refused (logged); the server keeps the one it has.
 */
export const watchTlsFiles = (server: { setSecureContext(options: TlsFiles): void }, config: HarkenConfig, logger: Logger): TlsWatch => {
  const stamp = () => `${statSync(config.server.tlsCertFile).mtimeMs}:${statSync(config.server.tlsKeyFile).mtimeMs}`;
  let last = stamp();
  const reload = (force = false): boolean => {
    try {
      const now = stamp();
      if (now === last && !force) return false;
      last = now;
      server.setSecureContext(loadTls(config) as TlsFiles);
      logger.info({ certFile: config.server.tlsCertFile }, 'TLS certificate reloaded');
      return true;
    } catch (error) {
      logger.error({ reason: (error as Error).message }, 'the changed TLS certificate or key could not be used; the previous pair stays in use');
      return false;
    }
  };
  const timer = setInterval(() => reload(), CHECK_MS);
  timer.unref();
  return { reload, stop: () => clearInterval(timer) };
};
