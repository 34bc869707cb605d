import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { limitKeyOf } from './ip-mask.js';

export interface LoginGuardOptions {
  /** Failures on one account from one address before that pair is locked. */
  readonly maxFailuresPerAccount: number;
  /** Failures from one address (any account, setup code included) per hour before it is blocked. */
  readonly maxFailuresPerIp: number;
  readonly lockoutSeconds: number;
  /** The account locks for everyone only when this many addresses failed on it within an hour… */
  readonly accountLockAddresses: number;
  /** …and at least this many failures came in. */
  readonly accountLockFailures: number;
}

export type LoginGate = { readonly open: true } | { readonly open: false; readonly retryAfterSeconds: number; readonly scope: 'account' | 'address' | 'ip' };

const retryAfter = (result: RateLimiterRes): number => Math.max(1, Math.ceil(result.msBeforeNext / 1000));
const HOUR_MS = 3_600_000;
/** Accounts followed for distributed guessing; beyond this the oldest are forgotten. */
const MAX_TRACKED_ACCOUNTS = 10_000;

/**
 * Brute-force protection for password logins that an attacker cannot turn against a
 * victim: failures lock the (account, address) pair, so the owner can still log in
 * from elsewhere; an address guessing across accounts is blocked by itself; an account
 * locks for everyone only under failures from many addresses (a distributed attack).
 * IPv6 addresses count by /64.
 */
export class LoginGuard {
  private readonly byAccountAddress: RateLimiterMemory;
  private readonly byIp: RateLimiterMemory;
  private readonly accountLocks: RateLimiterMemory;
  /** account → address key → time of its last failure. */
  private readonly failingAddresses = new Map<string, Map<string, number>>();
  /** account → times of its recent failures (at most accountLockFailures kept). */
  private readonly failureCounts = new Map<string, number[]>();

  constructor(private readonly options: LoginGuardOptions, private readonly now: () => number = Date.now) {
    this.byAccountAddress = new RateLimiterMemory({ keyPrefix: 'login-pair', points: options.maxFailuresPerAccount, duration: options.lockoutSeconds, blockDuration: options.lockoutSeconds });
    this.byIp = new RateLimiterMemory({ keyPrefix: 'login-ip', points: options.maxFailuresPerIp, duration: 3600, blockDuration: 3600 });
    this.accountLocks = new RateLimiterMemory({ keyPrefix: 'login-account', points: 1, duration: options.lockoutSeconds });
  }

  /** Asked before the password is checked: a locked pair is not even tried. */
  async gate(account: string, ip: string): Promise<LoginGate> {
    const address = limitKeyOf(ip);
    const name = account.toLowerCase();
    const [pair, byIp, locked] = await Promise.all([this.byAccountAddress.get(`${name}|${address}`), this.byIp.get(address), this.accountLocks.get(name)]);
    if (byIp && byIp.consumedPoints >= this.options.maxFailuresPerIp) return { open: false, retryAfterSeconds: retryAfter(byIp), scope: 'ip' };
    if (locked && locked.consumedPoints >= 1) return { open: false, retryAfterSeconds: retryAfter(locked), scope: 'account' };
    if (pair && pair.consumedPoints >= this.options.maxFailuresPerAccount) return { open: false, retryAfterSeconds: retryAfter(pair), scope: 'address' };
    return { open: true };
  }

  /**
   * Counts a failure; returns the gate afterwards (closed when this failure locked it).
   * `knownAccount` keeps made-up usernames out of the distributed-attack tracking.
   */
  async failed(account: string, ip: string, knownAccount = true): Promise<LoginGate> {
    const address = limitKeyOf(ip);
    const name = account.toLowerCase();
    await Promise.all([this.byAccountAddress.penalty(`${name}|${address}`, 1), this.byIp.penalty(address, 1)]);
    if (knownAccount && this.distributedAttackOn(name, address)) await this.accountLocks.penalty(name, 1);
    return this.gate(account, ip);
  }

  /** A success clears the pair's failures (other addresses' failures stay counted). */
  async succeeded(account: string, ip: string): Promise<void> {
    await this.byAccountAddress.delete(`${account.toLowerCase()}|${limitKeyOf(ip)}`);
  }

  /** Setup-code attempts: limited per address only (there is no account to lock). */
  async setupGate(ip: string): Promise<LoginGate> {
    const state = await this.byIp.get(limitKeyOf(ip));
    if (state && state.consumedPoints >= this.options.maxFailuresPerIp) return { open: false, retryAfterSeconds: retryAfter(state), scope: 'ip' };
    return { open: true };
  }

  async setupFailed(ip: string): Promise<void> {
    await this.byIp.penalty(limitKeyOf(ip), 1);
  }

  private distributedAttackOn(account: string, address: string): boolean {
    const now = this.now();
    let addresses = this.failingAddresses.get(account);
    if (!addresses) {
      if (this.failingAddresses.size >= MAX_TRACKED_ACCOUNTS) this.failingAddresses.delete(this.failingAddresses.keys().next().value as string);
      addresses = new Map();
      this.failingAddresses.set(account, addresses);
    }
    addresses.set(address, now);
    for (const [key, at] of addresses) if (now - at > HOUR_MS) addresses.delete(key);
    const failures = (this.failureCounts.get(account) ?? []).filter((at) => now - at <= HOUR_MS);
    failures.push(now);
    this.failureCounts.set(account, failures.slice(-this.options.accountLockFailures));
    return addresses.size >= this.options.accountLockAddresses && failures.length >= this.options.accountLockFailures;
  }
}
