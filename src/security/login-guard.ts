import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export interface LoginGuardOptions {
  /** Consecutive failures on one account before it is locked. */
  readonly maxFailuresPerAccount: number;
  /** Failures from one address (any account) per hour before it is blocked. */
  readonly maxFailuresPerIp: number;
  readonly lockoutSeconds: number;
}

export type LoginGate = { readonly open: true } | { readonly open: false; readonly retryAfterSeconds: number; readonly scope: 'account' | 'ip' };

const retryAfter = (result: RateLimiterRes): number => Math.max(1, Math.ceil(result.msBeforeNext / 1000));

/**
 * Brute-force protection for password logins: an account locks after N consecutive
 * failures (a success resets it), and an address is blocked after M failures on any
 * accounts, so guessing across many usernames is slowed too.
 */
export class LoginGuard {
  private readonly byAccount: RateLimiterMemory;
  private readonly byIp: RateLimiterMemory;

  constructor(private readonly options: LoginGuardOptions) {
    this.byAccount = new RateLimiterMemory({ keyPrefix: 'login-account', points: options.maxFailuresPerAccount, duration: options.lockoutSeconds, blockDuration: options.lockoutSeconds });
    this.byIp = new RateLimiterMemory({ keyPrefix: 'login-ip', points: options.maxFailuresPerIp, duration: 3600, blockDuration: 3600 });
  }

  /** Asked before the password is checked: a locked account is not even tried. */
  async gate(account: string, ip: string): Promise<LoginGate> {
    const [accountState, ipState] = await Promise.all([this.byAccount.get(account.toLowerCase()), this.byIp.get(ip)]);
    if (ipState && ipState.consumedPoints >= this.options.maxFailuresPerIp) return { open: false, retryAfterSeconds: retryAfter(ipState), scope: 'ip' };
    if (accountState && accountState.consumedPoints >= this.options.maxFailuresPerAccount) return { open: false, retryAfterSeconds: retryAfter(accountState), scope: 'account' };
    return { open: true };
  }

  /** Counts a failure; returns the gate afterwards (closed when this failure locked it). */
  async failed(account: string, ip: string): Promise<LoginGate> {
    await Promise.all([this.byAccount.penalty(account.toLowerCase(), 1), this.byIp.penalty(ip, 1)]);
    return this.gate(account, ip);
  }

  async succeeded(account: string): Promise<void> {
    await this.byAccount.delete(account.toLowerCase());
  }
}
