import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PcmAudio } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import { loadWithRetries } from '../../load-retries.js';
import type { RecogniserPool, RecognitionHints, SpeechToText, SttCapabilities, SttStream, SttStreamOptions, Transcript } from '../speech-to-text.js';
import type { DecoderFiles } from './decoder.js';
import { DecoderProcess } from './decoder-process.js';
import { grammarFor } from './grammars.js';
import { loadPocketSphinx, POCKETSPHINX_FIX } from './native.js';
import { PocketSphinxStream, type DecoderRecovery, type DecoderTicket } from './pocketsphinx-stream.js';

export type { DecoderRecovery } from './pocketsphinx-stream.js';

export interface PocketSphinxOptions {
  /** Directory holding `en-us/` (acoustic model), `en-us.lm.bin` and `cmudict-en-us.dict`. */
  readonly modelDir: string;
  /** Decoders kept for reuse (default 2): creating one takes ~0.6 s, but each holds ~100 MB (its own language model, dictionary and search). */
  readonly idleDecoders?: number;
  /**
   * Decoders that may exist at once (default 4). A stream beyond them buffers its audio until
   * one is free and then decodes faster than real time; without a bound every speaking caller
   * would load ~100 MB (100 callers: 10 GB).
   */
  readonly maxDecoders?: number;
  /**
   * Decoders kept loaded ahead of need (default 1, within maxDecoders): a caller who starts
   * speaking, or a replacement for a hung decoder, takes one at once instead of waiting ~0.5 s.
   */
  readonly spareDecoders?: number;
  /** Least time between partial hypotheses. */
  readonly partialIntervalMs?: number;
  /**
   * A decoder that has not answered a request after this long (plus the duration of the audio
   * it was given) is looked at; if it is hung (not merely starved of CPU) its process is killed
   * and the utterance goes on, replayed, on another decoder (default 500).
   */
  readonly hangTimeoutMs?: number;
  /** Nice value of the decoder processes (server.engineThreadNice): decoding yields to the event loop. */
  readonly nice?: number;
  /** Told of each hung or crashed decoder replaced under a stream (metrics, the log). */
  readonly onRecovery?: (recovery: DecoderRecovery) => void;
  /** Told of each failed attempt to load a decoder before it is tried again. */
  readonly onLoadRetry?: (what: string, attempt: number, error: Error, waitMs: number) => void;
}

const SAMPLE_RATE = 16_000;
export const DEFAULT_HANG_TIMEOUT_MS = 500;

/**
 * CMU PocketSphinx, one decoder per process (decoder-host.ts): decoding runs beside the event
 * loop, and a decode that hangs in native code or crashes is ended by killing its process, while
 * the utterance goes on on another decoder. Each stream holds one decoder from a bounded pool.
 */
export class PocketSphinxStt implements SpeechToText {
  readonly name = 'pocketsphinx';
  readonly sampleRate = SAMPLE_RATE;
  readonly capabilities: SttCapabilities = { streaming: true, interimResults: true, hints: true };
  private readonly idle: DecoderProcess[] = [];
  /** Every decoder process alive (idle, held by a stream, or being replaced). */
  private readonly live = new Set<DecoderProcess>();
  /** Decoders handed to streams or being created for them. */
  private busy = 0;
  /** Spare decoders being loaded. */
  private warming = 0;
  /** Streams waiting for a decoder, first come first served. */
  private readonly waiting: DecoderWaiter[] = [];
  private closed = false;
  /** Aborted at close: decoders still loading are killed too. */
  private readonly closing = new AbortController();
  private readonly hangTimeoutMs: number;

  private constructor(private readonly files: DecoderFiles, private readonly options: PocketSphinxOptions) {
    this.hangTimeoutMs = options.hangTimeoutMs ?? DEFAULT_HANG_TIMEOUT_MS;
  }

  /** Checks the libraries and model files, then loads one decoder so the first caller does not wait. */
  static async create(options: PocketSphinxOptions): Promise<PocketSphinxStt> {
    const files = { hmm: join(options.modelDir, 'en-us'), lm: join(options.modelDir, 'en-us.lm.bin'), dict: join(options.modelDir, 'cmudict-en-us.dict') };
    // Binding here names a missing library clearly; decoder processes bind their own.
    loadPocketSphinx();
    for (const path of Object.values(files)) {
      if (!existsSync(path)) throw new EngineUnavailableError('pocketsphinx', `PocketSphinx model file ${path} is missing`, POCKETSPHINX_FIX);
    }
    const engine = new PocketSphinxStt(files, options);
    engine.busy += 1;
    engine.release(engine.track(await DecoderProcess.start(files, { hangTimeoutMs: engine.hangTimeoutMs, nice: options.nice ?? 0 })));
    return engine;
  }

  /** Decoders in use and idle, streams waiting for one, and the decoder processes. */
  get pool(): RecogniserPool {
    return { busy: this.busy, idle: this.idle.length, waiting: this.waiting.length, max: this.max, processes: [...this.live].map((decoder) => decoder.pid) };
  }

  check(): void {
    if (this.closed) throw new Error('the speech recogniser is closed');
  }

  async transcribe(audio: PcmAudio, options: { hints?: RecognitionHints; signal?: AbortSignal } = {}): Promise<Transcript> {
    if (audio.sampleRate !== SAMPLE_RATE) throw new Error(`PocketSphinx needs ${SAMPLE_RATE} Hz audio, got ${audio.sampleRate} Hz; resample first`);
    const stream = this.createStream(options.hints ? { hints: options.hints } : {});
    const abort = () => stream.cancel();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      for (let offset = 0; offset < audio.samples.length; offset += SAMPLE_RATE) stream.push(audio.samples.subarray(offset, offset + SAMPLE_RATE));
      return await stream.finish();
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
  }

  createStream(options: SttStreamOptions = {}): SttStream {
    if (this.closed) throw new Error('the speech recogniser is closed');
    return new PocketSphinxStream(this.acquire(), grammarFor(options.hints), options.onPartial, this.options.partialIntervalMs ?? 200, this, this.options.onRecovery);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort(new Error('the speech recogniser is closed'));
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('the speech recogniser is closed'));
    for (const decoder of this.idle.splice(0)) decoder.kill();
  }

  /** The lost decoder's place goes to a new one (a spare, or started); without one, the place is given up. */
  async replace(lost: DecoderProcess): Promise<DecoderProcess> {
    lost.kill();
    const idle = this.closed ? undefined : this.idle.pop();
    if (idle) {
      this.keepSpare();
      return idle;
    }
    try {
      if (this.closed) throw new Error('the speech recogniser is closed');
      return await this.startDecoder();
    } catch (error) {
      this.busy = Math.max(0, this.busy - 1);
      this.serveWaiting();
      throw error;
    }
  }

  /** A decoder whose request failed is not trusted again: killed, not pooled (a waiting stream gets a new one). */
  discard(decoder: DecoderProcess): void {
    decoder.kill();
    this.busy = Math.max(0, this.busy - 1);
    this.serveWaiting();
  }

  /** Back from a stream whose utterance has ended. */
  release(decoder: DecoderProcess): void {
    if (!decoder.alive) return this.discard(decoder);
    const next = this.closed ? undefined : this.waiting.shift();
    // Handed straight to the next stream in line: it stays busy.
    if (next) return next.resolve(decoder);
    this.busy = Math.max(0, this.busy - 1);
    if (this.closed || this.idle.length >= Math.max(this.options.idleDecoders ?? 2, this.spares)) decoder.kill();
    else this.idle.push(decoder);
  }

  private get max(): number {
    return this.options.maxDecoders ?? 4;
  }

  private get spares(): number {
    return this.options.spareDecoders ?? 1;
  }

  /** Loads spare decoders in the background, within the bound, until `spareDecoders` are idle. */
  private keepSpare(): void {
    while (!this.closed && this.idle.length + this.warming < this.spares && this.busy + this.idle.length + this.warming < this.max) {
      this.warming += 1;
      this.startDecoder().then(
        (decoder) => {
          this.warming -= 1;
          // Loaded for whoever needs one first: a stream in line, or the idle list.
          this.busy += 1;
          this.release(decoder);
        },
        () => {
          this.warming -= 1;
        },
      );
    }
  }

  /** An idle decoder, a new one while under the bound, or a place in the queue. */
  private acquire(): DecoderTicket {
    try {
      return this.ticket();
    } finally {
      this.keepSpare();
    }
  }

  private ticket(): DecoderTicket {
    const idle = this.idle.pop();
    if (idle) {
      this.busy += 1;
      return { decoder: Promise.resolve(idle), abandon: () => false };
    }
    if (this.busy + this.idle.length + this.warming < this.max) {
      this.busy += 1;
      return { decoder: this.createDecoder(), abandon: () => false };
    }
    let waiter!: DecoderWaiter;
    const decoder = new Promise<DecoderProcess>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    this.waiting.push(waiter);
    return {
      decoder,
      abandon: () => {
        const index = this.waiting.indexOf(waiter);
        if (index < 0) return false;
        this.waiting.splice(index, 1);
        waiter.reject(new Error('the transcription was cancelled'));
        return true;
      },
    };
  }

  /** A new decoder process, retried with back-off (a model load can fail under memory pressure). */
  private async startDecoder(): Promise<DecoderProcess> {
    const decoder = await loadWithRetries('a PocketSphinx decoder', () => DecoderProcess.start(this.files, { hangTimeoutMs: this.hangTimeoutMs, nice: this.options.nice ?? 0, signal: this.closing.signal }), this.options.onLoadRetry);
    return this.track(decoder);
  }

  private track(decoder: DecoderProcess): DecoderProcess {
    this.live.add(decoder);
    decoder.onExit(() => {
      this.live.delete(decoder);
      // An idle decoder that died is simply dropped: the next stream starts another.
      const index = this.idle.indexOf(decoder);
      if (index >= 0) this.idle.splice(index, 1);
    });
    if (this.closed) decoder.kill();
    return decoder;
  }

  private async createDecoder(): Promise<DecoderProcess> {
    try {
      return await this.startDecoder();
    } catch (error) {
      this.busy -= 1;
      this.serveWaiting();
      throw error;
    }
  }

  /** Room under the bound again: the first waiting stream gets a new decoder. */
  private serveWaiting(): void {
    const next = this.closed ? undefined : this.waiting.shift();
    if (!next) return;
    this.busy += 1;
    this.createDecoder().then(next.resolve, next.reject);
  }
}

interface DecoderWaiter {
  resolve(decoder: DecoderProcess): void;
  reject(error: Error): void;
}
