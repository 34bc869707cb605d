import type { Logger } from 'pino';
import type { ConnectionMonitor } from '../../ops/connection-monitor.js';
import WebSocket from 'ws';
import { decodeSamples } from '../../audio/audio-format.js';
import type { SessionEvent, SessionTransport, ConversationOutcome } from '../../session/events.js';
import { sleep } from '../../session/sleep.js';
import type { OpenedSession } from '../session-factory.js';
import { MediaStreamError, parseTwilioMessage, type StreamStart } from './media-streams.js';
import { TwilioAudioSink } from './twilio-audio-sink.js';

export interface TwilioConnectionLimits {
  /** A stream that has not said `start` by then is closed. */
  readonly startTimeoutMs: number;
  /** A stream that sends nothing for this long (Twilio sends media every 20 ms) is closed. */
  readonly idleTimeoutMs: number;
  readonly maxBufferedBytes: number;
  /** Keys pressed are gathered into one input until `#` or this long without a key. */
  readonly dtmfPauseMs: number;
}

/** How a call begins once its session is open. */
export type CallOpening =
  /** `waited`: the agent held back (for the answering-machine verdict): what the callee said meanwhile ("Hello?") is not replayed as a turn. */
  | { readonly kind: 'agent'; readonly waited?: boolean }
  /** An answering machine after its beep: say this, then hang up. */
  | { readonly kind: 'message'; readonly text: string }
  | { readonly kind: 'hangup'; readonly reason: string };

/** Who ended the call: the caller (`stop` or a dropped line), the agent (its conversation ended), or this server. */
export type CallEndedBy = 'caller' | 'agent' | 'server';

export interface CallSummary {
  readonly start: StreamStart | undefined;
  readonly conversationId: string | undefined;
  readonly endedBy: CallEndedBy;
  readonly outcome: ConversationOutcome | undefined;
  /** The stream never became a call (bad token, no slot). */
  readonly refused: boolean;
}

/** What the stream asks of the rest of the server: open the session, decide how it begins, act on its end. */
export interface CallControl {
  /** Opens the session for a started stream (token check, slot, agent); throws to refuse it. */
  open(start: StreamStart, connection: TwilioConnection): Promise<OpenedSession>;
  opening(start: StreamStart, signal: AbortSignal): Promise<CallOpening>;
  /** The agent ended the conversation (or a machine answered): hang up or transfer through Twilio before the stream closes. */
  finish(start: StreamStart, outcome: ConversationOutcome | undefined, reason: string): Promise<void>;
  /** The stream is over and the session has stored what it held. */
  closed(connection: TwilioConnection, summary: CallSummary): Promise<void>;
}

const TELEPHONE_RATE = 8_000;
/** Caller audio that arrives while the session is being set up is kept (2 s) and replayed. */
const MAX_EARLY_SAMPLES = 2 * TELEPHONE_RATE;

/**
 * One Twilio Media Stream (one phone call): waits for `start`, opens the call's session,
 * feeds it the caller's μ-law audio, sends reply audio with marks, `clear`s on barge-in,
 * passes DTMF keys on as typed input, and ends the session on `stop` or a dropped socket
 * (the caller's last words are kept by the session). Closing the socket ends the call, as
 * the TwiML has nothing after `<Connect>`.
 */
export class TwilioConnection implements SessionTransport {
  private sink: TwilioAudioSink | undefined;
  private opened: OpenedSession | undefined;
  /** `message`: a voicemail is being left; the machine's audio is not listened to. */
  private state: 'awaiting_start' | 'starting' | 'active' | 'message' | 'closed' = 'awaiting_start';
  private endedBy: CallEndedBy | undefined;
  private refused = false;
  private readonly abort = new AbortController();
  private idleTimer: NodeJS.Timeout | undefined;
  private outcome: ConversationOutcome | undefined;
  private callStart: StreamStart | undefined;
  private early: Int16Array[] = [];
  private earlySamples = 0;
  private startTimer: NodeJS.Timeout | undefined;
  private digits = '';
  private digitTimer: NodeJS.Timeout | undefined;
  private markFinished!: () => void;
  /** Resolves once the call's session has ended and stored what it held. */
  readonly finished = new Promise<void>((resolve) => (this.markFinished = resolve));

  constructor(
    private readonly socket: WebSocket,
    private readonly control: CallControl,
    private readonly limits: TwilioConnectionLimits,
    private readonly logger: Logger,
    private readonly monitor?: ConnectionMonitor,
  ) {
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    socket.on('close', () => void this.cleanup());
    socket.on('error', (error: Error & { code?: string }) => this.logger.info({ wsError: error.code ?? 'unknown', reason: error.message }, 'twilio stream sent an invalid frame'));
    // Absolute: messages before `start` (Twilio's `connected`, anything else) do not extend it.
    this.startTimer = setTimeout(() => {
      if (this.state === 'awaiting_start') this.close(1008, 'no start message');
    }, limits.startTimeoutMs);
    this.startTimer.unref();
  }

  get audio(): TwilioAudioSink {
    if (!this.sink) throw new Error('the stream has not started');
    return this.sink;
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  get callSid(): string | undefined {
    return this.callStart?.callSid;
  }

  send(event: SessionEvent): void {
    // The phone line carries audio only; what matters of the events is how the call ends.
    if (event.type === 'conversation_ended') this.outcome = event.outcome;
    else if (event.type === 'error') this.logger.warn({ callSid: this.callSid, code: event.code }, 'phone session error');
  }

  /** The session is done (the conversation ended): Twilio hangs up or transfers, then the stream closes. */
  end(reason: string): void {
    // The line is already gone (the caller hung up): there is nothing left to hang up or transfer.
    if (this.state === 'closed') return;
    this.endedBy ??= 'agent';
    void this.finishThenClose(reason);
  }

  /** Shutdown: the reply under way finishes (at most `timeoutMs`), the caller's words are stored, the stream closes. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'active' && this.opened) await this.opened.session.drain(timeoutMs);
    await this.opened?.close();
    this.close(1001, 'server shutting down');
  }

  close(code: number, reason: string): void {
    // Closed from this side (shutdown, idle, malformed, refused): `stop` and a dropped line set caller first.
    this.endedBy ??= 'server';
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(code, Buffer.from(reason).subarray(0, 123).toString());
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.state !== 'awaiting_start') this.resetIdleTimer(this.limits.idleTimeoutMs);
    try {
      if (isBinary) throw new MediaStreamError('Media Streams send text frames only');
      const message = parseTwilioMessage(data.toString('utf8'));
      // Mark echoes answer our own marks (one per frame sent): they say nothing about the peer's rate.
      if (message.event !== 'mark') this.monitor?.message();
      switch (message.event) {
        case 'connected':
          return;
        case 'start':
          if (this.state !== 'awaiting_start') throw new MediaStreamError('a second start on one stream');
          this.begin(message.start);
          return;
        case 'media': {
          if (message.media.track !== 'inbound') return;
          const samples = decodeSamples(Buffer.from(message.media.payload, 'base64'), 'mulaw');
          if (this.state === 'active') this.opened?.session.pushAudio(samples);
          else if (this.state === 'message') return;
          else if (this.state === 'starting' && this.earlySamples + samples.length <= MAX_EARLY_SAMPLES) {
            this.early.push(samples);
            this.earlySamples += samples.length;
          }
          return;
        }
        case 'mark':
          this.sink?.acknowledge(message.mark.name);
          return;
        case 'dtmf':
          this.pressed(message.dtmf.digit);
          return;
        case 'unknown':
          return;
        case 'stop':
          this.endedBy ??= 'caller';
          this.close(1000, 'call ended');
          return;
      }
    } catch (error) {
      if (error instanceof MediaStreamError) {
        this.logger.warn({ callSid: this.callSid, reason: error.message }, 'closing a malformed media stream');
        this.close(1008, error.message);
        return;
      }
      this.logger.error({ err: error, callSid: this.callSid }, 'twilio stream failed');
      this.close(1011, 'internal error');
    }
  }

  private begin(start: StreamStart): void {
    if (start.mediaFormat.encoding !== 'audio/x-mulaw' || start.mediaFormat.sampleRate !== TELEPHONE_RATE || start.mediaFormat.channels !== 1) {
      throw new MediaStreamError(`unsupported media format ${start.mediaFormat.encoding} ${start.mediaFormat.sampleRate} Hz × ${start.mediaFormat.channels}`);
    }
    this.state = 'starting';
    clearTimeout(this.startTimer);
    this.resetIdleTimer(this.limits.idleTimeoutMs);
    this.callStart = start;
    this.sink = new TwilioAudioSink(start.streamSid, (text) => this.sendText(text), (signal) => this.drained(signal));
    this.control
      .open(start, this)
      .then(async (opened) => {
        this.opened = opened;
        if (this.state !== 'starting') {
          await opened.close();
          return;
        }
        const opening = await this.control.opening(start, this.abort.signal);
        if (this.state !== 'starting') return;
        if (opening.kind === 'hangup') {
          await this.finishThenClose(opening.reason);
          return;
        }
        if (opening.kind === 'message') {
          this.state = 'message';
          this.early = [];
          await opened.session.leaveMessage(opening.text, 'voicemail');
          return;
        }
        await opened.session.start();
        if (this.state !== 'starting') return;
        this.state = 'active';
        if (!opening.waited) for (const samples of this.early) opened.session.pushAudio(samples);
        this.early = [];
        this.logger.info({ callSid: start.callSid, sessionId: opened.session.id, conversationId: opened.session.conversation }, 'phone call started');
      })
      .catch((error: unknown) => {
        if (!this.opened) this.refused = true;
        this.logger.warn({ callSid: start.callSid, reason: (error as Error).message }, 'phone call refused');
        this.close(1008, 'refused');
      });
  }

  private finishing: Promise<void> | undefined;

  /** Asks Twilio to hang up or transfer (bounded by the REST timeout), then closes the stream. */
  private finishThenClose(reason: string): Promise<void> {
    this.finishing ??= (async () => {
      try {
        if (this.callStart) await this.control.finish(this.callStart, this.outcome, reason);
      } catch (error) {
        this.logger.warn({ callSid: this.callSid, reason: (error as Error).message }, 'ending the call through Twilio failed; closing the stream');
      }
      this.close(1000, reason);
    })();
    return this.finishing;
  }

  /** Keys are one input ("1234#" is one turn, not five): sent on `#` or after a pause. */
  private pressed(digit: string): void {
    if (digit !== '#') this.digits += digit;
    clearTimeout(this.digitTimer);
    if (digit === '#' || this.digits.length >= 32) this.submitDigits();
    else this.digitTimer = setTimeout(() => this.submitDigits(), this.limits.dtmfPauseMs);
  }

  private submitDigits(): void {
    clearTimeout(this.digitTimer);
    const digits = this.digits;
    this.digits = '';
    if (!digits) return;
    if (this.state !== 'active' || !this.opened) {
      this.logger.info({ callSid: this.callSid }, 'keys pressed before the call was ready were dropped');
      return;
    }
    if (!this.opened.session.submitText(digits)) this.logger.warn({ callSid: this.callSid }, 'keys pressed while too many inputs wait; dropped');
  }

  private sendText(text: string): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(text);
  }

  /** Waits while Twilio has too much unread; a stream that stops reading is dropped. */
  private async drained(signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.socket.readyState === WebSocket.OPEN && this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      if (signal.aborted) return;
      if (Date.now() > deadline) {
        this.close(1008, 'twilio is not reading audio');
        return;
      }
      await sleep(20, signal);
    }
  }

  private resetIdleTimer(ms: number): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close(1008, this.state === 'awaiting_start' ? 'no start message' : 'idle timeout'), ms);
    this.idleTimer.unref();
  }

  private async cleanup(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.endedBy ??= 'caller';
    this.abort.abort();
    clearTimeout(this.idleTimer);
    clearTimeout(this.startTimer);
    clearTimeout(this.digitTimer);
    for (const samples of this.early) samples.fill(0);
    this.early = [];
    this.digits = '';
    try {
      if (this.opened) {
        await this.opened.close();
        this.logger.info({ callSid: this.callSid, sessionId: this.opened.session.id, endedBy: this.endedBy, outcome: this.outcome?.status ?? 'hung up' }, 'phone call ended');
      }
    } catch (error) {
      this.logger.error({ err: error, callSid: this.callSid }, 'ending the phone session failed');
    }
    try {
      const conversationId = this.opened?.session.conversation || undefined;
      await this.control.closed(this, { start: this.callStart, conversationId, endedBy: this.endedBy, outcome: this.outcome, refused: this.refused || (!this.opened && this.callStart !== undefined) });
    } catch (error) {
      this.logger.error({ err: error, callSid: this.callSid }, 'closing the call record failed');
    } finally {
      this.markFinished();
    }
  }
}
