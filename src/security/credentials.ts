import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Credential strings: `<prefix>_<id>_<secret>`. The id is public (shown in lists and
 * logs, used to find the row); the secret is 32 random bytes, stored only as SHA-256
 * (a slow hash adds nothing for 256-bit random secrets). Prefixes make leaked keys
 * recognisable to secret scanners.
 */
export const KEY_PREFIX = 'hk';
export const SERVICE_ACCOUNT_PREFIX = 'hksa';

const SECRET_BYTES = 32;
const ID_PATTERN = /^[a-z0-9]{12}$/;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface IssuedCredential {
  readonly id: string;
  /** The full string handed to the caller once. */
  readonly credential: string;
  readonly secretHash: string;
}

const newId = (): string => {
  // 12 base-36 characters ≈ 62 bits: unique enough for ids, short enough to read out.
  const bytes = randomBytes(12);
  return Array.from(bytes, (byte) => (byte % 36).toString(36)).join('');
};

/** One-shot `crypto.hash`: a few times cheaper than createHash() for the short strings checked on every request. */
export const sha256Hex = (value: string): string => hash('sha256', value, 'hex');

export const issueCredential = (prefix: string, id = newId()): IssuedCredential => {
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { id, credential: `${prefix}_${id}_${secret}`, secretHash: sha256Hex(secret) };
};

export type ParsedCredential = { readonly prefix: string; readonly id: string; readonly secret: string };

/** Splits a presented credential; undefined when it is not shaped like one of ours. Runs on every request: no split/join. */
export const parseCredential = (value: string, prefix: string): ParsedCredential | undefined => {
  const idStart = prefix.length + 1;
  if (!value.startsWith(prefix) || value.charCodeAt(prefix.length) !== 0x5f /* _ */) return undefined;
  const idEnd = value.indexOf('_', idStart);
  if (idEnd < 0) return undefined;
  const id = value.slice(idStart, idEnd);
  // The secret is base64url, which may itself contain "_".
  const secret = value.slice(idEnd + 1);
  if (!ID_PATTERN.test(id) || !SECRET_PATTERN.test(secret)) return undefined;
  return { prefix, id, secret };
};

/** Constant-time comparison of a presented secret with the stored hash. */
export const secretMatches = (secret: string, storedHash: string): boolean => {
  const presented = Buffer.from(sha256Hex(secret), 'latin1');
  const stored = Buffer.from(storedHash.toLowerCase(), 'latin1');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
};

/** A random opaque token (sessions, CSRF, setup codes). */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');
