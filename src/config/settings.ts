import type { TSchema } from 'typebox';
import { ConfigSchema } from './schema.js';

/** One configurable setting, derived from the schema: its dotted path, env name and schema. */
export interface SettingDescriptor {
  readonly section: string;
  readonly key: string;
  readonly path: string;
  readonly envName: string;
  readonly schema: TSchema & { default?: unknown; description?: string };
}

export const ENV_PREFIX = 'HARKEN_';
/**
 * Environment variables that are not settings but are still ours (so they are not reported as
 * typos): the config file, and what the client commands read — a credential and the server's
 * URL (`harken call`, `harken calls`), and the mirror `harken models pull` downloads from.
 */
export const RESERVED_ENV_NAMES: ReadonlySet<string> = new Set(['HARKEN_CONFIG', 'HARKEN_API_KEY', 'HARKEN_URL', 'HARKEN_MODELS_BASE_URL']);

const toScreamingSnake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

export const envNameFor = (section: string, key: string): string =>
  `${ENV_PREFIX}${toScreamingSnake(section)}_${toScreamingSnake(key)}`;

interface ObjectSchema {
  properties: Record<string, TSchema & { properties?: Record<string, TSchema> }>;
}

export const settingDescriptors: readonly SettingDescriptor[] = Object.entries(
  (ConfigSchema as unknown as ObjectSchema).properties,
).flatMap(([section, sectionSchema]) =>
  Object.entries(sectionSchema.properties ?? {}).map(([key, schema]) => ({
    section,
    key,
    path: `${section}.${key}`,
    envName: envNameFor(section, key),
    schema: schema as SettingDescriptor['schema'],
  })),
);

export const descriptorByPath = (path: string): SettingDescriptor | undefined =>
  settingDescriptors.find((descriptor) => descriptor.path === path);

/** The allowed values of a setting whose schema is a union of literals, else undefined. */
export const allowedValues = (schema: TSchema): readonly unknown[] | undefined => {
  const anyOf = (schema as { anyOf?: Array<{ const?: unknown }> }).anyOf;
  if (!anyOf || !anyOf.every((member) => 'const' in member)) return undefined;
  return anyOf.map((member) => member.const);
};

/** Levenshtein distance, for "did you mean" hints on misspelt variable names. */
const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
};

export const closestName = (name: string, candidates: readonly string[]): string | undefined => {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 5)) ? best.candidate : undefined;
};

/** A copy of the config with every secret setting that has a value replaced by "[set]". */
export const redactSecrets = <T extends Record<string, Record<string, unknown>>>(config: T): T => {
  const copy = structuredClone(config);
  for (const descriptor of settingDescriptors) {
    if (!(descriptor.schema as Record<string, unknown>)['x-secret']) continue;
    const section = copy[descriptor.section];
    if (section && section[descriptor.key]) section[descriptor.key] = '[set]';
  }
  return copy;
};
