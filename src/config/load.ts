import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { Value } from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, SECRET, type HarkenConfig } from './schema.js';
import {
  allowedValues,
  closestName,
  descriptorByPath,
  ENV_PREFIX,
  RESERVED_ENV_NAMES,
  settingDescriptors,
} from './settings.js';

/** A setting that failed validation, named the way the user wrote it. */
export interface ConfigIssue {
  readonly setting: string;
  readonly source: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map((issue) => `  - ${formatIssue(issue)}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const DEFAULT_DATA_DIR = (((ConfigSchema as unknown as { properties: Record<string, { properties: Record<string, { default?: unknown }> }> }).properties.data?.properties.dir?.default) ?? './data') as string;

const formatIssue = (issue: ConfigIssue): string => `${issue.setting} (${issue.source}): ${issue.message}`;

export interface LoadConfigOptions {
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Settings changed through the admin API, in place of those stored in the data dir's
   * settings file (checking a proposed change validates it exactly as a restart would).
   */
  readonly adminSettings?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Config file (YAML or JSON). Falls back to HARKEN_CONFIG; no file is read when neither is set. */
  readonly configPath?: string;
  /** Highest-precedence values, e.g. from CLI flags, as dotted paths. */
  readonly overrides?: Readonly<Record<string, unknown>>;
  readonly cwd?: string;
}

type Layer = Record<string, Record<string, unknown>>;

/** Where a setting's value came from, lowest precedence first. */
export type SettingSource = 'default' | 'config file' | 'settings file' | 'environment' | 'command line';

/** The settings file the admin API writes (in data.dir, mode 0600): above the config file, below the environment. */
export const ADMIN_SETTINGS_FILE = 'settings.json';

/** Settings the admin API may not change: where the data, the database and the signing key live. */
export const LOCKED_SETTINGS: ReadonlySet<string> = new Set(['data.dir', 'store.sqlitePath', 'auth.tokenSecretFile']);

/**
 * Where credentials are sent (Twilio's auth token, LLM and speech API keys). A session that can
 * change settings must not be able to point them at a server of its choosing and collect the
 * keys: these change through the config file or the environment only. (Unlike LOCKED_SETTINGS,
 * a settings file written before they were locked still loads.)
 */
export const CREDENTIAL_DESTINATIONS: ReadonlySet<string> = new Set(['twilio.apiBaseUrl', 'llm.baseUrl', 'llm.fallbackBaseUrl', 'stt.openaiBaseUrl', 'tts.openaiBaseUrl']);

export interface ConfigProvenance {
  /** How the config was loaded, so a change can be validated the same way. */
  readonly options: LoadConfigOptions;
  readonly sources: ReadonlyMap<string, SettingSource>;
  readonly settingsFile: string;
  /** What the settings file held when loaded. */
  readonly adminSettings: Layer;
}

const provenance = new WeakMap<HarkenConfig, ConfigProvenance>();

/** How a config returned by loadConfig was put together; undefined for one built otherwise. */
export const provenanceOf = (config: HarkenConfig): ConfigProvenance | undefined => provenance.get(config);

const readAdminSettings = (path: string): Layer => {
  // Not there, or the data dir cannot be read yet (start-up reports that on its own): no saved settings.
  if (!existsSync(path)) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError([{ setting: 'settings file', source: path, message: (error as Error).message }]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([{ setting: 'settings file', source: path, message: `not valid JSON: ${(error as Error).message}; fix or delete it` }]);
  }
  if (!isPlainObject(parsed) || !Object.values(parsed).every(isPlainObject)) throw new ConfigError([{ setting: 'settings file', source: path, message: 'must map sections to settings; fix or delete it' }]);
  const layer = parsed as Layer;
  for (const path of LOCKED_SETTINGS) {
    const [section, key] = path.split('.') as [string, string];
    if (layer[section] && key in layer[section]) throw new ConfigError([{ setting: path, source: 'settings file', message: 'cannot be set in the settings file; use the config file or the environment' }]);
  }
  return layer;
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const readConfigFile = (path: string): Layer => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError([{ setting: 'config file', source: path, message: reason }]);
  }
  let parsed: unknown;
  try {
    parsed = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError([{ setting: 'config file', source: path, message: `not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}` }]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed) || !Object.values(parsed).every(isPlainObject)) {
    throw new ConfigError([{ setting: 'config file', source: path, message: 'must be a mapping of sections, e.g. `server: { port: 8080 }`' }]);
  }
  return parsed as Layer;
};

/** Secrets may live in a config file only if no other user can read it. */
const refuseReadableSecrets = (layer: Layer, path: string): void => {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  const secrets = settingDescriptors.filter((descriptor) => (descriptor.schema as Record<string, unknown>)[SECRET] && layer[descriptor.section]?.[descriptor.key]);
  if (secrets.length === 0) return;
  throw new ConfigError(
    secrets.map((descriptor) => ({
      setting: descriptor.path,
      source: path,
      message: `is a secret in a file other users can read (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}, or set ${descriptor.envName} instead`,
    })),
  );
};

const readEnv = (env: NodeJS.ProcessEnv): { layer: Layer; issues: ConfigIssue[] } => {
  const layer: Layer = {};
  const issues: ConfigIssue[] = [];
  const known = new Map(settingDescriptors.map((descriptor) => [descriptor.envName, descriptor]));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || RESERVED_ENV_NAMES.has(name)) continue;
    const descriptor = known.get(name);
    if (!descriptor) {
      const hint = closestName(name, [...known.keys()]);
      issues.push({ setting: name, source: 'environment', message: `unknown setting${hint ? ` (did you mean ${hint}?)` : ''}` });
      continue;
    }
    (layer[descriptor.section] ??= {})[descriptor.key] = value;
  }
  return { layer, issues };
};

/** Copies a layer over the target and remembers, per setting, where its value came from. */
const mergeLayer = (
  target: Layer,
  layer: Layer,
  sourceOf: (path: string, value: unknown) => string,
  sources: Map<string, string>,
): void => {
  for (const [section, values] of Object.entries(layer)) {
    for (const [key, value] of Object.entries(values)) {
      (target[section] ??= {})[key] = value;
      sources.set(`${section}.${key}`, sourceOf(`${section}.${key}`, value));
    }
  }
};

const envSource = (path: string, value: unknown): string =>
  `${descriptorByPath(path)?.envName ?? path}=${JSON.stringify(value)}`;

const overridesToLayer = (overrides: Readonly<Record<string, unknown>>): Layer => {
  const layer: Layer = {};
  for (const [path, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const [section, key] = path.split('.');
    if (!section || !key) throw new Error(`override path must be section.key, got ${path}`);
    (layer[section] ??= {})[key] = value;
  }
  return layer;
};

/** Turns typebox's per-keyword errors into one message per setting, in the user's terms. */
const describeErrors = (candidate: unknown, sources: Map<string, string>): ConfigIssue[] => {
  const bySetting = new Map<string, ConfigIssue>();
  for (const error of Value.Errors(ConfigSchema, candidate)) {
    const segments = error.instancePath.split('/').filter(Boolean);
    const extra = (error.params as { additionalProperties?: string[] }).additionalProperties;
    if (error.keyword === 'additionalProperties' && extra) {
      for (const name of extra) {
        const setting = segments.length === 0 ? name : `${segments.join('.')}.${name}`;
        const candidates = segments.length === 0 ? [...new Set(settingDescriptors.map((descriptor) => descriptor.section))] : settingDescriptors.map((descriptor) => descriptor.path);
        const hint = closestName(setting, candidates);
        bySetting.set(setting, { setting, source: sources.get(setting) ?? sources.get('*file*') ?? 'config', message: `unknown setting${hint ? ` (did you mean ${hint}?)` : ''}` });
      }
      continue;
    }
    if (error.keyword === 'boolean' || segments.length < 2) continue;
    const setting = segments.slice(0, 2).join('.');
    if (bySetting.has(setting)) continue;
    const descriptor = descriptorByPath(setting);
    const choices = descriptor ? allowedValues(descriptor.schema) : undefined;
    const message = choices ? `must be one of ${choices.map((choice) => JSON.stringify(choice)).join(', ')}` : error.message;
    bySetting.set(setting, { setting, source: sources.get(setting) ?? 'config', message });
  }
  return [...bySetting.values()];
};

/** Fills derived values and turns relative paths into absolute ones. */
const finalize = (config: HarkenConfig, cwd: string): HarkenConfig => {
  const dataDir = resolve(cwd, config.data.dir);
  const modelsDir = config.models.dir ? resolve(cwd, config.models.dir) : join(dataDir, 'models');
  return {
    ...config,
    data: { ...config.data, dir: dataDir },
    store: { ...config.store, sqlitePath: config.store.sqlitePath ? resolve(cwd, config.store.sqlitePath) : join(dataDir, 'harken.db') },
    models: { ...config.models, dir: modelsDir },
    vad: { ...config.vad, model: config.vad.model ? resolve(cwd, config.vad.model) : '' },
    stt: {
      ...config.stt,
      sherpaModelDir: config.stt.sherpaModelDir ? resolve(cwd, config.stt.sherpaModelDir) : join(modelsDir, 'sherpa-onnx-streaming-zipformer-en-20M-2023-02-17'),
    },
    tts: { ...config.tts, sherpaModelDir: config.tts.sherpaModelDir ? resolve(cwd, config.tts.sherpaModelDir) : join(modelsDir, 'vits-piper-en_US-amy-low') },
    llm: { ...config.llm, localModelPath: config.llm.localModelPath ? resolve(cwd, config.llm.localModelPath) : '' },
    auth: { ...config.auth, tokenSecretFile: config.auth.tokenSecretFile ? resolve(cwd, config.auth.tokenSecretFile) : join(dataDir, 'secrets', 'token-signing.key') },
    agents: { ...config.agents, flowsDir: config.agents.flowsDir ? resolve(cwd, config.agents.flowsDir) : '' },
  };
};

/**
 * Loads settings with precedence defaults < config file < environment < overrides,
 * converts strings from the environment to the schema's types, and validates.
 * Throws ConfigError naming every bad setting and where it came from.
 */
export const loadConfig = (options: LoadConfigOptions = {}): HarkenConfig => {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const sources = new Map<string, string>();
  const merged: Layer = {};

  const configPath = options.configPath ?? env.HARKEN_CONFIG;
  if (configPath) {
    const absolute = resolve(cwd, configPath);
    sources.set('*file*', absolute);
    const fileLayer = readConfigFile(absolute);
    refuseReadableSecrets(fileLayer, absolute);
    mergeLayer(merged, fileLayer, () => absolute, sources);
  }
  const fromEnv = readEnv(env);
  const overrides = options.overrides ? overridesToLayer(options.overrides) : {};
  // The settings file lives in the data dir, which only the layers above it can move.
  const dataDir = resolve(cwd, String(overrides.data?.dir ?? fromEnv.layer.data?.dir ?? merged.data?.dir ?? DEFAULT_DATA_DIR));
  const settingsFile = join(dataDir, ADMIN_SETTINGS_FILE);
  const adminSettings = options.adminSettings ? (structuredClone(options.adminSettings) as Layer) : readAdminSettings(settingsFile);
  if (!options.adminSettings && Object.keys(adminSettings).length > 0) refuseReadableSecrets(adminSettings, settingsFile);
  mergeLayer(merged, adminSettings, () => 'settings file', sources);
  mergeLayer(merged, fromEnv.layer, envSource, sources);
  if (options.overrides) mergeLayer(merged, overrides, () => 'command line', sources);

  const candidate = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, merged));
  const issues = [...fromEnv.issues, ...describeErrors(candidate, sources)];
  if (issues.length > 0) throw new ConfigError(issues);
  const config = finalize(candidate as HarkenConfig, cwd);
  const kinds = new Map<string, SettingSource>();
  for (const descriptor of settingDescriptors) {
    const source = sources.get(descriptor.path);
    kinds.set(descriptor.path, source === undefined ? 'default' : source === 'settings file' ? 'settings file' : source === 'command line' ? 'command line' : source.startsWith(ENV_PREFIX) ? 'environment' : 'config file');
  }
  provenance.set(config, { options, sources: kinds, settingsFile, adminSettings });
  return config;
};
