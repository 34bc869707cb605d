import { randomInt } from 'node:crypto';
import { secretMatches, sha256Hex } from './credentials.js';

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/**
 * The one-time code that lets the first admin be created from a browser or with curl.
 * It lives only in memory, is printed once on the terminal that started Harken (never
 * logged), and stops working once used or once any admin exists.
 */
export class SetupCode {
  private hash: string | undefined;

  /** A new code such as `K7QMZ-2XPDA-9TRWE-HV4CN` (100 bits). */
  issue(): string {
    const code = Array.from({ length: 4 }, () => Array.from({ length: 5 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')).join('-');
    this.hash = sha256Hex(code);
    return code;
  }

  get pending(): boolean {
    return this.hash !== undefined;
  }

  /** True once for the right code; afterwards no code works. */
  consume(code: string): boolean {
    if (this.hash === undefined || !secretMatches(code.trim().toUpperCase(), this.hash)) return false;
    this.hash = undefined;
    return true;
  }

  revoke(): void {
    this.hash = undefined;
  }
}
