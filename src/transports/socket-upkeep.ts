import type { Logger } from 'pino';
import WebSocket from 'ws';
import { sleep } from '../session/sleep.js';
import { CloseCode } from './realtime/protocol.js';
import type { ConnectionGuard, GuardDecision } from './session-factory.js';

export interface UpkeepOptions {
  readonly pingIntervalMs: number;
  /** Unread bytes a client may have before audio waits for it. */
  readonly maxBufferedBytes: number;
  /** How long to wait for a slow client to read before giving up on it. */
  readonly slowClientTimeoutMs?: number;
}

/**
 * What every realtime WebSocket needs whatever protocol it speaks: ping/pong (a half-open peer
 * is dropped), an idle timer, backpressure on audio, credential re-checks (4401 when the
 * credential dies) and a bounded close reason. The connection supplies only its own wording.
 */
export class SocketUpkeep {
  /** Aborted once the socket has closed. */
  readonly closed = new AbortController();
  private alive = true;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly pingTimer: NodeJS.Timeout;
  private recheckTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly options: UpkeepOptions,
    private readonly logger: Logger,
    /** Says why the credential died, in the connection's own protocol, before the close. */
    private readonly onRevoked: (decision: Extract<GuardDecision, { ok: false }>) => void,
    private readonly guard?: ConnectionGuard,
  ) {
    socket.on('pong', () => {
      this.alive = true;
    });
    // A client's broken frame (too big, bad UTF-8) is the client's problem: one line, no stack.
    socket.on('error', (error: Error & { code?: string }) => this.logger.info({ wsError: error.code ?? 'unknown', reason: error.message }, 'realtime client sent an invalid frame'));
    this.pingTimer = setInterval(() => this.keepAlive(), options.pingIntervalMs);
    if (guard) {
      this.recheckTimer = setInterval(() => void this.credentialsStillValid(), guard.recheckMs);
      this.recheckTimer.unref();
    }
  }

  /** (Re)starts the idle timer: `onIdle` runs after `ms` without a call to this. */
  idle(ms: number, onIdle: () => void): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(onIdle, ms);
  }

  /** Closes with 4401 when the credential behind the connection has died; true while it lives. */
  async credentialsStillValid(): Promise<boolean> {
    if (!this.guard || this.closed.signal.aborted) return !this.closed.signal.aborted;
    let decision: GuardDecision;
    try {
      decision = await this.guard.recheck();
    } catch (error) {
      // A database hiccup is not a revocation; the next check decides.
      this.logger.warn({ err: error }, 'realtime credential re-check failed');
      return true;
    }
    if (decision.ok) return true;
    this.onRevoked(decision);
    this.close(CloseCode.credentialsRevoked, decision.message);
    return false;
  }

  /** Waits while the client has too much unread; false when nothing should be sent (gone, cancelled, or too slow: then closed). */
  async readyForAudio(signal: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + (this.options.slowClientTimeoutMs ?? 10_000);
    while (this.socket.readyState === WebSocket.OPEN && this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      if (signal.aborted || this.closed.signal.aborted) return false;
      if (Date.now() > deadline) {
        this.close(CloseCode.policyViolation, 'client is not reading audio');
        return false;
      }
      await sleep(20, signal);
    }
    return this.socket.readyState === WebSocket.OPEN && !signal.aborted;
  }

  /** Closes with a code and a short reason (the protocol limits reasons to 123 bytes). */
  close(code: number, reason: string): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(code, Buffer.from(reason).subarray(0, 123).toString());
    }
  }

  /** The socket closed: every timer stops. */
  stop(): void {
    this.closed.abort();
    clearTimeout(this.idleTimer);
    clearInterval(this.pingTimer);
    clearInterval(this.recheckTimer);
  }

  /** A peer that did not answer the previous ping is gone (half-open TCP): drop it. */
  private keepAlive(): void {
    if (!this.alive) {
      this.logger.info('realtime peer missed a pong; terminating');
      this.socket.terminate();
      return;
    }
    this.alive = false;
    if (this.socket.readyState === WebSocket.OPEN) this.socket.ping();
  }
}
