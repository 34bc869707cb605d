import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AnswerExpectation } from '../agents/agent.js';
import { concatPcm } from '../audio/pcm.js';
import { StreamResampler } from '../audio/resample.js';
import type { ConversationService, TurnOutcome } from '../conversations/service.js';
import type { VoiceEngines } from '../engines/voice-engines.js';
import type { SttStream } from '../engines/stt/speech-to-text.js';
import type { VadStream } from '../engines/vad/voice-activity.js';
import { HarkenError } from '../errors.js';
import type { TenantScope } from '../security/tenants.js';
import { SentenceChunker } from '../text/sentence-chunker.js';
import { AsyncQueue } from '../util/async-queue.js';
import type { SessionTransport } from './events.js';
import { Speaker } from './speaker.js';

export interface VoiceSessionSettings {
  readonly endOfTurnSilenceMs: number;
  readonly bargeInMinSpeechMs: number;
  readonly audioLeadMs: number;
  /** Undefined: the engine's default voice. */
  readonly voice?: string;
  /** Audio kept from before the detector fires, so the first syllable reaches the recogniser. */
  readonly prerollMs?: number;
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
}

/** The reply currently being produced or played: what an interruption stops. */
interface ActiveReply {
  readonly controller: AbortController;
  readonly speaker: Speaker;
}

const ACTIVE = 'active';

/**
 * One voice conversation: audio in → VAD → streaming STT → end of turn → agent →
 * sentence chunker → TTS → paced audio out, with barge-in. Owns all of its state;
 * nothing here is shared between sessions.
 */
export class VoiceSession {
  readonly id = randomUUID();
  private conversationId = '';
  private readonly toVadRate: StreamResampler;
  private vad: VadStream | undefined;
  private readonly preroll: Int16Array[] = [];
  private prerollSamples = 0;
  private utterance: { stream: SttStream; startedAt: number } | undefined;
  private reply: ActiveReply | undefined;
  private turns: Promise<void> = Promise.resolve();
  private queuedTextTurns = 0;
  private expect: AnswerExpectation | undefined;
  private closed = false;
  private ended = false;

  constructor(
    private readonly conversations: ConversationService,
    private readonly engines: VoiceEngines,
    private readonly transport: SessionTransport,
    private readonly settings: VoiceSessionSettings,
    private readonly options: VoiceSessionOptions,
    private readonly logger: Logger,
  ) {
    this.toVadRate = new StreamResampler(options.inputSampleRate, engines.vad.sampleRate);
  }

  get outputSampleRate(): number {
    return this.engines.tts.sampleRate;
  }

  get conversation(): string {
    return this.conversationId;
  }

  /** Opens or creates the conversation, announces `ready`, and speaks the agent's greeting if it is new. */
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
    this.vad = this.engines.vad.createStream();
    this.transport.send({ type: 'ready', protocol: 1, sessionId: this.id, conversationId: this.conversationId, outputSampleRate: this.outputSampleRate });
    const opening = greeting?.reply;
    if (opening) {
      this.transport.send({ type: 'reply', text: opening.text, final: true });
      this.queueTurn(() => this.speakStored(opening.id, opening.text));
    }
  }

  /** Caller audio: mono s16 at the session's input rate. */
  pushAudio(samples: Int16Array): void {
    if (this.closed || !this.vad) return;
    const audio = this.toVadRate.push(samples);
    if (audio.length === 0) return;
    this.utterance?.stream.push(audio);
    if (!this.utterance) this.remember(audio);
    for (const event of this.vad.push(audio)) {
      if (event.type === 'speech_start') this.onSpeechStart();
      else this.onSpeechEnd();
    }
    if (this.reply && this.vad.speaking && this.vad.currentSpeechMs >= this.settings.bargeInMinSpeechMs) this.interrupt();
  }

  /** A typed turn, answered (and spoken) like a spoken one. False (nothing queued) when too many wait already. */
  submitText(text: string): boolean {
    if (this.closed) return true;
    if (this.queuedTextTurns >= (this.options.maxQueuedTurns ?? Number.POSITIVE_INFINITY)) return false;
    this.queuedTextTurns += 1;
    this.interrupt();
    this.queueTurn(async () => {
      this.queuedTextTurns -= 1;
      await this.runTurn(text, 'text', {});
    });
    return true;
  }

  /** Stops the agent at once: generation, synthesis and queued audio. */
  interrupt(): void {
    const reply = this.reply;
    if (!reply || reply.controller.signal.aborted) return;
    reply.controller.abort();
    this.transport.send({ type: 'interrupted', playedText: reply.speaker.heardText() });
  }

  /** Releases everything the session holds; safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reply?.controller.abort();
    this.utterance?.stream.cancel();
    this.utterance = undefined;
    this.vad?.close();
    await this.turns.catch(() => undefined);
  }

  private remember(audio: Int16Array): void {
    const limit = ((this.settings.prerollMs ?? 600) * this.engines.vad.sampleRate) / 1000;
    this.preroll.push(audio);
    this.prerollSamples += audio.length;
    while (this.prerollSamples - (this.preroll[0]?.length ?? 0) >= limit) this.prerollSamples -= (this.preroll.shift() as Int16Array).length;
  }

  private onSpeechStart(): void {
    this.transport.send({ type: 'speech_started' });
    if (this.utterance) return;
    const stream = this.engines.stt.createStream({
      ...(this.expect ? { hints: { expect: this.expect } } : {}),
      onPartial: (text) => {
        if (!this.closed && text) this.transport.send({ type: 'transcript', text, final: false });
      },
    });
    stream.push(concatPcm(this.preroll));
    this.preroll.length = 0;
    this.prerollSamples = 0;
    this.utterance = { stream, startedAt: performance.now() };
  }

  private onSpeechEnd(): void {
    this.transport.send({ type: 'speech_stopped' });
    const utterance = this.utterance;
    this.utterance = undefined;
    if (!utterance) return;
    const endedAt = performance.now();
    // Audio arrives in real time, so the caller stopped talking one end-of-turn silence ago.
    const speechEndedAt = endedAt - this.settings.endOfTurnSilenceMs;
    const transcript = utterance.stream.finish();
    this.queueTurn(async () => {
      let text: string;
      try {
        text = (await transcript).text.trim();
      } catch (error) {
        this.logger.error({ err: error, sessionId: this.id }, 'speech recognition failed');
        this.sendError('stt_failed', 'speech recognition failed; please repeat');
        return;
      }
      if (!text || this.closed) return; // noise, a cough: not a turn
      this.transport.send({ type: 'transcript', text, final: true });
      await this.runTurn(text, 'voice', { sttLatencyMs: performance.now() - endedAt, speechEndedAt });
    });
  }

  /** Turns run one after another; a failed turn never blocks the next one. */
  private queueTurn(work: () => Promise<void>): void {
    this.turns = this.turns.then(work).catch((error: unknown) => {
      this.logger.error({ err: error, sessionId: this.id }, 'voice turn failed');
      this.sendError('internal_error', 'the agent could not answer; please try again');
    });
  }

  private async runTurn(text: string, source: 'voice' | 'text', timing: { sttLatencyMs?: number; speechEndedAt?: number }): Promise<void> {
    if (this.closed || this.ended) return;
    if (this.options.beforeTurn && !(await this.options.beforeTurn())) return;
    if (this.closed) return;
    const sentences = new AsyncQueue<string>();
    const chunker = new SentenceChunker();
    const reply = this.beginReply();
    const playback = reply.speaker.speak(sentences, reply.controller.signal);
    // Awaited below; until then a failed synthesis must not be an unhandled rejection (which ends the process).
    playback.catch(() => undefined);
    let outcome: TurnOutcome;
    try {
      outcome = await this.conversations.send(
        this.conversationId,
        { text, source, metrics: { sttLatencyMs: timing.sttLatencyMs === undefined ? null : Math.round(timing.sttLatencyMs) } },
        {
          scope: this.options.scope,
          signal: reply.controller.signal,
          onText: (delta) => {
            this.transport.send({ type: 'reply', text: delta, final: false });
            for (const sentence of chunker.push(delta)) sentences.push(sentence);
          },
        },
      );
    } catch (error) {
      sentences.end();
      reply.controller.abort();
      await playback.catch(() => undefined);
      this.endReply(reply);
      if (error instanceof HarkenError) {
        this.sendError(error.code, error.message);
        return;
      }
      throw error;
    }
    for (const sentence of chunker.flush()) sentences.push(sentence);
    sentences.end();
    this.expect = outcome.expect;
    if (outcome.reply) this.transport.send({ type: 'reply', text: outcome.reply.text, final: true });
    const result = await playback.finally(() => this.endReply(reply));
    if (outcome.reply) {
      await this.conversations.recordPlayback(outcome.reply.id, {
        text: result.interrupted ? result.playedText : outcome.reply.text,
        interrupted: result.interrupted,
        metrics: {
          ttsFirstAudioMs: result.ttsFirstAudioMs ?? null,
          voiceToVoiceMs: result.firstAudioAt !== undefined && timing.speechEndedAt !== undefined ? result.firstAudioAt - timing.speechEndedAt : null,
        },
      });
    }
    if (outcome.conversation.status !== ACTIVE && !result.interrupted) this.finishConversation(outcome.conversation.status);
  }

  /** Speaks an already stored assistant message (the greeting) and records what was heard. */
  private async speakStored(messageId: string, text: string): Promise<void> {
    const reply = this.beginReply();
    const sentences = new AsyncQueue<string>();
    const chunker = new SentenceChunker();
    for (const sentence of [...chunker.push(text), ...chunker.flush()]) sentences.push(sentence);
    sentences.end();
    const result = await reply.speaker.speak(sentences, reply.controller.signal).finally(() => this.endReply(reply));
    await this.conversations.recordPlayback(messageId, {
      text: result.interrupted ? result.playedText : text,
      interrupted: result.interrupted,
      metrics: { ttsFirstAudioMs: result.ttsFirstAudioMs ?? null },
    });
  }

  private beginReply(): ActiveReply {
    const reply: ActiveReply = {
      controller: new AbortController(),
      speaker: new Speaker(this.engines.tts, this.transport, {
        outputSampleRate: this.outputSampleRate,
        leadMs: this.settings.audioLeadMs,
        ...(this.settings.voice ? { voice: this.settings.voice } : {}),
      }),
    };
    this.reply = reply;
    return reply;
  }

  private endReply(reply: ActiveReply): void {
    if (this.reply === reply) this.reply = undefined;
  }

  private finishConversation(status: string): void {
    this.ended = true;
    this.transport.send({ type: 'conversation_ended', status });
    this.transport.end(`conversation ${status}`);
  }

  private sendError(code: string, message: string): void {
    if (!this.closed) this.transport.send({ type: 'error', code, message });
  }
}
