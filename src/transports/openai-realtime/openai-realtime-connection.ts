import type { Logger } from 'pino';
import WebSocket from 'ws';
import { decodeSamples, type AudioFormat } from '../../audio/audio-format.js';
import { StreamResampler } from '../../audio/resample.js';
import { HarkenError } from '../../errors.js';
import type { ConnectionMonitor } from '../../ops/connection-monitor.js';
import type { AudioSink } from '../../session/audio-sink.js';
import type { SessionEvent, SessionTransport } from '../../session/events.js';
import type { SessionOverrides, VoiceSession } from '../../session/voice-session.js';
import { isStorageFull } from '../../store/database.js';
import { CloseCode } from '../realtime/protocol.js';
import { drainOpened, type ConnectionGuard, type OpenedSession } from '../session-factory.js';
import { SocketUpkeep } from '../socket-upkeep.js';
import { eventIdOf, parseClientEvent, parseJsonEvent, type ClientEvent, type InputItem, type ResponseRequest } from './client-events.js';
import { OpenAiProtocolError } from './protocol-error.js';
import { OpenAiEventWriter } from './server-events.js';
import { applySessionUpdate, audioFormatOf, sessionView, toolsOf, toolChoiceOf, type Dialect, type RealtimeSessionConfig, type ServerVad } from './session-config.js';

export interface OpenAiRealtimeOptions {
  readonly dialect: Dialect;
  readonly initial: RealtimeSessionConfig;
  /** server_vad values a client's partial turn_detection falls back to (Harken's configured detector). */
  readonly vadDefaults: ServerVad;
  /**
   * How long after speech begins the detector reports it (vad.minSpeechMs): kept on top of the
   * client's prefix_padding_ms, which OpenAI counts from the start of speech itself.
   */
  readonly vadDetectionLagMs: number;
  /** An OpenAI voice name or an engine voice → the engine voice; undefined: no such voice. */
  readonly resolveVoice: (name: string) => string | undefined;
  readonly idleTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly maxBufferedBytes: number;
  readonly slowClientTimeoutMs?: number;
}

/** The session's own input rate: the voice detector's, so audio is resampled once. */
export const SESSION_INPUT_RATE = 16_000;
/** Client events that arrive while the conversation is being opened are kept (bounded) and handled once it is. */
const MAX_EARLY_EVENTS = 256;

/**
 * One client speaking OpenAI's Realtime protocol (beta or GA): client events become calls on the
 * VoiceSession, session events become OpenAI server events (OpenAiEventWriter), reply audio is
 * sent as base64 deltas in the client's output format. Keep-alive, idle timeout, backpressure,
 * credential re-checks and rate limits as for the native protocol.
 */
export class OpenAiRealtimeConnection implements SessionTransport {
  readonly audio: AudioSink;
  private readonly writer: OpenAiEventWriter;
  private config: RealtimeSessionConfig;
  private opened: OpenedSession | undefined;
  private state: 'starting' | 'active' | 'closed' = 'starting';
  private early: string[] = [];
  private inputResampler: StreamResampler;
  /** Modalities asked for by the response.create being served (else the session's). */
  private responseAudio: boolean | undefined;
  private responding = false;
  private replyId: string | undefined;
  private readonly upkeep: SocketUpkeep;
  /** Events that must wait for a rate-limit decision keep their order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: WebSocket,
    openSession: (transport: SessionTransport) => OpenedSession,
    private readonly options: OpenAiRealtimeOptions,
    private readonly logger: Logger,
    private readonly onClosed: (connection: OpenAiRealtimeConnection) => void,
    private readonly guard?: ConnectionGuard,
    private readonly monitor?: ConnectionMonitor,
  ) {
    this.config = options.initial;
    this.inputResampler = new StreamResampler(audioFormatOf(this.config.inputFormat).sampleRate, SESSION_INPUT_RATE);
    this.writer = new OpenAiEventWriter(
      options.dialect,
      (event) => this.sendJson(event),
      () => this.config.transcription !== null,
      () => this.responseAudio ?? this.config.modalities.includes('audio'),
    );
    const connection = this;
    this.audio = {
      get format(): AudioFormat {
        return audioFormatOf(connection.config.outputFormat);
      },
      begin: (replyId) => {
        this.replyId = replyId;
      },
      // The client flushes its own playback (on speech_started, or its truncate); nothing queued here.
      clear: () => undefined,
      write: (chunk, _ms, signal) => this.sendAudio(chunk, signal),
    };
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    socket.on('close', (code) => void this.cleanup(code));
    this.upkeep = new SocketUpkeep(socket, options, logger, (decision) => this.writer.error(decision.code, decision.message), guard);
    this.resetIdleTimer();
    this.start(openSession);
  }

  get sessionId(): string | undefined {
    return this.opened?.session.id;
  }

  private get session(): VoiceSession | undefined {
    return this.opened?.session;
  }

  private start(openSession: (transport: SessionTransport) => OpenedSession): void {
    try {
      this.opened = openSession(this);
    } catch (error) {
      // A refused session was already answered and closed.
      if (this.socket.readyState === WebSocket.OPEN) this.fail(error, null);
      return;
    }
    const session = this.opened.session;
    session.update(this.sessionOverrides());
    this.applyTurnDetection(session);
    session
      .start()
      .then(() => {
        if (this.state !== 'starting') return;
        this.state = 'active';
        this.logger.info({ sessionId: session.id, conversationId: session.conversation, dialect: this.writer.dialect, model: this.config.model }, 'OpenAI realtime session started');
        const early = this.early;
        this.early = [];
        for (const text of early) this.handle(text);
      })
      .catch((error: unknown) => this.fail(error, null));
  }

  send(event: SessionEvent): void {
    if (event.type === 'session_ready') {
      this.writer.send('session.created', { session: sessionView(this.config, this.writer.dialect, event.sessionId) });
      if (this.writer.dialect === 'beta') this.writer.send('conversation.created', { conversation: { id: event.conversationId, object: 'realtime.conversation' } });
      return;
    }
    if (event.type === 'reply_started') this.responding = true;
    this.writer.onSessionEvent(event);
    if (event.type === 'reply_done') {
      this.responding = false;
      this.responseAudio = undefined;
    }
  }

  end(reason: string): void {
    this.close(CloseCode.normal, reason);
  }

  /** Closes 4401 when the credential behind the connection has died; true while it lives. */
  credentialsStillValid(): Promise<boolean> {
    return this.upkeep.credentialsStillValid();
  }

  /** Shutdown: the reply under way finishes (at most `timeoutMs`), what the caller said is stored, then 1001. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.state === 'closed') return;
    await drainOpened(this.opened, this.state === 'active', timeoutMs);
    this.close(CloseCode.goingAway, 'server shutting down');
  }

  close(code: number, reason: string): void {
    this.upkeep.close(code, reason);
  }

  private sendJson(event: Record<string, unknown>): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(event));
  }

  /** Waits while the client has too much unread; a client that stops reading is disconnected. */
  private async sendAudio(chunk: Buffer, signal: AbortSignal): Promise<void> {
    if ((await this.upkeep.readyForAudio(signal)) && this.replyId) this.writer.audioDelta(this.replyId, chunk);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.resetIdleTimer();
    this.monitor?.message();
    if (isBinary) {
      this.reject(new OpenAiProtocolError('invalid_event', 'events are JSON text frames; audio goes base64 in input_audio_buffer.append'), null);
      return;
    }
    const text = data.toString('utf8');
    if (this.state === 'starting') {
      if (this.early.length < MAX_EARLY_EVENTS) this.early.push(text);
      return;
    }
    this.handle(text);
  }

  private handle(text: string): void {
    if (this.state !== 'active') return;
    let eventId: string | null = null;
    try {
      const message = parseJsonEvent(text);
      eventId = eventIdOf(message);
      this.apply(parseClientEvent(message));
    } catch (error) {
      this.reject(error, eventId);
    }
  }

  private apply(event: ClientEvent): void {
    const session = this.session as VoiceSession;
    switch (event.type) {
      case 'session.update':
        this.updateSession(event.session);
        return;
      case 'input_audio_buffer.append':
        session.pushAudio(this.toSessionRate(event.audio));
        return;
      case 'input_audio_buffer.commit': {
        if (this.config.turnDetection !== null) throw new OpenAiProtocolError('invalid_value', 'with server_vad the server commits turns itself; set turn_detection to null to commit by hand', 'type');
        const itemId = session.commitInput();
        if (itemId) this.writer.committed(itemId);
        return;
      }
      case 'input_audio_buffer.clear':
        session.clearInput();
        return;
      case 'conversation.item.create':
        this.inOrder(() => this.addItem(event.item, event.eventId));
        return;
      case 'conversation.item.truncate':
        session.truncate(event.itemId, event.audioEndMs);
        return;
      case 'conversation.item.delete':
        if (!session.deleteInput(event.itemId)) {
          throw new OpenAiProtocolError('item_not_deletable', `item ${event.itemId} is not an input waiting for a response; stored turns stay in the conversation`, 'item_id');
        }
        this.writer.send('conversation.item.deleted', { item_id: event.itemId });
        return;
      case 'response.create':
        this.inOrder(() => this.createResponse(event.response, event.eventId));
        return;
      case 'response.cancel':
      case 'output_audio_buffer.clear':
        if (!this.responding) throw new OpenAiProtocolError('response_cancel_not_active', 'there is no response in progress to cancel');
        session.cancelResponse();
        return;
    }
  }

  private updateSession(change: unknown): void {
    const next = applySessionUpdate(this.config, change, this.options.vadDefaults);
    if (next.voice !== this.config.voice && this.options.resolveVoice(next.voice) === undefined) {
      throw new OpenAiProtocolError('invalid_value', `voice ${JSON.stringify(next.voice)} is not available; use an OpenAI voice name or one of the engine's voices`, 'session.voice');
    }
    if (next.inputFormat !== this.config.inputFormat) this.inputResampler = new StreamResampler(audioFormatOf(next.inputFormat).sampleRate, SESSION_INPUT_RATE);
    // A client that writes GA fields speaks GA (and the reverse), whatever it connected as.
    if (isGaUpdate(change)) this.writer.dialect = 'ga';
    else if (isBetaUpdate(change)) this.writer.dialect = 'beta';
    this.config = next;
    const session = this.session as VoiceSession;
    session.update(this.sessionOverrides());
    this.applyTurnDetection(session);
    this.writer.send('session.updated', { session: sessionView(next, this.writer.dialect, session.id) });
  }

  private applyTurnDetection(session: VoiceSession): void {
    const vad = this.config.turnDetection;
    session.configureTurns(
      vad
        ? { detection: 'server', createResponse: vad.createResponse, interruptResponse: vad.interruptResponse, vad: { threshold: vad.threshold, minSilenceMs: vad.silenceDurationMs }, prerollMs: vad.prefixPaddingMs + this.options.vadDetectionLagMs }
        : { detection: 'manual' },
    );
  }

  private sessionOverrides(): SessionOverrides {
    const voice = this.options.resolveVoice(this.config.voice);
    return {
      ...(this.config.instructions ? { instructions: this.config.instructions } : { instructions: undefined }),
      ...(voice ? { voice } : {}),
      audio: this.config.modalities.includes('audio'),
      functions: this.config.toolChoice === 'none' ? [] : this.config.tools,
      toolChoice: this.config.toolChoice,
    };
  }

  private async addItem(item: InputItem, eventId: string | null): Promise<void> {
    if (!(await this.admitted(eventId))) return;
    const session = this.session as VoiceSession;
    let itemId: string | undefined;
    if (item.kind === 'user_text') itemId = session.addTextInput(item.text);
    else if (item.kind === 'user_audio') itemId = session.addAudioInput(this.toSessionRate(item.audio, true));
    else itemId = session.addFunctionOutput(item.callId, item.output);
    if (!itemId) {
      this.writer.error('busy', 'too many items are waiting for a response; ask for one first', { eventId });
      return;
    }
    if (item.kind === 'function_call_output') this.writer.item({ id: itemId, object: 'realtime.item', type: 'function_call_output', status: 'completed', call_id: item.callId, output: item.output });
    else this.writer.userItem(itemId, item.kind === 'user_text' ? { type: 'input_text', text: item.text } : { type: 'input_audio', transcript: null });
  }

  private async createResponse(request: ResponseRequest, eventId: string | null): Promise<void> {
    if (!(await this.admitted(eventId))) return;
    const tools = request.tools === undefined ? undefined : toolsOf(request.tools, 'response.tools');
    const toolChoice = request.toolChoice === undefined ? undefined : toolChoiceOf(request.toolChoice, 'response.tool_choice');
    this.responseAudio = request.modalities ? request.modalities.includes('audio') : undefined;
    (this.session as VoiceSession).createResponse({
      ...(request.instructions ? { instructions: request.instructions } : {}),
      ...(request.modalities ? { audio: request.modalities.includes('audio') } : {}),
      ...(tools ? { functions: tools } : {}),
      ...(toolChoice ? { toolChoice } : {}),
    });
  }

  /** Items and responses draw from the caller's request rate limit; the standing goes out as rate_limits.updated. */
  private async admitted(eventId: string | null): Promise<boolean> {
    if (!this.guard) return true;
    const decision = await this.guard.admitText();
    if (this.state !== 'active') return false;
    if (!decision.ok) {
      this.writer.error(decision.code, decision.message, { eventId, type: 'rate_limit_exceeded' });
      return false;
    }
    if (decision.rate) {
      this.writer.send('rate_limits.updated', { rate_limits: [{ name: 'requests', limit: decision.rate.limit, remaining: decision.rate.remaining, reset_seconds: decision.rate.resetSeconds }] });
    }
    return true;
  }

  private inOrder(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((error: unknown) => this.reject(error, null));
  }

  /** Client audio (its input format) → s16 at the session's rate. */
  private toSessionRate(audio: Buffer, whole = false): Int16Array {
    const format = audioFormatOf(this.config.inputFormat);
    const samples = decodeSamples(audio, format.encoding);
    if (whole) return new StreamResampler(format.sampleRate, SESSION_INPUT_RATE).push(samples, true);
    return this.inputResampler.push(samples);
  }

  /** A bad event is answered with an error naming it; the connection stays open unless the client keeps erring. */
  private reject(error: unknown, eventId: string | null): void {
    if (!(error instanceof OpenAiProtocolError)) {
      this.fail(error, eventId);
      return;
    }
    this.writer.error(error.code, error.message, { param: error.param, eventId });
    if (this.monitor?.error()) {
      this.logger.warn({ sessionId: this.sessionId, lastError: error.code }, 'realtime connection closed after too many protocol errors');
      this.writer.error('too_many_errors', 'too many malformed or unexpected events; closing', { eventId });
      this.close(CloseCode.policyViolation, 'too many errors');
    } else if (error.fatal) this.close(CloseCode.policyViolation, error.message);
  }

  private fail(error: unknown, eventId: string | null): void {
    if (error instanceof HarkenError) {
      this.writer.error(error.code, error.message, { eventId });
      if (this.state === 'starting' || error.statusCode >= 500) this.close(error.statusCode >= 500 ? CloseCode.internalError : CloseCode.policyViolation, error.message);
      return;
    }
    if (isStorageFull(error)) {
      this.logger.error({ storageError: (error as Error).message, sessionId: this.sessionId }, 'realtime session refused: the data volume is full');
      this.writer.error('storage_full', 'the server’s storage is full, so the conversation cannot be saved; try again later', { type: 'server_error' });
      this.close(CloseCode.tryAgainLater, 'storage full');
      return;
    }
    this.logger.error({ err: error, sessionId: this.sessionId }, 'OpenAI realtime session failed');
    this.writer.error('internal_error', 'internal error', { type: 'server_error', eventId });
    this.close(CloseCode.internalError, 'internal error');
  }

  private resetIdleTimer(): void {
    this.upkeep.idle(this.options.idleTimeoutMs, () => {
      this.writer.error('idle_timeout', 'no data received for too long');
      this.close(CloseCode.idleTimeout, 'idle timeout');
    });
  }

  private async cleanup(code: number): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.upkeep.stop();
    this.early = [];
    const session = this.session;
    if (session && this.opened) {
      await this.opened.close();
      this.logger.info({ sessionId: session.id, conversationId: session.conversation, closeCode: code }, 'OpenAI realtime session ended');
    }
    this.onClosed(this);
  }
}

const isGaUpdate = (change: unknown): boolean =>
  typeof change === 'object' && change !== null && ('audio' in change || 'output_modalities' in change || (change as { type?: unknown }).type === 'realtime');

const isBetaUpdate = (change: unknown): boolean =>
  typeof change === 'object' && change !== null && ('input_audio_format' in change || 'output_audio_format' in change || 'modalities' in change || 'input_audio_transcription' in change);
