export type SessionSlot =
  | { readonly ok: true; release(): void }
  | { readonly ok: false; readonly scope: 'server' | 'caller'; readonly limit: number };

/** Concurrent realtime sessions, counted for the whole server and per caller (API key, account). */
export class SessionLimits {
  private total = 0;
  private readonly perCaller = new Map<string, number>();

  constructor(private readonly maxTotal: number) {}

  get active(): number {
    return this.total;
  }

  acquire(caller: string, maxForCaller: number): SessionSlot {
    if (this.total >= this.maxTotal) return { ok: false, scope: 'server', limit: this.maxTotal };
    const current = this.perCaller.get(caller) ?? 0;
    if (current >= maxForCaller) return { ok: false, scope: 'caller', limit: maxForCaller };
    this.total += 1;
    this.perCaller.set(caller, current + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.total -= 1;
        const left = (this.perCaller.get(caller) ?? 1) - 1;
        if (left <= 0) this.perCaller.delete(caller);
        else this.perCaller.set(caller, left);
      },
    };
  }
}
