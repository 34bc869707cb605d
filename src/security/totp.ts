import { Secret, TOTP } from 'otpauth';

const PERIOD_SECONDS = 30;

const totpFor = (secret: string, label = 'admin'): TOTP =>
  new TOTP({ issuer: 'Harken', label, algorithm: 'SHA1', digits: 6, period: PERIOD_SECONDS, secret: Secret.fromBase32(secret) });

/** A new 160-bit secret (RFC 4226's recommended size) and the otpauth:// URI authenticator apps read (as text or a QR code). */
export const newTotpSecret = (username: string): { secret: string; uri: string } => {
  const secret = new Secret({ size: 20 }).base32;
  return { secret, uri: totpFor(secret, username).toString() };
};

/**
 * The time step a code belongs to when it is valid now (±1 step for clock drift), else
 * undefined. Callers accept a step only if it is later than the last one accepted, so a
 * code seen over someone's shoulder cannot be replayed.
 */
export const totpStep = (secret: string, code: string, now = Date.now()): number | undefined => {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return undefined;
  const delta = totpFor(secret).validate({ token, timestamp: now, window: 1 });
  if (delta === null) return undefined;
  return Math.floor(now / 1000 / PERIOD_SECONDS) + delta;
};

/** The current code, for tests and the CLI's self-check. */
export const totpCode = (secret: string, now = Date.now()): string => totpFor(secret).generate({ timestamp: now });
