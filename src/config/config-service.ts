import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { badRequest, conflict, HarkenError } from '../errors.js';
import { ConfigError, CREDENTIAL_DESTINATIONS, LOCKED_SETTINGS, loadConfig, provenanceOf, type ConfigProvenance, type SettingSource } from './load.js';
import { SECRET, type HarkenConfig } from './schema.js';
import { allowedValues, descriptorByPath, settingDescriptors, type SettingDescriptor } from './settings.js';

/** Settings this server applies the moment they change; every other change takes effect at the next start. */
const LIVE_SETTINGS: ReadonlySet<string> = new Set(['log.level']);

export interface SettingView {
  readonly path: string;
  readonly env: string;
  readonly description: string;
  readonly type: string;
  readonly allowed?: unknown[];
  readonly default: unknown;
  readonly secret: boolean;
  /** The value in effect; null for a secret (whether it is set is `isSet`). */
  readonly value: unknown;
  readonly isSet: boolean;
  readonly source: SettingSource;
  /** Saved through the admin API but not in effect until a restart (secrets: true only). */
  readonly pending?: unknown;
  /** The environment or command line sets it: the admin API cannot override that. */
  readonly pinned: boolean;
  readonly editable: boolean;
  readonly live: boolean;
}

export interface SettingChange {
  readonly path: string;
  /** Secrets: "[set]"/"[unset]" only. */
  readonly from: unknown;
  readonly to: unknown;
}

export interface ChangeResult {
  readonly changed: SettingChange[];
  readonly applied: string[];
  readonly restartRequired: string[];
}

const isSecret = (descriptor: SettingDescriptor): boolean => Boolean((descriptor.schema as Record<string, unknown>)[SECRET]);

const valueAt = (config: HarkenConfig, path: string): unknown => {
  const [section, key] = path.split('.') as [string, string];
  return (config as unknown as Record<string, Record<string, unknown>>)[section]?.[key];
};

const typeOf = (descriptor: SettingDescriptor): string => (allowedValues(descriptor.schema) ? 'enum' : String((descriptor.schema as { type?: unknown }).type ?? 'string'));

const shown = (descriptor: SettingDescriptor, value: unknown): unknown => (isSecret(descriptor) ? (value ? '[set]' : '[unset]') : value);

/** Writes the settings file atomically, readable by this user only. */
const writePrivateJson = (path: string, value: unknown): void => {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
};

/**
 * The configuration as the admin API sees it: every setting with its value and source
 * (secrets as set/unset only), and changes validated exactly as a restart would validate
 * them, saved to the data dir's settings file, applied at once where that is safe.
 */
export class ConfigService {
  private saved: HarkenConfig;
  private adminSettings: Record<string, Record<string, unknown>>;
  private readonly applied = new Map<string, unknown>();
  private readonly provenance: ConfigProvenance | undefined;

  constructor(
    private readonly running: HarkenConfig,
    private readonly logger: Logger,
    /** What a start checks beyond the schema (throws ConfigError): a change that would fail it is refused. */
    private readonly startupChecks: (candidate: HarkenConfig) => void = () => undefined,
  ) {
    this.provenance = provenanceOf(running);
    this.saved = running;
    this.adminSettings = structuredClone(this.provenance?.adminSettings ?? {});
  }

  view(): SettingView[] {
    return settingDescriptors.map((descriptor) => {
      const source = this.provenance?.sources.get(descriptor.path) ?? 'default';
      const inEffect = this.applied.has(descriptor.path) ? this.applied.get(descriptor.path) : valueAt(this.running, descriptor.path);
      const saved = valueAt(this.saved, descriptor.path);
      const pinned = source === 'environment' || source === 'command line';
      const differs = JSON.stringify(saved) !== JSON.stringify(inEffect);
      const allowed = allowedValues(descriptor.schema);
      return {
        path: descriptor.path,
        env: descriptor.envName,
        description: descriptor.schema.description ?? '',
        type: typeOf(descriptor),
        ...(allowed ? { allowed: [...allowed] } : {}),
        default: isSecret(descriptor) ? null : descriptor.schema.default,
        secret: isSecret(descriptor),
        value: isSecret(descriptor) ? null : inEffect,
        isSet: inEffect !== '' && inEffect !== undefined,
        source: this.adminSettings[descriptor.section] && descriptor.key in (this.adminSettings[descriptor.section] as object) && !pinned ? 'settings file' : source,
        ...(differs ? { pending: isSecret(descriptor) ? true : saved } : {}),
        pinned,
        editable: this.provenance !== undefined && !pinned && !LOCKED_SETTINGS.has(descriptor.path) && !CREDENTIAL_DESTINATIONS.has(descriptor.path),
        live: LIVE_SETTINGS.has(descriptor.path),
      };
    });
  }

  /**
   * Changes settings (`null` removes a saved value: back to the config file or the default).
   * All or nothing: one bad value refuses the whole change with every problem named.
   */
  change(changes: Readonly<Record<string, unknown>>): ChangeResult {
    if (!this.provenance) throw new HarkenError(409, 'config_not_editable', 'this server was not started from loaded settings; change its configuration where it is built');
    const entries = Object.entries(changes);
    if (entries.length === 0) throw badRequest('no_changes', 'name at least one setting to change');
    const next = structuredClone(this.adminSettings);
    const problems: Array<{ setting: string; message: string }> = [];
    for (const [path, value] of entries) {
      const descriptor = descriptorByPath(path);
      if (!descriptor) {
        problems.push({ setting: path, message: 'unknown setting' });
        continue;
      }
      const source = this.provenance.sources.get(path);
      if (LOCKED_SETTINGS.has(path)) problems.push({ setting: path, message: 'cannot be changed here; use the config file or the environment' });
      else if (CREDENTIAL_DESTINATIONS.has(path)) problems.push({ setting: path, message: 'receives credentials, so it changes only through the config file or the environment' });
      else if (source === 'environment' || source === 'command line') problems.push({ setting: path, message: `is set by the ${source} (${descriptor.envName}), which the settings file cannot override` });
      else if (value === null) delete next[descriptor.section]?.[descriptor.key];
      else (next[descriptor.section] ??= {})[descriptor.key] = value;
    }
    if (problems.length > 0) throw new HarkenError(409, 'setting_not_editable', problems.map((problem) => `${problem.setting}: ${problem.message}`).join('; '));
    for (const section of Object.keys(next)) if (Object.keys(next[section] as object).length === 0) delete next[section];

    let candidate: HarkenConfig;
    try {
      candidate = loadConfig({ ...this.provenance.options, adminSettings: next });
      this.startupChecks(candidate);
    } catch (error) {
      if (error instanceof ConfigError) {
        const issues = error.issues.map((issue) => `${issue.setting}: ${issue.message}`);
        throw new HarkenError(400, 'invalid_setting', issues.join('; '));
      }
      throw error;
    }
    const changed: SettingChange[] = [];
    for (const [path] of entries) {
      const descriptor = descriptorByPath(path) as SettingDescriptor;
      const from = valueAt(this.saved, path);
      const to = valueAt(candidate, path);
      if (JSON.stringify(from) !== JSON.stringify(to)) changed.push({ path, from: shown(descriptor, from), to: shown(descriptor, to) });
    }
    if (changed.length === 0) throw conflict('nothing_changed', 'every setting already has that value');
    writePrivateJson(this.provenance.settingsFile, next);
    this.adminSettings = next;
    this.saved = candidate;
    const applied: string[] = [];
    for (const change of changed) {
      if (!LIVE_SETTINGS.has(change.path)) continue;
      this.applyLive(change.path, valueAt(candidate, change.path));
      applied.push(change.path);
    }
    return { changed, applied, restartRequired: changed.map((change) => change.path).filter((path) => !applied.includes(path)) };
  }

  private applyLive(path: string, value: unknown): void {
    if (path === 'log.level') this.logger.level = value as string;
    this.applied.set(path, value);
  }
}
