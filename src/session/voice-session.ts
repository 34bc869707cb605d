import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AgentOverrides, AnswerExpectation, FunctionOutput } from '../agents/agent.js';
import { concatPcm } from '../audio/pcm.js';
import { StreamResampler } from '../audio/resample.js';
import type { ConversationService, TurnOutcome } from '../conversations/service.js';
import type { VoiceEngines } from '../engines/voice-engines.js';
import type { SttStream } from '../engines/stt/speech-to-text.js';
import type { VadStream, VadStreamOptions } from '../engines/vad/voice-activity.js';
import { HarkenError } from '../errors.js';
import type { TenantScope } from '../security/tenants.js';
import type { Conversation } from '../store/conversations.js';
import { isStorageFull } from '../store/database.js';
import { SentenceChunker } from '../text/sentence-chunker.js';
import { AsyncQueue } from '../util/async-queue.js';
import type { ConversationOutcome, ReplyStatus, SessionEvent, SessionTransport, TurnTimings } from './events.js';
import { Speaker, type PlaybackResult } from './speaker.js';
import { silenceToEndTurn, type TurnEndingDecision, type TurnEndingSettings } from './turn-ending.js';
import type { Backchannels } from './backchannels.js';

/** `server`: the session ends the caller's turn at a pause and answers. `manual`: the client commits input and asks for responses. */
export type TurnDetection = 'server' | 'manual';

/** How turns are taken, changeable while the session runs (an OpenAI client's `turn_detection`). */
export interface TurnSettings {
  readonly detection: TurnDetection;
  /** Server turns: answer each turn at once (else it waits, committed, for createResponse). */
  readonly createResponse: boolean;
  /** Server turns: the caller's speech stops the reply being played (barge-in). */
  readonly interruptResponse: boolean;
  /** The voice detector's own tuning for this session. */
  readonly vad: VadStreamOptions;
  /** Audio kept from before speech is detected (undefined: the session setting). */
  readonly prerollMs?: number;
}

export interface VoiceSessionSettings {
  readonly endOfTurnSilenceMs: number;
  readonly bargeInMinSpeechMs: number;
  readonly audioLeadMs: number;
  /** Undefined: the engine's default voice. */
  readonly voice?: string;
  /** Audio kept from before the detector fires, so the first syllable reaches the recogniser. */
  readonly prerollMs?: number;
  /** Manual turns: the longest input buffer before a commit (more audio is dropped, with one error). */
  readonly maxInputMs?: number;
  /** Without caller audio for this long, the session releases its voice detector state. */
  readonly vadIdleReleaseMs?: number;
  /** Said (not stored) when a turn cannot be understood or answered; empty: only an error event. */
  readonly apologyText?: string;
  /**
   * Expectation-aware end of turn: the pause that ends a turn follows what the caller has said
   * (short once a whole answer is heard, long mid-sentence). Absent: always endOfTurnSilenceMs.
   */
  readonly turnEnding?: TurnEndingSettings;
  /** When the caller goes silent: a re-prompt, then a polite end. Absent: the session waits. */
  readonly silence?: SilenceSettings;
  /**
   * Caller sound over the agent first pauses it; words interrupt for good, a cough or a
   * backchannel lets it go on from where it paused. Absent: bargeInMinSpeechMs of sound interrupts.
   */
  readonly falseInterruption?: FalseInterruptionSettings;
}

export interface FalseInterruptionSettings {
  /** Caller sound that pauses the agent. */
  readonly pauseAfterMs: number;
  /** With no words recognised in this long after the pause, the agent goes on. */
  readonly windowMs: number;
  /** Words (not backchannels) that interrupt for good, counted in the current utterance. */
  readonly minWords: number;
  readonly backchannels: Backchannels;
}

/** What the session does when the caller says nothing after the agent has spoken. */
export interface SilenceSettings {
  /** Caller silence (audio time) after the agent finished before it asks `repromptText`. */
  readonly repromptAfterMs: number;
  readonly repromptText: string;
  /** Further silence after the re-prompt before it says `goodbyeText` and ends the conversation (status `no_response`). */
  readonly endAfterMs: number;
  readonly goodbyeText: string;
}

/** The status a conversation ends with when the caller stopped answering. */
export const NO_RESPONSE_STATUS = 'no_response';

/** Per-session changes to the agent and the voice (the OpenAI-compatible `session.update`). */
export interface SessionOverrides extends AgentOverrides {
  readonly voice?: string;
  /** False: replies are text only, nothing is synthesised. */
  readonly audio?: boolean;
}

export interface VoiceSessionOptions {
  readonly inputSampleRate: number;
  readonly agent?: string;
  readonly conversationId?: string;
  /** Owner of a new conversation. */
  readonly tenant: string;
  /** Which existing conversations the caller may continue. */
  readonly scope: TenantScope;
  /** Typed turns allowed to wait; more are refused with `busy`. */
  readonly maxQueuedTurns?: number;
  /** Asked before each turn runs: false when the caller's credentials have died (the transport then closes). */
  readonly beforeTurn?: () => Promise<boolean>;
  readonly turnDetection?: TurnDetection;
  readonly overrides?: SessionOverrides;
  /**
   * The agent's greeting waits for the client's first createResponse instead of being spoken at
   * start (an OpenAI client configures its audio formats first and decides when the agent speaks).
   */
  readonly holdGreeting?: boolean;
  /**
   * Whether a goodbye or transfer the caller talked over still ends the session (a phone call
   * hangs up or transfers). Off for realtime v1, which has always kept the socket open then.
   */
  readonly endEvenIfGoodbyeInterrupted?: boolean;
}

export interface ResponseOptions extends Pick<AgentOverrides, 'functions' | 'toolChoice'> {
  readonly instructions?: string;
  readonly tools?: readonly string[];
  /** False: this reply is text only. */
  readonly audio?: boolean;
}

/** The reply currently being produced or played: what an interruption stops. */
interface ActiveReply {
  readonly id: string;
  /** Set while paused by caller sound: when, and the timer that resumes it. */
  pause?: { readonly at: number; readonly timer: NodeJS.Timeout };
  readonly controller: AbortController;
  readonly speaker: Speaker;
  /** Why it stopped early, when it did. */
  stoppedAs?: Exclude<ReplyStatus, 'completed' | 'failed'>;
  /** Where it was cut: the position heard at the moment it stopped, or the one a truncate gave. */
  cutAtMs?: number;
}

/** A finished reply, kept so a late truncate can still be mapped to text. */
interface PastReply {
  readonly speaker: Speaker;
  /** The stored assistant message (the reply id), when the reply was stored. */
  readonly stored: boolean;
}

/** Caller audio on its way to becoming a turn. */
interface Utterance {
  readonly itemId: string;
  /** Begun while the agent was speaking: a backchannel then is not a turn. */
  duringReply: boolean;
  /** The agent resumed over this utterance (no words in time): it does not pause again for it. */
  heardOut: boolean;
  readonly stream: SttStream;
  /** The streaming recogniser's latest hypothesis (what the end-of-turn rules read). */
  partial: string;
  /** The end-of-turn rules' verdict on `partial`, worked out once per hypothesis, not per audio frame. */
  ending?: TurnEndingDecision;
  /** Samples pushed so far (manual turns bound the input buffer by it). */
  samples: number;
}

/** A committed input (manual turns) waiting for a response. */
interface PendingInput {
  readonly itemId: string;
  readonly text: Promise<string>;
}

const ACTIVE = 'active';
const PAST_REPLIES_KEPT = 16;
const DEFAULT_MAX_INPUT_MS = 120_000;
const DEFAULT_VAD_IDLE_RELEASE_MS = 10_000;

/** What a transport needs to act on a conversation's end: a transfer target, the reason for hanging up. */
const outcomeOf = (conversation: Conversation): ConversationOutcome => {
  const { data } = conversation;
  const text = (key: string): string | undefined => (typeof data[key] === 'string' ? (data[key] as string) : undefined);
  const transferTarget = text('transferTarget');
  const transferTo = text('transferTo');
  const reason = text('endReason');
  return { status: conversation.status, ...(transferTarget ? { transferTarget } : {}), ...(transferTo ? { transferTo } : {}), ...(reason ? { reason } : {}) };
};

/**
 * One voice conversation: audio in → VAD → streaming STT → end of turn → agent → sentence
 * chunker → TTS → the transport's audio sink, with barge-in. Speaks in semantic events with
 * stable ids; the transport maps them to its wire format. Owns all of its state; nothing
 * here is shared between sessions.
 */
export class VoiceSession {
  readonly id = randomUUID();
  private conversationId = '';
  private readonly toVadRate: StreamResampler;
  private vad: VadStream | undefined;
  /** Where the current detector's clock starts in the session's input audio (detectors are swapped when idle). */
  private vadOffsetMs = 0;
  private inputMs = 0;
  private vadIdleTimer: NodeJS.Timeout | undefined;
  private readonly preroll: Int16Array[] = [];
  private prerollSamples = 0;
  private utterance: Utterance | undefined;
  private inputOverflowReported = false;
  private pending: PendingInput[] = [];
  /** The client's outputs of the functions the agent called, waiting for createResponse. */
  private functionOutputs: Array<FunctionOutput & { readonly itemId: string }> = [];
  private reply: ActiveReply | undefined;
  private readonly pastReplies = new Map<string, PastReply>();
  private turns: Promise<void> = Promise.resolve();
  private queuedTextTurns = 0;
  private expect: AnswerExpectation | undefined;
  private overrides: SessionOverrides;
  private turnSettings: TurnSettings;
  /** The detector in use was made with older settings: replace it at the next pause. */
  private vadOutdated = false;
  /** The stored greeting not yet spoken (holdGreeting). */
  private heldGreeting: { id: string; text: string } | undefined;
  private closed = false;
  private ended = false;
  /** The server is stopping: turns already queued are answered, later words are stored unanswered. */
  private draining = false;
  /** performance.now() of the last caller audio; undefined until the first (a typed-only client sends none). */
  private lastAudioInAt: number | undefined;
  /** Turns queued or running: caller silence counts only while there are none. */
  private busyTurns = 0;
  /** Caller silence (audio time) since the agent last finished speaking, and whether it was re-prompted. */
  private callerSilentMs = 0;
  private reprompted = false;

  constructor(
    private readonly conversations: ConversationService,
    private readonly engines: VoiceEngines,
    private readonly transport: SessionTransport,
    private readonly settings: VoiceSessionSettings,
    private readonly options: VoiceSessionOptions,
    private readonly logger: Logger,
  ) {
    this.toVadRate = new StreamResampler(options.inputSampleRate, engines.vad.sampleRate);
    this.turnSettings = { detection: options.turnDetection ?? 'server', createResponse: true, interruptResponse: true, vad: {} };
    this.overrides = options.overrides ?? {};
  }

  get conversation(): string {
    return this.conversationId;
  }

  /** Opens or creates the conversation, announces it, and speaks the agent's greeting if it is new. */
  async start(): Promise<void> {
    let greeting: TurnOutcome | undefined;
    if (this.options.conversationId) {
      const { conversation } = await this.conversations.get(this.options.conversationId, this.options.scope);
      if (conversation.status !== ACTIVE) {
        throw new HarkenError(409, 'conversation_ended', `conversation has ended (status ${conversation.status})`);
      }
      this.conversationId = conversation.id;
    } else {
      greeting = await this.conversations.start(this.options.agent, this.options.tenant);
      this.conversationId = greeting.conversation.id;
      this.expect = greeting.expect;
    }
    // Hung up while the conversation was being opened: nobody is left to greet.
    if (this.closed) return;
    this.emit({ type: 'session_ready', sessionId: this.id, conversationId: this.conversationId, output: this.transport.audio.format });
    const opening = greeting?.reply;
    if (opening && this.options.holdGreeting) {
      this.heldGreeting = { id: opening.id, text: opening.text };
    } else if (opening) {
      this.emit({ type: 'reply_started', replyId: opening.id });
      this.emit({ type: 'reply_text_done', replyId: opening.id, text: opening.text });
      this.queueTurn(() => this.speakStored(opening.id, opening.text));
    }
  }

  /**
   * Instead of start(): says one message and ends (a voicemail left after the beep). The
   * conversation holds that message, with `status`, and ends once it has been heard.
   */
  async leaveMessage(text: string, status: string): Promise<void> {
    const started = await this.conversations.startWithMessage(this.options.agent, this.options.tenant, text, status);
    this.conversationId = started.conversation.id;
    if (this.closed) return;
    this.emit({ type: 'session_ready', sessionId: this.id, conversationId: this.conversationId, output: this.transport.audio.format });
    const message = started.reply;
    if (!message) return;
    this.emit({ type: 'reply_started', replyId: message.id });
    this.emit({ type: 'reply_text_done', replyId: message.id, text: message.text });
    this.queueTurn(async () => {
      await this.speakStored(message.id, message.text);
      this.finishConversation(started.conversation);
    });
  }

  /**
   * Is audio moving? `inputIdleMs`: since the caller's last audio (undefined if they never sent
   * any); `replyStalledMs`: how long the reply in progress has not moved on (0 without one).
   */
  audioFlow(now = performance.now()): { inputIdleMs: number | undefined; replyStalledMs: number } {
    const reply = this.reply;
    return {
      inputIdleMs: this.lastAudioInAt === undefined ? undefined : now - this.lastAudioInAt,
      replyStalledMs: reply && !reply.controller.signal.aborted ? now - reply.speaker.lastProgressAt : 0,
    };
  }

  /** Changes the agent's instructions, tools or the voice for the turns that follow. */
  update(overrides: SessionOverrides): void {
    this.overrides = { ...this.overrides, ...overrides };
  }

  get turnTaking(): TurnSettings {
    return this.turnSettings;
  }

  /**
   * Changes how turns are taken. New detector settings apply from the next pause (a caller
   * mid-utterance keeps the detector that heard them start).
   */
  configureTurns(change: Partial<TurnSettings>): void {
    const before = this.turnSettings;
    this.turnSettings = { ...before, ...change };
    if (change.vad && JSON.stringify(change.vad) !== JSON.stringify(before.vad)) this.vadOutdated = true;
    if (this.vadOutdated && !this.utterance) this.releaseVad();
  }

  /** Caller audio: mono s16 at the session's input rate. */
  pushAudio(samples: Int16Array): void {
    if (this.closed) return;
    this.lastAudioInAt = performance.now();
    const audio = this.toVadRate.push(samples);
    if (audio.length === 0) return;
    const startsAtMs = this.inputMs;
    const chunkMs = (audio.length / this.engines.vad.sampleRate) * 1000;
    this.inputMs += chunkMs;
    if (this.turnSettings.detection === 'manual') {
      this.appendInput(audio);
      return;
    }
    const vad = this.activeVad(startsAtMs);
    this.utterance?.stream.push(audio);
    if (!this.utterance) this.remember(audio);
    for (const event of vad.push(audio)) {
      if (event.type === 'speech_start') this.onSpeechStart(this.vadOffsetMs + event.atMs);
      else this.onSpeechEnd(this.vadOffsetMs + event.atMs, this.naturalEnd());
    }
    this.watchSilence(chunkMs);
    const adaptive = this.adaptiveTurnEnding;
    if (adaptive && this.utterance && vad.silentMs > 0) {
      const decision = (this.utterance.ending ??= silenceToEndTurn(this.expect, this.utterance.partial, adaptive));
      const ended = vad.silentMs >= decision.silenceMs ? vad.endSpeech() : undefined;
      if (ended) this.onSpeechEnd(this.vadOffsetMs + ended.atMs, decision);
    }
    if (this.reply && this.turnSettings.interruptResponse && vad.speaking) {
      if (this.settings.falseInterruption) this.pauseOrInterrupt(vad.currentSpeechMs, this.settings.falseInterruption);
      else if (vad.currentSpeechMs >= this.settings.bargeInMinSpeechMs) this.interrupt();
    }
  }

  /** A typed turn, answered (and spoken) like a spoken one. False (nothing queued) when too many wait already. */
  submitText(text: string): boolean {
    if (this.closed) return true;
    if (this.queuedTextTurns >= (this.options.maxQueuedTurns ?? Number.POSITIVE_INFINITY)) return false;
    const itemId = randomUUID();
    if (this.draining) {
      this.queueTurn(() => this.storeLastWords(itemId, Promise.resolve(text), 'text'));
      return true;
    }
    this.queuedTextTurns += 1;
    this.interrupt();
    this.queueTurn(async () => {
      this.queuedTextTurns -= 1;
      await this.runTurn({ itemId, text, source: 'text' }, {});
    });
    return true;
  }

  /** Manual turns: the audio since the last commit becomes one input item; its id is returned at once. */
  commitInput(): string | undefined {
    const utterance = this.utterance;
    this.utterance = undefined;
    this.inputOverflowReported = false;
    if (!utterance || this.closed) {
      this.sendError('input_empty', 'there is no input audio to commit');
      return undefined;
    }
    const endedAt = performance.now();
    const text = this.waitingInput(utterance.itemId, utterance.stream.finish()).then((recognised) => {
      this.emit({ type: 'input_committed', itemId: utterance.itemId, text: recognised });
      this.logger.debug({ sessionId: this.id, sttLatencyMs: Math.round(performance.now() - endedAt) }, 'input committed');
      return recognised;
    });
    this.pending.push({ itemId: utterance.itemId, text });
    return utterance.itemId;
  }

  /** An input's transcript, announced once recognised; a failed recognition is an error event and no words. */
  private waitingInput(itemId: string, transcript: Promise<{ text: string }>): Promise<string> {
    return transcript.then(
      (result) => {
        const recognised = result.text.trim();
        this.emit({ type: 'input_transcript', itemId, text: recognised, final: true });
        return recognised;
      },
      (error: unknown) => {
        this.logger.error({ err: error, sessionId: this.id }, 'speech recognition failed');
        this.sendError('stt_failed', 'speech recognition failed; please repeat');
        return '';
      },
    );
  }

  /**
   * A typed input item that waits, like committed audio, for createResponse (an OpenAI client's
   * `conversation.item.create`). Its id is returned; undefined when too many wait already.
   */
  addTextInput(text: string): string | undefined {
    if (this.closed) return undefined;
    if (this.pending.length >= (this.options.maxQueuedTurns ?? Number.POSITIVE_INFINITY)) return undefined;
    const itemId = randomUUID();
    this.pending.push({ itemId, text: Promise.resolve(text) });
    return itemId;
  }

  /** An audio input item (16 kHz, the detector's rate): recognised now, answered at createResponse. */
  addAudioInput(samples: Int16Array): string | undefined {
    if (this.closed || this.pending.length >= (this.options.maxQueuedTurns ?? Number.POSITIVE_INFINITY)) return undefined;
    const utterance = this.openUtterance();
    utterance.stream.push(samples);
    this.pending.push({ itemId: utterance.itemId, text: this.waitingInput(utterance.itemId, utterance.stream.finish()) });
    return utterance.itemId;
  }

  /** The client's output of a function the agent called; the next createResponse goes on from it. */
  addFunctionOutput(callId: string, output: string): string | undefined {
    if (this.closed || this.functionOutputs.length >= 64) return undefined;
    const itemId = randomUUID();
    this.functionOutputs.push({ itemId, callId, output });
    return itemId;
  }

  /** Drops an input item still waiting for a response; false when there is none with that id. */
  deleteInput(itemId: string): boolean {
    const before = this.pending.length + this.functionOutputs.length;
    this.pending = this.pending.filter((input) => input.itemId !== itemId);
    this.functionOutputs = this.functionOutputs.filter((output) => output.itemId !== itemId);
    return this.pending.length + this.functionOutputs.length < before;
  }

  /** Manual turns: drops the audio not yet committed. */
  clearInput(): void {
    this.utterance?.stream.cancel();
    this.utterance = undefined;
    this.inputOverflowReported = false;
    this.emit({ type: 'input_cleared' });
  }

  /**
   * Answers the inputs committed since the last response (manual turns), with optional
   * instructions and tools for this response only.
   */
  createResponse(options: ResponseOptions = {}): void {
    if (this.closed) return;
    const inputs = this.pending;
    this.pending = [];
    const outputs = this.functionOutputs.map(({ callId, output }) => ({ callId, output }));
    this.functionOutputs = [];
    const greeting = this.heldGreeting;
    if (inputs.length === 0 && outputs.length > 0) {
      this.interrupt();
      this.queueTurn(() => this.runTurn({ itemId: randomUUID(), text: '', source: 'text', functionOutputs: outputs }, {}, options));
      return;
    }
    if (inputs.length === 0 && greeting) {
      this.heldGreeting = undefined;
      this.interrupt();
      this.emit({ type: 'reply_started', replyId: greeting.id });
      this.emit({ type: 'reply_text_done', replyId: greeting.id, text: greeting.text });
      this.queueTurn(() => this.speakStored(greeting.id, greeting.text, options.audio ?? this.overrides.audio));
      return;
    }
    if (inputs.length === 0) {
      this.sendError('no_input', 'commit input audio or send text before asking for a response');
      return;
    }
    if (this.draining) {
      for (const input of inputs) this.queueTurn(() => this.storeLastWords(input.itemId, input.text));
      return;
    }
    this.interrupt();
    this.queueTurn(async () => {
      const recognised: Array<{ itemId: string; text: string }> = [];
      for (const input of inputs) {
        const text = (await input.text).trim();
        if (text) recognised.push({ itemId: input.itemId, text });
      }
      const last = recognised.pop();
      if (!last && outputs.length === 0) {
        this.sendError('no_input', 'nothing was recognised in the committed input; no response was made');
        return;
      }
      // Earlier items are stored as they were announced; the agent answers after the last one.
      for (const earlier of recognised) await this.conversations.recordUtterance(this.conversationId, { id: earlier.itemId, text: earlier.text, source: 'voice' }, this.options.scope);
      await this.runTurn({ itemId: last?.itemId ?? randomUUID(), text: last?.text ?? '', source: 'voice', ...(outputs.length > 0 ? { functionOutputs: outputs } : {}) }, {}, options);
    });
  }

  /** Stops the reply being produced or played; what was heard is kept. */
  cancelResponse(): void {
    this.stopReply('cancelled');
  }

  /** Barge-in: the caller spoke over the agent. Stops generation, synthesis and queued audio at once. */
  interrupt(): void {
    this.stopReply('interrupted');
  }

  /**
   * The client stopped playing a reply at `audioEndMs` (clamped to the audio sent; never fatal).
   * A reply still playing stops there; a finished one has its stored text cut to that point.
   */
  truncate(replyId: string, audioEndMs: number): void {
    const ms = Number.isFinite(audioEndMs) ? Math.max(0, audioEndMs) : 0;
    const playing = this.reply;
    if (playing?.id === replyId) {
      // Also after a cancel: the client's own position is the better one, and the reply's end stores it.
      playing.cutAtMs = Math.min(ms, playing.speaker.totalMs);
      this.stopReply('interrupted');
      this.emit({ type: 'reply_truncated', replyId, audioEndMs: playing.cutAtMs, text: playing.speaker.textAt(playing.cutAtMs) });
      return;
    }
    // After the turn that produced it has stored it (and said reply_done), in order with other work.
    this.queueTurn(async () => {
      const past = this.pastReplies.get(replyId);
      if (!past) {
        this.sendError('unknown_reply', `no reply ${replyId} in this session`);
        return;
      }
      const clamped = Math.min(ms, past.speaker.totalMs);
      const text = past.speaker.textAt(clamped);
      if (past.stored) await this.conversations.recordPlayback(replyId, { text, interrupted: true, metrics: {} });
      this.emit({ type: 'reply_truncated', replyId, audioEndMs: clamped, text });
    });
  }

  /**
   * The server is stopping: tells the caller, lets the turns already under way finish (their
   * replies produced and played) for at most `timeoutMs`, and from now on stores new words
   * without answering them. The transport closes afterwards, and close() keeps the rest.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.closed || this.draining) return;
    this.draining = true;
    this.emit({ type: 'shutting_down', deadlineMs: timeoutMs });
    const underWay = this.turns.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([underWay, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /**
   * Hang-up or `stop`: the caller's words in flight are finished and stored (their last turn,
   * unanswered), a reply being played is stored at its played position, and everything the
   * session holds is released. Safe to call more than once.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const lastWords = this.utterance;
    this.utterance = undefined;
    const committed = this.pending;
    this.pending = [];
    this.closed = true;
    this.stopReply('interrupted');
    clearTimeout(this.vadIdleTimer);
    this.releaseVad();
    // Caller audio does not outlive the session in memory (a heap dump or core file shows none of it).
    for (const chunk of this.preroll) chunk.fill(0);
    this.preroll.length = 0;
    this.prerollSamples = 0;
    if (lastWords && this.ended) lastWords.stream.cancel();
    else if (lastWords) {
      const transcript = lastWords.stream.finish().then((result) => result.text);
      transcript.catch(() => undefined); // storeLastWords observes it (or, once the conversation ended, drops it)
      this.queueTurn(() => this.storeLastWords(lastWords.itemId, transcript));
    }
    for (const input of committed) this.queueTurn(() => this.storeLastWords(input.itemId, input.text));
    if (this.heldGreeting) this.queueTurn(() => this.dropHeldGreeting());
    await this.turns.catch(() => undefined);
  }

  private emit(event: SessionEvent): void {
    if (!this.closed || event.type === 'reply_done') this.transport.send(event);
  }

  /**
   * Caller sound over the agent: after `pauseAfterMs` of it the agent pauses (the transport's
   * queued audio cleared); once the utterance holds `minWords` words that are not backchannels
   * it is interrupted for good, cut where it paused. Without words within `windowMs` it goes on.
   */
  private pauseOrInterrupt(speechMs: number, settings: FalseInterruptionSettings): void {
    const reply = this.reply;
    const utterance = this.utterance;
    if (!reply || !utterance || reply.controller.signal.aborted) return;
    if (settings.backchannels.meaningfulWords(utterance.partial, { partial: true }).length >= settings.minWords) {
      this.interrupt();
      return;
    }
    if (reply.pause || utterance.heardOut || speechMs < settings.pauseAfterMs) return;
    if (reply.speaker.pause() === undefined) return;
    this.transport.audio.clear();
    const timer = setTimeout(() => {
      if (this.reply !== reply || !reply.pause) return;
      utterance.heardOut = true;
      this.resumeReply(reply);
    }, settings.windowMs);
    timer.unref();
    reply.pause = { at: performance.now(), timer };
    this.logger.debug({ sessionId: this.id, replyId: reply.id }, 'reply paused: caller sound over the agent');
  }

  private resumeReply(reply: ActiveReply): void {
    if (!reply.pause) return;
    clearTimeout(reply.pause.timer);
    delete reply.pause;
    reply.speaker.resume();
    this.logger.debug({ sessionId: this.id, replyId: reply.id }, 'reply resumed: no words over it');
  }

  private stopReply(as: 'interrupted' | 'cancelled'): void {
    const reply = this.reply;
    if (reply?.pause) {
      clearTimeout(reply.pause.timer);
      delete reply.pause;
    }
    if (!reply || reply.controller.signal.aborted) return;
    reply.stoppedAs = as;
    // Fixed now: playback reports or the wall clock must not move it on after the listener stopped hearing.
    reply.cutAtMs ??= reply.speaker.heardMs();
    reply.controller.abort();
    this.transport.audio.clear();
    this.emit({ type: 'reply_interrupted', replyId: reply.id, playedText: reply.speaker.textAt(reply.cutAtMs), playedMs: reply.cutAtMs });
  }

  /** The detector stream starts on the first audio and is released when the caller goes quiet for long (a silent session holds none). */
  private activeVad(startsAtMs: number): VadStream {
    if (!this.vad) {
      // With adaptive turn ending the detector waits longest and the session ends the turn earlier when it can.
      const adaptive = this.adaptiveTurnEnding;
      this.vad = this.engines.vad.createStream(adaptive ? { ...this.turnSettings.vad, minSilenceMs: Math.max(adaptive.incompleteSilenceMs, adaptive.defaultSilenceMs) } : this.turnSettings.vad);
      this.vadOutdated = false;
      this.vadOffsetMs = startsAtMs;
      this.vadIdleTimer = setTimeout(() => this.releaseIdleVad(), this.settings.vadIdleReleaseMs ?? DEFAULT_VAD_IDLE_RELEASE_MS);
      this.vadIdleTimer.unref();
    } else {
      this.vadIdleTimer?.refresh();
    }
    return this.vad;
  }

  private releaseIdleVad(): void {
    // A caller mid-utterance keeps theirs (no audio arriving means a stalled network, not silence).
    if (this.utterance) {
      this.vadIdleTimer?.refresh();
      return;
    }
    this.releaseVad();
  }

  private releaseVad(): void {
    this.vad?.close();
    this.vad = undefined;
  }

  private remember(audio: Int16Array): void {
    const limit = ((this.turnSettings.prerollMs ?? this.settings.prerollMs ?? 600) * this.engines.vad.sampleRate) / 1000;
    this.preroll.push(audio);
    this.prerollSamples += audio.length;
    while (this.prerollSamples - (this.preroll[0]?.length ?? 0) >= limit) this.prerollSamples -= (this.preroll.shift() as Int16Array).length;
  }

  private openUtterance(): Utterance {
    const itemId = randomUUID();
    const utterance: Utterance = {
      itemId,
      partial: '',
      duringReply: this.reply !== undefined,
      heardOut: false,
      samples: 0,
      stream: this.engines.stt.createStream({
        ...(this.expect ? { hints: { expect: this.expect } } : {}),
        onPartial: (text) => {
          utterance.partial = text;
          delete utterance.ending;
          if (this.settings.falseInterruption && this.reply) this.pauseOrInterrupt(0, this.settings.falseInterruption);
          if (!this.closed && text) this.emit({ type: 'input_transcript', itemId, text, final: false });
        },
      }),
    };
    return utterance;
  }

  /** Manual turns: every sample goes to the input buffer, up to its limit. */
  private appendInput(audio: Int16Array): void {
    this.utterance ??= this.openUtterance();
    const limit = ((this.settings.maxInputMs ?? DEFAULT_MAX_INPUT_MS) * this.engines.vad.sampleRate) / 1000;
    if (this.utterance.samples + audio.length > limit) {
      if (!this.inputOverflowReported) this.sendError('input_too_long', `the input buffer holds at most ${Math.round(limit / this.engines.vad.sampleRate)} s; commit it`);
      this.inputOverflowReported = true;
      return;
    }
    this.utterance.samples += audio.length;
    this.utterance.stream.push(audio);
  }

  private onSpeechStart(atMs: number): void {
    if (!this.utterance) {
      this.utterance = this.openUtterance();
      this.utterance.stream.push(concatPcm(this.preroll));
      this.preroll.length = 0;
      this.prerollSamples = 0;
    }
    this.emit({ type: 'input_speech_started', itemId: this.utterance.itemId, audioStartMs: atMs });
  }

  /** The end-of-turn rules in force: off when a client fixed the pause itself (an OpenAI client's silence_duration_ms). */
  private get adaptiveTurnEnding(): TurnEndingSettings | undefined {
    return this.turnSettings.vad.minSilenceMs === undefined ? this.settings.turnEnding : undefined;
  }

  /** The detector ended the turn by itself: after the longest pause (adaptive), or the fixed one. */
  private naturalEnd(): TurnEndingDecision {
    const adaptive = this.adaptiveTurnEnding;
    if (adaptive) return { rule: 'incomplete', silenceMs: Math.max(adaptive.incompleteSilenceMs, adaptive.defaultSilenceMs) };
    return { rule: this.turnSettings.vad.minSilenceMs === undefined ? 'default' : 'fixed', silenceMs: this.endOfTurnSilenceMs };
  }

  private onSpeechEnd(atMs: number, decision: TurnEndingDecision): void {
    const utterance = this.utterance;
    this.utterance = undefined;
    this.emit({ type: 'input_speech_stopped', itemId: utterance?.itemId ?? '', audioEndMs: atMs });
    if (this.vadOutdated) this.releaseVad();
    if (!utterance) return;
    const endedAt = performance.now();
    // Audio arrives in real time, so the caller stopped talking one end-of-turn silence ago.
    const speechEndedAt = endedAt - decision.silenceMs;
    this.logger.debug({ sessionId: this.id, endOfTurnRule: decision.rule, endOfTurnMs: decision.silenceMs }, 'turn ended');
    const transcript = utterance.stream.finish();
    const paused = this.reply?.pause ? this.reply : undefined;
    if (paused && this.settings.falseInterruption) {
      // Decided outside the turn queue: the paused reply's turn is waiting for this very decision.
      const backchannels = this.settings.falseInterruption;
      transcript.then(
        (result) => {
          if (this.reply !== paused || !paused.pause) return this.queueSpokenTurn(utterance, transcript, endedAt, speechEndedAt, decision);
          if (backchannels.backchannels.meaningfulWords(result.text).length < backchannels.minWords) {
            this.resumeReply(paused);
            this.emit({ type: 'input_transcript', itemId: utterance.itemId, text: '', final: true });
            return;
          }
          this.interrupt();
          this.queueSpokenTurn(utterance, transcript, endedAt, speechEndedAt, decision);
        },
        () => {
          this.resumeReply(paused);
          this.queueSpokenTurn(utterance, transcript, endedAt, speechEndedAt, decision);
        },
      );
      return;
    }
    if (!this.turnSettings.createResponse && !this.draining) {
      // Committed, not answered: it waits for createResponse like a manual commit.
      this.pending.push({ itemId: utterance.itemId, text: this.waitingInput(utterance.itemId, transcript) });
      return;
    }
    if (this.draining) {
      const text = transcript.then((result) => result.text);
      text.catch(() => undefined); // storeLastWords observes it
      this.queueTurn(() => this.storeLastWords(utterance.itemId, text));
      return;
    }
    this.queueSpokenTurn(utterance, transcript, endedAt, speechEndedAt, decision);
  }

  /** A caller's utterance becomes a turn: stored once recognised, then answered. */
  private queueSpokenTurn(utterance: Utterance, transcript: Promise<{ text: string }>, endedAt: number, speechEndedAt: number, decision: TurnEndingDecision): void {
    this.queueTurn(async () => {
      let text: string;
      try {
        text = (await transcript).text.trim();
      } catch (error) {
        this.logger.error({ err: error, sessionId: this.id }, 'speech recognition failed');
        this.sendError('stt_failed', 'speech recognition failed; please repeat');
        await this.apologise();
        return;
      }
      const onlyBackchannel = utterance.duringReply && this.settings.falseInterruption && this.settings.falseInterruption.backchannels.meaningfulWords(text).length === 0;
      if (!text || onlyBackchannel) {
        // Noise, a cough, an "mm-hm" over the agent: not a turn. Said anyway, so a client that announced the item can close it.
        this.emit({ type: 'input_transcript', itemId: utterance.itemId, text: '', final: true });
        return;
      }
      if (this.ended) return;
      const sttLatencyMs = performance.now() - endedAt;
      // Stored before it is announced: a caller who saw their words transcribed finds them kept, whatever happens next.
      try {
        await this.conversations.recordUtterance(
          this.conversationId,
          { id: utterance.itemId, text, source: 'voice', metrics: { sttLatencyMs: Math.round(sttLatencyMs), endOfTurnMs: Math.round(decision.silenceMs), endOfTurnRule: decision.rule } },
          this.options.scope,
        );
      } catch (error) {
        if (!(error instanceof HarkenError)) throw error;
        this.sendError(error.code, error.message);
        return;
      }
      this.emit({ type: 'input_transcript', itemId: utterance.itemId, text, final: true });
      await this.runTurn({ itemId: utterance.itemId, text, source: 'voice', stored: true }, { sttLatencyMs, speechEndedAt, endOfTurn: decision });
    });
  }

  /** Turns run one after another; a failed turn never blocks the next one. */
  private queueTurn(work: () => Promise<void>): void {
    this.busyTurns += 1;
    this.callerSilentMs = 0;
    const counted = async () => {
      try {
        await work();
      } finally {
        this.busyTurns -= 1;
      }
    };
    this.turns = this.turns.then(counted).catch(async (error: unknown) => {
      if (isStorageFull(error)) {
        this.logger.error({ storageError: (error as Error).message, sessionId: this.id }, 'voice turn not saved: the data volume is full');
        this.sendError('storage_full', 'the server’s storage is full, so this turn could not be saved; please try again later');
        return;
      }
      this.logger.error({ err: error, sessionId: this.id }, 'voice turn failed');
      this.sendError('internal_error', 'the agent could not answer; please try again');
      return this.apologise();
    });
  }

  /** The caller hung up before their words were answered: store them, unanswered, so nothing said is lost. */
  private async storeLastWords(itemId: string, transcript: Promise<string>, source: 'voice' | 'text' = 'voice'): Promise<void> {
    if (this.ended) return;
    let text: string;
    try {
      text = (await transcript).trim();
    } catch (error) {
      this.logger.warn({ err: error, sessionId: this.id }, 'the last words could not be recognised');
      return;
    }
    if (!text) return;
    await this.conversations.recordUtterance(this.conversationId, { id: itemId, text, source }, this.options.scope);
    this.logger.info({ sessionId: this.id, conversationId: this.conversationId }, 'stored the caller’s last words unanswered (hang-up or shutdown)');
  }

  /** The silence that ends a turn: the session's detector setting, else the server's. */
  private get endOfTurnSilenceMs(): number {
    return this.turnSettings.vad.minSilenceMs ?? this.settings.endOfTurnSilenceMs;
  }

  /** The caller spoke before a held greeting was asked for: it stays stored, as not heard. */
  private async dropHeldGreeting(): Promise<void> {
    const greeting = this.heldGreeting;
    if (!greeting) return;
    this.heldGreeting = undefined;
    await this.conversations.recordPlayback(greeting.id, { text: '', interrupted: true, metrics: {} });
  }

  private async runTurn(
    input: { itemId: string; text: string; source: 'voice' | 'text'; stored?: boolean; functionOutputs?: readonly FunctionOutput[] },
    timing: { sttLatencyMs?: number; speechEndedAt?: number; endOfTurn?: TurnEndingDecision },
    response: ResponseOptions = {},
  ): Promise<void> {
    if (this.ended) return;
    await this.dropHeldGreeting();
    const keepUnanswered = () => (input.stored || input.text === '' ? undefined : this.storeLastWords(input.itemId, Promise.resolve(input.text), input.source));
    if (this.closed) return keepUnanswered();
    if (this.options.beforeTurn && !(await this.options.beforeTurn())) return keepUnanswered();
    if (this.closed) return keepUnanswered();
    const sentences = new AsyncQueue<string>();
    const chunker = new SentenceChunker();
    const reply = this.beginReply();
    const spoken = response.audio ?? this.overrides.audio ?? true;
    this.emit({ type: 'reply_started', replyId: reply.id });
    const playback = reply.speaker.speak(sentences, reply.controller.signal);
    // Awaited below; until then a failed synthesis must not be an unhandled rejection (which ends the process).
    playback.catch(() => undefined);
    // This response's own instructions and tools win over the session's.
    const instructions = response.instructions ?? this.overrides.instructions;
    const tools = response.tools ?? this.overrides.tools;
    const functions = response.functions ?? this.overrides.functions;
    const toolChoice = response.toolChoice ?? this.overrides.toolChoice;
    const overrides: AgentOverrides = {
      ...(instructions ? { instructions } : {}),
      ...(tools ? { tools } : {}),
      ...(functions && functions.length > 0 ? { functions } : {}),
      ...(toolChoice ? { toolChoice } : {}),
    };
    let outcome: TurnOutcome;
    try {
      outcome = await this.conversations.send(
        this.conversationId,
        {
          id: input.itemId,
          replyId: reply.id,
          text: input.text,
          source: input.source,
          stored: input.stored ?? false,
          metrics: { sttLatencyMs: timing.sttLatencyMs === undefined ? null : Math.round(timing.sttLatencyMs) },
          ...(input.functionOutputs ? { functionOutputs: input.functionOutputs } : {}),
        },
        {
          scope: this.options.scope,
          signal: reply.controller.signal,
          ...(Object.keys(overrides).length > 0 ? { overrides } : {}),
          onText: (delta) => {
            this.emit({ type: 'reply_text_delta', replyId: reply.id, delta });
            if (spoken) for (const sentence of chunker.push(delta)) sentences.push(sentence);
          },
        },
      );
    } catch (error) {
      sentences.end();
      reply.controller.abort();
      await playback.catch(() => undefined);
      this.endReply(reply, false);
      this.emit({ type: 'reply_done', replyId: reply.id, status: 'failed', text: '', playedMs: 0 });
      if (error instanceof HarkenError) {
        this.sendError(error.code, error.message);
        return;
      }
      throw error;
    }
    if (spoken) for (const sentence of chunker.flush()) sentences.push(sentence);
    sentences.end();
    this.expect = outcome.expect;
    if (outcome.reply) this.emit({ type: 'reply_text_done', replyId: reply.id, text: outcome.reply.text });
    for (const call of outcome.functionCalls ?? []) this.emit({ type: 'reply_function_call', replyId: reply.id, ...call });
    const result = await playback.finally(() => this.endReply(reply, outcome.reply !== undefined));
    const heard = this.heard(reply, result, outcome.reply?.text ?? '');
    if (outcome.reply) {
      const voiceToVoiceMs = result.firstAudioAt !== undefined && timing.speechEndedAt !== undefined ? result.firstAudioAt - timing.speechEndedAt : undefined;
      await this.conversations.recordPlayback(outcome.reply.id, {
        text: heard.text,
        interrupted: heard.cut,
        metrics: { ttsFirstAudioMs: result.ttsFirstAudioMs ?? null, voiceToVoiceMs: voiceToVoiceMs ?? null },
      });
      const timings: TurnTimings = {
        ...(timing.endOfTurn ? { endOfTurnMs: Math.round(timing.endOfTurn.silenceMs), endOfTurnRule: timing.endOfTurn.rule } : {}),
        ...(timing.sttLatencyMs !== undefined ? { sttFinalMs: Math.round(timing.sttLatencyMs) } : {}),
        ...(typeof outcome.reply.metrics.llmFirstTokenMs === 'number' ? { llmFirstTokenMs: outcome.reply.metrics.llmFirstTokenMs } : {}),
        ...(result.ttsFirstAudioMs !== undefined ? { ttsFirstAudioMs: Math.round(result.ttsFirstAudioMs) } : {}),
        ...(voiceToVoiceMs !== undefined ? { voiceToVoiceMs: Math.round(voiceToVoiceMs) } : {}),
        ...(typeof outcome.reply.metrics.promptTokens === 'number' ? { promptTokens: outcome.reply.metrics.promptTokens } : {}),
        ...(typeof outcome.reply.metrics.completionTokens === 'number' ? { completionTokens: outcome.reply.metrics.completionTokens } : {}),
      };
      this.emit({ type: 'turn_timings', replyId: reply.id, timings });
    }
    this.replyDone(reply, heard);
    if (outcome.conversation.status !== ACTIVE && (!heard.cut || this.options.endEvenIfGoodbyeInterrupted)) this.finishConversation(outcome.conversation);
  }

  private replyDone(reply: ActiveReply, heard: { text: string; cut: boolean; playedMs: number }): void {
    this.emit({ type: 'reply_done', replyId: reply.id, status: heard.cut ? (reply.stoppedAs ?? 'interrupted') : 'completed', text: heard.text, playedMs: heard.playedMs });
  }

  /** What the listener heard of a reply: all of it, or (cut short) up to the played or truncated position. */
  private heard(reply: ActiveReply, result: PlaybackResult, fullText: string): { text: string; cut: boolean; playedMs: number } {
    if (!result.interrupted) return { text: fullText, cut: false, playedMs: result.playedMs };
    const playedMs = reply.cutAtMs ?? result.playedMs;
    return { text: reply.speaker.textAt(playedMs), cut: true, playedMs };
  }

  /**
   * Says the apology (voice.apologyText) when a turn could not be understood or answered, so a
   * caller on a phone line hears something rather than silence. Not stored: the agent did not say it.
   */
  /**
   * Counts the caller's silence while the agent waits for them (nothing queued, nothing playing, no
   * speech): after `repromptAfterMs` the re-prompt, after `endAfterMs` more a goodbye and the end.
   */
  private watchSilence(chunkMs: number): void {
    const silence = this.settings.silence;
    if (!silence || this.ended || this.draining || this.turnSettings.detection !== 'server') return;
    if (this.utterance || this.reply || this.busyTurns > 0 || this.heldGreeting) {
      this.callerSilentMs = 0;
      if (this.utterance) this.reprompted = false;
      return;
    }
    this.callerSilentMs += chunkMs;
    if (!this.reprompted && this.callerSilentMs >= silence.repromptAfterMs) {
      this.reprompted = true;
      this.queueTurn(() => this.sayUnstored(silence.repromptText, 'the re-prompt'));
    } else if (this.reprompted && this.callerSilentMs >= silence.endAfterMs) {
      this.queueTurn(() => this.endForSilence(silence.goodbyeText));
    }
  }

  /** The caller stopped answering: the goodbye is stored and spoken, the conversation ends `no_response` (reason `silence`). */
  private async endForSilence(goodbye: string): Promise<void> {
    if (this.ended || this.closed) return;
    const ended = await this.conversations.endWithMessage(this.conversationId, goodbye, NO_RESPONSE_STATUS, 'silence', this.options.scope);
    this.logger.info({ sessionId: this.id, conversationId: this.conversationId }, 'conversation ended: the caller stopped answering');
    if (ended.reply) {
      this.emit({ type: 'reply_started', replyId: ended.reply.id });
      this.emit({ type: 'reply_text_done', replyId: ended.reply.id, text: ended.reply.text });
      await this.speakStored(ended.reply.id, ended.reply.text);
    }
    this.finishConversation(ended.conversation);
  }

  /** Says something the agent did not decide to say (the apology, a re-prompt): not stored. */
  private async sayUnstored(text: string, what: string): Promise<void> {
    if (!text || this.closed || this.ended) return;
    const reply = this.beginReply();
    this.emit({ type: 'reply_started', replyId: reply.id });
    this.emit({ type: 'reply_text_done', replyId: reply.id, text });
    const sentences = new AsyncQueue<string>();
    const chunker = new SentenceChunker();
    for (const sentence of [...chunker.push(text), ...chunker.flush()]) sentences.push(sentence);
    sentences.end();
    try {
      const result = await reply.speaker.speak(sentences, reply.controller.signal).finally(() => this.endReply(reply, false));
      this.replyDone(reply, this.heard(reply, result, text));
    } catch (error) {
      // Synthesis is down too: the error event already told the client.
      this.logger.warn({ err: error, sessionId: this.id }, `${what} could not be spoken`);
      this.emit({ type: 'reply_done', replyId: reply.id, status: 'failed', text: '', playedMs: 0 });
    }
  }

  private async apologise(): Promise<void> {
    await this.sayUnstored(this.settings.apologyText ?? '', 'the apology');
  }

  /** Speaks an already stored assistant message (the greeting) and records what was heard. */
  private async speakStored(messageId: string, text: string, audio = true): Promise<void> {
    if (this.closed) return;
    const reply = this.beginReply(messageId);
    const sentences = new AsyncQueue<string>();
    const chunker = new SentenceChunker();
    if (audio) for (const sentence of [...chunker.push(text), ...chunker.flush()]) sentences.push(sentence);
    sentences.end();
    const result = await reply.speaker.speak(sentences, reply.controller.signal).finally(() => this.endReply(reply, true));
    const heard = this.heard(reply, result, text);
    await this.conversations.recordPlayback(messageId, { text: heard.text, interrupted: heard.cut, metrics: { ttsFirstAudioMs: result.ttsFirstAudioMs ?? null } });
    this.replyDone(reply, heard);
  }

  private beginReply(id: string = randomUUID()): ActiveReply {
    const voice = this.overrides.voice ?? this.settings.voice;
    const reply: ActiveReply = {
      id,
      controller: new AbortController(),
      speaker: new Speaker(this.engines.tts, this.transport.audio, (event) => this.emit(event), {
        replyId: id,
        leadMs: this.settings.audioLeadMs,
        ...(voice ? { voice } : {}),
      }),
    };
    this.reply = reply;
    return reply;
  }

  private endReply(reply: ActiveReply, stored: boolean): void {
    if (this.reply === reply) this.reply = undefined;
    this.pastReplies.set(reply.id, { speaker: reply.speaker, stored });
    if (this.pastReplies.size > PAST_REPLIES_KEPT) this.pastReplies.delete(this.pastReplies.keys().next().value as string);
  }

  private finishConversation(conversation: Conversation): void {
    if (this.ended) return;
    this.ended = true;
    this.emit({ type: 'conversation_ended', outcome: outcomeOf(conversation) });
    this.transport.end(`conversation ${conversation.status}`);
  }

  private sendError(code: string, message: string): void {
    this.emit({ type: 'error', code, message });
  }
}
