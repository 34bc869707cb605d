import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { parseSourceSubject, sourceSubject, type CredentialSource } from './credential-source.js';
import { isScope, type Scope } from './scopes.js';

const ISSUER = 'harken';
const AUDIENCE = 'harken';

export interface VerifiedToken {
  /** The credential it was issued from: revoking, rotating or logging that out kills the token too. */
  readonly source: CredentialSource;
  readonly scopes: Scope[];
  readonly expiresAt: Date;
}

export type TokenCheck = { readonly ok: true; readonly token: VerifiedToken } | { readonly ok: false; readonly reason: 'malformed' | 'expired' | 'invalid' };

export const looksLikeJwt = (value: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value);

/** Short-lived HS256 JWTs for WebSockets and browsers (jose). */
export class TokenIssuer {
  private readonly key: Uint8Array;

  constructor(secret: string, private readonly now: () => Date = () => new Date()) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(source: CredentialSource, scopes: readonly Scope[], ttlSeconds: number): Promise<{ token: string; expiresAt: Date }> {
    const issuedAt = Math.floor(this.now().getTime() / 1000);
    const expiresAt = new Date((issuedAt + ttlSeconds) * 1000);
    const token = await new SignJWT({ scope: scopes.join(' ') })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(sourceSubject(source))
      .setJti(randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ttlSeconds)
      .sign(this.key);
    return { token, expiresAt };
  }

  async verify(token: string): Promise<TokenCheck> {
    if (!looksLikeJwt(token)) return { ok: false, reason: 'malformed' };
    try {
      const { payload } = await jwtVerify(token, this.key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
        currentDate: this.now(),
        requiredClaims: ['sub', 'exp', 'scope'],
      });
      const source = parseSourceSubject(payload.sub ?? '');
      const scopes = String(payload.scope).split(' ').filter(isScope);
      if (!source || typeof payload.exp !== 'number') return { ok: false, reason: 'invalid' };
      return { ok: true, token: { source, scopes, expiresAt: new Date(payload.exp * 1000) } };
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
      if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return { ok: false, reason: 'malformed' };
      return { ok: false, reason: 'invalid' };
    }
  }
}
