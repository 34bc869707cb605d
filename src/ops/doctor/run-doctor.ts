import { X509Certificate } from 'node:crypto';
import { loadTls } from '../../server/tls.js';
import { existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import type { HarkenConfig } from '../../config/schema.js';
import { EngineUnavailableError } from '../../engines/engine-errors.js';
import { createVoiceEngines } from '../../engines/voice-engines.js';
import { checkSecretFileMode, SecretError, weakness } from '../../security/server-secrets.js';
import { migrations } from '../../store/migrations.js';
import { liveServerHolding } from '../run-history.js';
import { applyFirewallFix, firewallVerdict } from './firewall.js';
import { listenersOn, ownersOf } from './port-owner.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  readonly name: string;
  readonly status: CheckStatus;
  readonly message: string;
  /** What to do about a warning or failure: a command where there is one. */
  readonly fix?: string;
}

export interface DoctorOptions {
  readonly port: number;
  /** Open the port in ufw/nftables when it is blocked (root only). */
  readonly apply?: boolean;
  /** Load the speech engines to prove they work (slow: a few seconds). */
  readonly engines?: boolean;
}

const LARGE_WAL_MB = 64;
const ok = (name: string, message: string): DoctorCheck => ({ name, status: 'ok', message });
const warn = (name: string, message: string, fix?: string): DoctorCheck => ({ name, status: 'warn', message, ...(fix ? { fix } : {}) });
const fail = (name: string, message: string, fix?: string): DoctorCheck => ({ name, status: 'fail', message, ...(fix ? { fix } : {}) });

const isHarken = (commandLine: string): boolean => /harken(\.js)?\b|dist\/cli\/main\.js/.test(commandLine);

const portCheck = (config: HarkenConfig, port: number): DoctorCheck => {
  const listeners = listenersOn(port);
  if (listeners.length === 0) {
    if (port < 1024 && process.getuid?.() !== 0) {
      return warn('port', `port ${port} is free, but ports below 1024 need root or CAP_NET_BIND_SERVICE`, `use a port above 1023 behind a reverse proxy, or: setcap cap_net_bind_service=+ep ${process.execPath}`);
    }
    return ok('port', `port ${port} is free`);
  }
  const owners = ownersOf(listeners);
  const addresses = [...new Set(listeners.map((listener) => listener.address))].join(', ');
  if (owners.length === 0) return fail('port', `port ${port} is in use (on ${addresses}) by a process this user cannot see`, `run harken doctor as root to name it, or choose another port with --port or HARKEN_SERVER_PORT`);
  const described = owners.map((owner) => `${owner.name} (pid ${owner.pid}: ${owner.commandLine.slice(0, 120)})`).join(', ');
  if (owners.every((owner) => isHarken(owner.commandLine))) {
    const holder = liveServerHolding(join(config.data.dir, 'server.run'));
    const same = holder !== undefined && owners.some((owner) => owner.pid === holder.pid);
    return warn('port', `port ${port} is in use by Harken itself: ${described}${same ? ', serving this data directory' : ''}`, same ? 'a server is already running here; stop it before starting another' : 'another Harken is running; stop it or choose another port');
  }
  return fail('port', `port ${port} is in use by ${described}`, `stop that process (kill ${owners[0]!.pid}) or choose another port with --port or HARKEN_SERVER_PORT`);
};

const isLoopback = (host: string): boolean => host === 'localhost' || host.startsWith('127.') || host === '::1';

const firewallCheck = (config: HarkenConfig, port: number, apply: boolean): DoctorCheck[] => {
  if (isLoopback(config.server.host)) return [ok('firewall', `listening on ${config.server.host} only: reachable from this machine (a reverse proxy), no firewall rule needed`)];
  const verdict = firewallVerdict(port, config.server.host.includes(':'));
  if (verdict.state === 'open') return [ok('firewall', verdict.detail)];
  if (verdict.state === 'unknown') return [warn('firewall', verdict.detail)];
  if (!apply || !verdict.fix) return [fail('firewall', verdict.detail, verdict.fix)];
  if (!verdict.applicable || process.getuid?.() !== 0) return [fail('firewall', `${verdict.detail}; --apply needs root and ufw or nftables`, verdict.fix)];
  const applied = applyFirewallFix(verdict.fix);
  if (!applied.ok) return [fail('firewall', `${verdict.detail}; running "${verdict.fix}" failed: ${applied.error ?? ''}`, verdict.fix)];
  const after = firewallVerdict(port, config.server.host.includes(':'));
  return after.state === 'open' ? [ok('firewall', `opened tcp port ${port}: ${verdict.fix}`)] : [fail('firewall', `ran "${verdict.fix}" but ${after.detail}`)];
};

const modeOf = (path: string): number => statSync(path).mode & 0o777;
const octal = (mode: number): string => mode.toString(8).padStart(4, '0');

const filesCheck = (config: HarkenConfig): DoctorCheck[] => {
  const checks: DoctorCheck[] = [];
  const dir = config.data.dir;
  if (!existsSync(dir)) return [ok('data directory', `${dir} does not exist yet; the first start creates it (mode 0700)`)];
  const dirMode = modeOf(dir);
  checks.push((dirMode & 0o077) === 0 ? ok('data directory', `${dir} is private (${octal(dirMode)})`) : warn('data directory', `${dir} is open to other users (${octal(dirMode)})`, `chmod 700 ${dir}`));
  for (const file of [config.store.sqlitePath, config.auth.tokenSecretFile]) {
    if (!existsSync(file)) continue;
    const mode = modeOf(file);
    checks.push((mode & 0o077) === 0 ? ok('file modes', `${file} is private (${octal(mode)})`) : fail('file modes', `${file} is readable by other users (${octal(mode)})`, `chmod 600 ${file}`));
  }
  return checks;
};

const diskCheck = (config: HarkenConfig): DoctorCheck => {
  let path = config.data.dir;
  while (!existsSync(path) && dirname(path) !== path) path = dirname(path);
  const stats = statfsSync(path);
  const freeMb = (stats.bavail * stats.bsize) / 1_048_576;
  const minimum = config.store.minFreeDiskMb;
  const text = `${freeMb >= 10_240 ? `${(freeMb / 1024).toFixed(1)} GB` : `${freeMb.toFixed(0)} MB`} free on the volume of ${config.data.dir}`;
  if (freeMb < minimum) return fail('disk space', `${text}, under store.minFreeDiskMb (${minimum}): writes are refused`, `free space there, or move data.dir to a larger volume`);
  if (freeMb < minimum * 10) return warn('disk space', `${text}: little room for conversations and backups`, 'free space, or purge old conversations (store.conversationRetentionDays)');
  return ok('disk space', text);
};

const databaseCheck = (config: HarkenConfig): DoctorCheck[] => {
  const path = config.store.sqlitePath;
  if (!existsSync(path)) return [ok('database', `${path} does not exist yet; the first start creates it`)];
  let db: SqliteDatabase.Database;
  try {
    db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    return [fail('database', `cannot open ${path}: ${(error as Error).message}`)];
  }
  const checks: DoctorCheck[] = [];
  try {
    const integrity = db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>;
    const problems = integrity.map((row) => row.integrity_check).filter((line) => line !== 'ok');
    checks.push(problems.length === 0 ? ok('database', `${path} passes SQLite's integrity check`) : fail('database', `${path} is damaged: ${problems.slice(0, 3).join('; ')}`, 'restore the latest backup: harken restore FILE --force'));
    const known = Object.keys(migrations).sort();
    let applied: string[] = [];
    try {
      applied = (db.prepare('SELECT name FROM harken_migrations ORDER BY name').all() as Array<{ name: string }>).map((row) => row.name);
    } catch {
      // No migrations table: a database that was never migrated.
    }
    const unknown = applied.filter((name) => !known.includes(name));
    const pending = known.filter((name) => !applied.includes(name));
    if (unknown.length > 0) checks.push(fail('migrations', `the database has migrations this Harken does not know (${unknown.join(', ')}): it was written by a newer version`, 'upgrade Harken'));
    else if (pending.length > 0) checks.push(warn('migrations', `${pending.length} migration(s) pending (${pending.join(', ')}); the next start applies them`, 'back up first: harken backup'));
    else checks.push(ok('migrations', `schema up to date (${known.at(-1) ?? 'none'})`));
  } catch (error) {
    // SQLite refuses to read pages it finds broken before the integrity check can list them.
    checks.push(fail('database', `${path} is damaged: ${(error as Error).message}`, 'restore the latest backup: harken restore FILE --force'));
  } finally {
    db.close();
  }
  const wal = `${path}-wal`;
  if (existsSync(wal)) {
    const walMb = statSync(wal).size / 1_048_576;
    checks.push(walMb > LARGE_WAL_MB ? warn('write-ahead log', `${wal} is ${walMb.toFixed(0)} MB: checkpoints are falling behind (a long-running reader?)`, 'restart the server, or run: sqlite3 harken.db "PRAGMA wal_checkpoint(TRUNCATE)"') : ok('write-ahead log', `${walMb.toFixed(1)} MB`));
  }
  return checks;
};

const enginesCheck = async (config: HarkenConfig): Promise<DoctorCheck> => {
  if (!config.voice.enabled) return ok('speech engines', 'voice is off (voice.enabled false)');
  try {
    const engines = await createVoiceEngines(config);
    const names = `${engines.vad.name}, ${engines.stt.name}, ${engines.tts.name}`;
    await engines.close();
    return ok('speech engines', `loaded: ${names}`);
  } catch (error) {
    if (error instanceof EngineUnavailableError) return fail('speech engines', error.message, error.fix);
    return fail('speech engines', (error as Error).message);
  }
};

const twilioCheck = (config: HarkenConfig): DoctorCheck => {
  if (!config.twilio.enabled) return ok('twilio', 'phone calls are off (twilio.enabled false)');
  const url = config.twilio.publicUrl;
  if (!url) return fail('twilio', 'twilio.publicUrl is empty: Twilio cannot reach the webhooks or sign requests for them', 'set HARKEN_TWILIO_PUBLIC_URL to the https:// address Twilio calls');
  if (!url.startsWith('https://')) return fail('twilio', `twilio.publicUrl ${url} is not https: Twilio's media streams need wss://`, 'serve Harken behind TLS (deploy/nginx.conf, or server.tlsCertFile/tlsKeyFile) and use its https:// URL');
  return ok('twilio', `webhooks at ${url.replace(/\/+$/, '')}/v1/twilio/voice, media stream over wss`);
};

/** A certificate expiring sooner than this is worth a warning: renewals fail quietly. */
const CERTIFICATE_WARN_DAYS = 14;

const tlsCheck = (config: HarkenConfig): DoctorCheck => {
  if (!config.server.tlsCertFile && !config.server.tlsKeyFile) return ok('tls', 'plain HTTP (TLS left to a reverse proxy, e.g. deploy/nginx.conf)');
  let files;
  try {
    files = loadTls(config);
  } catch (error) {
    return fail('tls', (error as Error).message.replace(/^invalid configuration:\s*-\s*/, ''), 'give server.tlsCertFile and server.tlsKeyFile a readable PEM certificate and its key');
  }
  if (!files) return ok('tls', 'plain HTTP');
  const certificate = new X509Certificate(files.cert);
  const daysLeft = Math.floor((Date.parse(certificate.validTo) - Date.now()) / 86_400_000);
  if (daysLeft < 0) return fail('tls', `${config.server.tlsCertFile} expired on ${certificate.validTo}`, 'renew it, then `kill -HUP` the server (or wait a minute)');
  const keyMode = modeOf(config.server.tlsKeyFile);
  if ((keyMode & 0o077) !== 0) return warn('tls', `${config.server.tlsKeyFile} is readable by others (mode ${octal(keyMode)})`, `chmod 600 ${config.server.tlsKeyFile}`);
  if (daysLeft < CERTIFICATE_WARN_DAYS) return warn('tls', `${config.server.tlsCertFile} expires in ${daysLeft} days (${certificate.validTo})`, 'renew it; the server takes the new files within a minute or on SIGHUP');
  return ok('tls', `HTTPS and wss with ${certificate.subject.replace(/\n/g, ', ')}, valid for ${daysLeft} more days`);
};

const hardeningChecks = (config: HarkenConfig): DoctorCheck[] => {
  const production = config.server.environment === 'production';
  const exposed = !isLoopback(config.server.host);
  const checks: DoctorCheck[] = [];
  if (!production) {
    checks.push(
      exposed
        ? warn('production', `server.environment is development while listening on ${config.server.host}: cookies are not Secure, weak secrets are allowed, /docs is public`, 'HARKEN_SERVER_ENVIRONMENT=production (behind HTTPS)')
        : ok('production', 'development mode on loopback'),
    );
  } else checks.push(ok('production', 'production mode: Secure cookies, HSTS, weak secrets refused'));
  let secretProblem: string | undefined;
  if (config.auth.tokenSecret) secretProblem = weakness(config.auth.tokenSecret) ? `auth.tokenSecret is weak: ${weakness(config.auth.tokenSecret)}` : undefined;
  else if (existsSync(config.auth.tokenSecretFile)) {
    try {
      checkSecretFileMode(config.auth.tokenSecretFile);
      const problem = weakness(readFileSync(config.auth.tokenSecretFile, 'utf8').trim());
      if (problem) secretProblem = `${config.auth.tokenSecretFile} is weak: ${problem}`;
    } catch (error) {
      if (error instanceof SecretError) secretProblem = error.message;
      else throw error;
    }
  }
  checks.push(secretProblem ? (production ? fail : warn)('secrets', secretProblem, 'harken secrets generate --rotate') : ok('secrets', config.auth.tokenSecret || existsSync(config.auth.tokenSecretFile) ? 'the token signing key is strong and private' : 'the token signing key is generated at the first start (0600)'));
  const docsOpen = config.server.docsEnabled && (config.server.docsPublic === 'true' || (config.server.docsPublic === 'auto' && !production));
  if (docsOpen && exposed) checks.push(warn('api docs', `/docs is open without credentials on ${config.server.host}`, 'HARKEN_SERVER_DOCS_PUBLIC=false (or production mode)'));
  if (config.server.configPublic) checks.push(warn('config api', 'GET /v1/config answers without credentials (server.configPublic)', 'HARKEN_SERVER_CONFIG_PUBLIC=false'));
  if (config.auth.adminPassword) checks.push(warn('admin password', 'auth.adminPassword is set in the environment or config: it stays readable there after the first start', 'remove it once the admin exists, or use harken admin create'));
  return checks;
};

/** Every check, in the order a person fixes them. Never throws for what it finds; each finding is a line. */
export const runDoctor = async (config: HarkenConfig, options: DoctorOptions): Promise<DoctorCheck[]> => [
  ok('config', 'the configuration is valid'),
  portCheck(config, options.port),
  ...firewallCheck(config, options.port, options.apply ?? false),
  ...filesCheck(config),
  diskCheck(config),
  ...databaseCheck(config),
  ...(options.engines === false ? [] : [await enginesCheck(config)]),
  tlsCheck(config),
  twilioCheck(config),
  ...hardeningChecks(config),
];
