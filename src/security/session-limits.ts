export type SessionSlot =
  | { readonly ok: true; release(): void }
  | { readonly ok: false; readonly scope: 'server' | 'caller' | 'address'; readonly limit: number };

/** Counts per key in a map, dropping keys that reach zero. */
class Counter {
  private readonly counts = new Map<string, number>();
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  add(key: string, delta: number): void {
    const next = this.get(key) + delta;
    if (next <= 0) this.counts.delete(key);
    else this.counts.set(key, next);
  }
}

export interface SessionLimitSettings {
  /** Concurrent sessions on the whole server. */
  readonly maxTotal: number;
  /** Concurrent sessions per client address (IPv6 by /64). */
  readonly maxPerAddress: number;
  /** Connections per address still waiting to send `start` (they hold no slot, but a socket). */
  readonly maxPendingPerAddress: number;
}

/**
 * Concurrent realtime sessions, counted for the whole server, per caller (API key,
 * account, admin) and per client address. A slot is taken only once a session has
 * validly started, so sockets that never say `start` cannot fill the server.
 */
export class SessionLimits {
  private total = 0;
  private readonly perCaller = new Counter();
  private readonly perAddress = new Counter();
  private readonly pending = new Counter();

  constructor(private readonly settings: SessionLimitSettings) {}

  get active(): number {
    return this.total;
  }

  acquire(caller: string, maxForCaller: number, address: string): SessionSlot {
    if (this.total >= this.settings.maxTotal) return { ok: false, scope: 'server', limit: this.settings.maxTotal };
    if (this.perCaller.get(caller) >= maxForCaller) return { ok: false, scope: 'caller', limit: maxForCaller };
    if (this.perAddress.get(address) >= this.settings.maxPerAddress) return { ok: false, scope: 'address', limit: this.settings.maxPerAddress };
    this.total += 1;
    this.perCaller.add(caller, 1);
    this.perAddress.add(address, 1);
    return {
      ok: true,
      release: once(() => {
        this.total -= 1;
        this.perCaller.add(caller, -1);
        this.perAddress.add(address, -1);
      }),
    };
  }

  /** A connection that has not started yet; refused when its address already has too many. */
  admitPending(address: string): { readonly ok: true; release(): void } | { readonly ok: false; readonly limit: number } {
    if (this.pending.get(address) >= this.settings.maxPendingPerAddress) return { ok: false, limit: this.settings.maxPendingPerAddress };
    this.pending.add(address, 1);
    return { ok: true, release: once(() => this.pending.add(address, -1)) };
  }
}

const once = (release: () => void): (() => void) => {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    release();
  };
};
