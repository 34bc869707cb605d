import type { Logger } from 'pino';
import WebSocket from 'ws';
import { int16FromBytes } from '../../audio/pcm.js';
import { HarkenError } from '../../errors.js';
import { isStorageFull } from '../../store/database.js';
import type { AudioFormat } from '../../audio/audio-format.js';
import type { AudioSink } from '../../session/audio-sink.js';
import type { SessionEvent, SessionTransport } from '../../session/events.js';
import type { VoiceSession } from '../../session/voice-session.js';
import { drainOpened, type ConnectionGuard, type OpenedSession } from '../session-factory.js';
import { SocketUpkeep } from '../socket-upkeep.js';
import { CloseCode, parseClientMessage, parseStart, ProtocolError, type StartMessage } from './protocol.js';
import { toV1, type ServerEvent } from './v1-events.js';
import type { ConnectionMonitor } from '../../ops/connection-monitor.js';

export interface RealtimeLimits {
  readonly idleTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly maxBufferedBytes: number;
  /** How long to wait for a slow client to read before giving up on it. */
  readonly slowClientTimeoutMs?: number;
  /** How long a new connection may take to send `start`. */
  readonly startTimeoutMs?: number;
  /** v1 sends the synthesiser's own rate (announced in `ready`). */
  readonly outputSampleRate: number;
}

export type OpenSession = (start: StartMessage, transport: SessionTransport) => OpenedSession;

/** Audio sent before the session is ready is kept (bounded) and replayed once it is. */
const MAX_EARLY_AUDIO_BYTES = 512 * 1024;

const closeCodeFor = (error: HarkenError): number => {
  if (error.statusCode === 404) return CloseCode.conversationNotFound;
  if (error.statusCode === 409) return CloseCode.conversationEnded;
  if (error.statusCode < 500) return CloseCode.policyViolation;
  return CloseCode.internalError;
};

/**
 * One browser/client WebSocket speaking realtime protocol v1: validates the start
 * message, feeds audio to its VoiceSession, maps the session's events to v1 messages,
 * sends paced audio back, and enforces keep-alive, idle timeout and backpressure.
 * Everything is released on close.
 */
export class RealtimeConnection implements SessionTransport {
  readonly audio: AudioSink;
  private opened: OpenedSession | undefined;
  private session: VoiceSession | undefined;
  private state: 'awaiting_start' | 'starting' | 'active' | 'closed' = 'awaiting_start';
  private earlyAudio: Buffer[] = [];
  private earlyAudioBytes = 0;
  private readonly upkeep: SocketUpkeep;
  /** Typed turns pass the rate limit in the order they arrived. */
  private textChain: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: WebSocket,
    private readonly openSession: OpenSession,
    private readonly limits: RealtimeLimits,
    private readonly logger: Logger,
    private readonly onClosed: (connection: RealtimeConnection) => void,
    private readonly guard?: ConnectionGuard,
    private readonly monitor?: ConnectionMonitor,
  ) {
    const format: AudioFormat = { sampleRate: limits.outputSampleRate, encoding: 'pcm_s16le' };
    // v1 clients flush their own playback on `interrupted`; nothing reports positions, so the session uses the wall clock.
    this.audio = { format, begin: () => undefined, clear: () => undefined, write: (chunk, _ms, signal) => this.sendAudio(chunk, signal) };
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    socket.on('close', (code) => void this.cleanup(code));
    this.upkeep = new SocketUpkeep(socket, limits, logger, (decision) => this.sendMessage({ type: 'error', code: decision.code, message: decision.message }), guard);
    this.resetIdleTimer(Math.min(this.limits.startTimeoutMs ?? 10_000, this.limits.idleTimeoutMs));
  }

  /** Closes with 4401 when the credential behind the connection has died; true while it lives. */
  credentialsStillValid(): Promise<boolean> {
    return this.upkeep.credentialsStillValid();
  }

  get sessionId(): string | undefined {
    return this.session?.id;
  }

  send(event: SessionEvent): void {
    const message = toV1(event);
    if (message) this.sendMessage(message);
  }

  private sendMessage(message: ServerEvent): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  /** Waits while the client has too much unread; a client that stops reading is disconnected. */
  private async sendAudio(chunk: Buffer, signal: AbortSignal): Promise<void> {
    if (await this.upkeep.readyForAudio(signal)) this.socket.send(chunk);
  }

  end(reason: string): void {
    this.close(CloseCode.normal, reason);
  }

  /**
   * Shutdown: the session finishes the reply under way (at most `timeoutMs`) and stores what the
   * caller said, then the socket closes 1001. Resolves once everything is stored.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.state === 'closed') return;
    await drainOpened(this.opened, this.state === 'active', timeoutMs);
    this.close(CloseCode.goingAway, 'server shutting down');
  }

  /** Closes with a code and a short reason (the protocol limits reasons to 123 bytes). */
  close(code: number, reason: string): void {
    this.upkeep.close(code, reason);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.resetIdleTimer(this.limits.idleTimeoutMs);
    this.monitor?.message();
    try {
      if (this.state === 'awaiting_start') {
        if (isBinary) throw new ProtocolError('expected_start', 'send {"type":"start",…} before any audio');
        this.begin(parseStart(data.toString('utf8')));
        return;
      }
      if (!isBinary && this.state === 'starting') {
        // The session is still being set up; a typed turn now would have no conversation yet.
        this.sendMessage({ type: 'error', code: 'not_ready', message: 'wait for the ready event before sending messages' });
        return;
      }
      if (isBinary) {
        if (data.byteLength % 2 !== 0) throw new ProtocolError('odd_audio_frame', 'binary frames must hold whole 16-bit samples', CloseCode.unsupportedData);
        if (this.state === 'active') this.session?.pushAudio(int16FromBytes(data));
        else this.keepEarlyAudio(data);
        return;
      }
      const message = parseClientMessage(data.toString('utf8'));
      if (message.type === 'stop') this.close(CloseCode.normal, 'stopped by client');
      else if (message.type === 'interrupt') this.session?.interrupt();
      else this.queueText(message.text);
    } catch (error) {
      this.fail(error);
    }
  }

  private begin(start: StartMessage): void {
    this.state = 'starting';
    const opened = this.openSession(start, this);
    const session = opened.session;
    this.opened = opened;
    this.session = session;
    session
      .start()
      .then(() => {
        if (this.state !== 'starting') return;
        this.state = 'active';
        for (const chunk of this.earlyAudio) session.pushAudio(int16FromBytes(chunk));
        this.earlyAudio = [];
        this.logger.info({ sessionId: session.id, conversationId: session.conversation, sampleRate: start.sampleRate }, 'realtime session started');
      })
      .catch((error: unknown) => this.fail(error));
  }

  private queueText(text: string): void {
    this.textChain = this.textChain.then(async () => {
      const admitted = this.guard ? await this.guard.admitText() : ({ ok: true } as const);
      if (this.state !== 'active') return;
      if (!admitted.ok) {
        this.sendMessage({ type: 'error', code: admitted.code, message: admitted.message });
        return;
      }
      if (this.session && !this.session.submitText(text)) {
        this.sendMessage({ type: 'error', code: 'busy', message: 'too many typed turns are waiting; wait for the reply before sending more' });
      }
    }).catch((error: unknown) => this.fail(error));
  }

  private keepEarlyAudio(data: Buffer): void {
    if (this.earlyAudioBytes + data.byteLength > MAX_EARLY_AUDIO_BYTES) return;
    this.earlyAudio.push(Buffer.from(data));
    this.earlyAudioBytes += data.byteLength;
  }

  /** Protocol and request errors are the client's: say why, then close with a matching code. */
  private fail(error: unknown): void {
    if (error instanceof ProtocolError) {
      this.sendMessage({ type: 'error', code: error.code, message: error.message });
      if (this.state === 'active' && this.monitor?.error()) {
        this.logger.warn({ sessionId: this.session?.id, lastError: error.code }, 'realtime connection closed after too many protocol errors');
        this.sendMessage({ type: 'error', code: 'too_many_errors', message: 'too many malformed or unexpected messages; closing' });
        this.close(CloseCode.policyViolation, 'too many errors');
        return;
      }
      // Before start every problem is fatal; afterwards only malformed audio is.
      if (this.state !== 'active' || error.closeCode === CloseCode.unsupportedData) this.close(error.closeCode, error.message);
      return;
    }
    if (error instanceof HarkenError) {
      this.sendMessage({ type: 'error', code: error.code, message: error.message });
      this.close(closeCodeFor(error), error.message);
      return;
    }
    if (isStorageFull(error)) {
      this.logger.error({ storageError: (error as Error).message, sessionId: this.session?.id }, 'realtime session refused: the data volume is full');
      this.sendMessage({ type: 'error', code: 'storage_full', message: 'the server’s storage is full, so the conversation cannot be saved; try again later' });
      this.close(CloseCode.tryAgainLater, 'storage full');
      return;
    }
        this.logger.error({ err: error, sessionId: this.session?.id }, 'realtime session failed');
    this.sendMessage({ type: 'error', code: 'internal_error', message: 'internal error' });
    this.close(CloseCode.internalError, 'internal error');
  }

  private resetIdleTimer(ms: number): void {
    this.upkeep.idle(ms, () => {
      const waitingForStart = this.state === 'awaiting_start';
      this.sendMessage({ type: 'error', code: waitingForStart ? 'start_timeout' : 'idle_timeout', message: waitingForStart ? 'no start message received' : 'no data received for too long' });
      this.close(waitingForStart ? CloseCode.policyViolation : CloseCode.idleTimeout, waitingForStart ? 'no start message' : 'idle timeout');
    });
  }

  private async cleanup(code: number): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.upkeep.stop();
    for (const chunk of this.earlyAudio) chunk.fill(0);
    this.earlyAudio = [];
    const session = this.session;
    if (session && this.opened) {
      await this.opened.close();
      this.logger.info({ sessionId: session.id, conversationId: session.conversation, closeCode: code }, 'realtime session ended');
    }
    this.onClosed(this);
  }
}
