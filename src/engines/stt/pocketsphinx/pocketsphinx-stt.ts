import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { concatPcm, type PcmAudio } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import { loadWithRetries } from '../../load-retries.js';
import type { RecogniserPool, RecognitionHints, SpeechToText, SttCapabilities, SttStream, SttStreamOptions, Transcript } from '../speech-to-text.js';
import type { DecodedUtterance, DecoderFiles } from './decoder.js';
import { DecoderLostError, DecoderProcess } from './decoder-process.js';
import { grammarFor, type Grammar } from './grammars.js';
import { loadPocketSphinx, POCKETSPHINX_FIX } from './native.js';

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
   * it was given) counts as hung: its process is killed and the utterance goes on, replayed,
   * on another decoder (default 1000).
   */
  readonly hangTimeoutMs?: number;
  /** Nice value of the decoder processes (server.engineThreadNice): decoding yields to the event loop. */
  readonly nice?: number;
  /** Told of each hung or crashed decoder replaced under a stream (metrics, the log). */
  readonly onRecovery?: (recovery: DecoderRecovery) => void;
  /** Told of each failed attempt to load a decoder before it is tried again. */
  readonly onLoadRetry?: (what: string, attempt: number, error: Error, waitMs: number) => void;
}

/** One hung or crashed decoder replaced under a live utterance. */
export interface DecoderRecovery {
  readonly reason: 'hung' | 'crashed';
  /** The lost decoder process. */
  readonly pid: number;
  /** False when no replacement could be made (the utterance fails; a fallback engine may take it). */
  readonly ok: boolean;
  /** From the request that was lost to the new decoder having heard the utterance again. */
  readonly durationMs: number;
  /** Audio of this utterance fed again to the new decoder. */
  readonly replayedMs: number;
  readonly error?: string;
}

const SAMPLE_RATE = 16_000;
export const DEFAULT_HANG_TIMEOUT_MS = 1_000;

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

/** A decoder to come; `abandon` gives up a place in the queue (true if the stream was still waiting). */
interface DecoderTicket {
  readonly decoder: Promise<DecoderProcess>;
  abandon(): boolean;
}

/** What a stream needs of the pool. */
interface DecoderLender {
  release(decoder: DecoderProcess): void;
  discard(decoder: DecoderProcess): void;
  replace(lost: DecoderProcess): Promise<DecoderProcess>;
}

/** Audio per request to a decoder: a hang is noticed within hangTimeoutMs + 250 ms, and a cancel stops within it. */
const CHUNK_SAMPLES = SAMPLE_RATE / 4;
/** Audio of one utterance kept to replay to a replacement decoder; beyond it the replacement hears only the first minute. */
const MAX_KEPT_SAMPLES = 60 * SAMPLE_RATE;
/** Replacements per utterance: a decoder that keeps dying on the same audio is not tried forever. */
const MAX_RECOVERIES = 2;

/** One utterance on one decoder. Requests are chained so they never overlap. */
class PocketSphinxStream implements SttStream {
  private readonly pending: Int16Array[] = [];
  /** What was heard (up to a minute): replayed to a replacement decoder, and decoded again whole for a grammar. */
  private readonly kept: Int16Array[] = [];
  private keptSamples = 0;
  /** Samples handed to the decoder so far (in the order they were kept). */
  private fedSamples = 0;
  private chain: Promise<void>;
  private decoder: DecoderProcess | undefined;
  private draining = false;
  private lastPartial = '';
  private lastPartialAt = 0;
  private state: 'open' | 'finishing' | 'done' = 'open';
  /** Cancelled while finishing: the decode stops at the next chunk boundary. */
  private cancelled = false;
  private recoveries = 0;

  constructor(
    private readonly ticket: DecoderTicket,
    private readonly grammar: Grammar | undefined,
    private readonly onPartial: ((text: string) => void) | undefined,
    private readonly partialIntervalMs: number,
    private readonly pool: DecoderLender,
    private readonly onRecovery: ((recovery: DecoderRecovery) => void) | undefined,
  ) {
    this.chain = ticket.decoder.then(async (decoder) => {
      this.decoder = decoder;
      // An unusable grammar (a word outside the dictionary) falls back to the language model.
      await this.onDecoder((current) => current.begin(grammar), { replay: true, redo: false });
    });
    this.chain.catch(() => undefined);
  }

  push(samples: Int16Array): void {
    if (this.state !== 'open' || samples.length === 0) return;
    const copy = samples.slice();
    this.pending.push(copy);
    this.keep(copy);
    if (this.draining) return;
    this.draining = true;
    // Coalesce everything queued meanwhile into one run of requests.
    this.chain = this.chain.then(async () => {
      this.draining = false;
      await this.feed(concatPcm(this.pending.splice(0)), true);
    });
    // A failure surfaces in finish(); a stream that is never finished must not leave it unhandled.
    this.chain.catch(() => undefined);
  }

  async finish(): Promise<Transcript> {
    if (this.state !== 'open') throw new Error('this utterance has already been finished or cancelled');
    this.state = 'finishing';
    let outcome: 'release' | 'discard' = 'discard';
    try {
      await this.chain;
      await this.feed(concatPcm(this.pending.splice(0)), false);
      if (this.cancelled) throw new Error('the transcription was cancelled');
      const live = (await this.onDecoder((decoder) => decoder.end(this.fedSamples / 16), { replay: true, redo: true })) as DecodedUtterance;
      // Constrained answers are short and cheap to decode again: do it in one normalised pass
      // so "march fifth" never depends on the previous caller's audio. Open speech keeps the live result.
      const result = this.grammar ? ((await this.onDecoder((decoder) => decoder.decodeWhole(concatPcm(this.kept)), { replay: false, redo: true })) as DecodedUtterance) : live;
      outcome = 'release';
      return result;
    } finally {
      this.state = 'done';
      this.forgetAudio();
      // Cancelled, the decoder is sound: end its utterance and pool it again. Failed: not trusted again.
      this.returnDecoder(this.cancelled ? 'end' : outcome);
    }
  }

  cancel(): void {
    if (this.state === 'finishing') {
      this.cancelled = true;
      // Still in the queue for a decoder: leave it, so finish() fails now and takes none.
      this.ticket.abandon();
      return;
    }
    if (this.state !== 'open') return;
    this.state = 'done';
    this.cancelled = true;
    this.forgetAudio();
    if (this.ticket.abandon()) return;
    void this.chain.then(
      () => this.returnDecoder('end'),
      () => this.returnDecoder('discard'),
    );
  }

  /** Requests of at most CHUNK_SAMPLES, so a cancelled or timed-out recognition stops within one chunk. */
  private async feed(audio: Int16Array, partials: boolean): Promise<void> {
    for (let offset = 0; offset < audio.length && !this.cancelled && this.state !== 'done'; offset += CHUNK_SAMPLES) {
      const chunk = audio.subarray(offset, offset + CHUNK_SAMPLES);
      this.fedSamples += chunk.length;
      // A replacement hears everything fed, this chunk included: nothing to redo.
      await this.onDecoder((decoder) => decoder.process(chunk), { replay: true, redo: false });
      if (partials) await this.emitPartial();
    }
  }

  private async emitPartial(): Promise<void> {
    if (!this.onPartial || this.state !== 'open') return;
    const now = performance.now();
    if (now - this.lastPartialAt < this.partialIntervalMs) return;
    this.lastPartialAt = now;
    const text = await this.onDecoder((decoder) => decoder.hypothesis(), { replay: true, redo: false });
    if (text === undefined || this.state !== 'open') return;
    if (text && text !== this.lastPartial) {
      this.lastPartial = text;
      this.onPartial(text);
    }
  }

  /**
   * Runs a request on the current decoder. When its process is lost (hung and killed, or
   * crashed), a replacement takes over — having heard the utterance again when `replay` — and
   * the request is sent again when `redo` (otherwise the replay already covered it: undefined).
   */
  private async onDecoder<T>(request: (decoder: DecoderProcess) => Promise<T>, options: { replay: boolean; redo: boolean }): Promise<T | undefined> {
    for (;;) {
      const decoder = this.decoder;
      if (!decoder) throw new Error('the speech recogniser has no decoder for this utterance');
      try {
        return await request(decoder);
      } catch (error) {
        if (!(error instanceof DecoderLostError) || this.cancelled) throw error;
        await this.recover(error, options.replay);
        if (!options.redo) return undefined;
      }
    }
  }

  /** One loss, one report: replacements are tried (at most MAX_RECOVERIES per utterance) until one has caught up. */
  private async recover(lost: DecoderLostError, replay: boolean): Promise<void> {
    const started = performance.now();
    const replayed = replay ? Math.min(this.fedSamples, this.keptSamples) : 0;
    const report = (ok: boolean, error?: Error) =>
      this.onRecovery?.({ reason: lost.reason, pid: lost.pid, ok, durationMs: Math.round(performance.now() - started), replayedMs: replayed / 16, ...(error ? { error: error.message } : {}) });
    let failure: Error = lost;
    for (;;) {
      if (this.recoveries >= MAX_RECOVERIES) {
        report(false, failure);
        throw failure;
      }
      this.recoveries += 1;
      const previous = this.decoder as DecoderProcess;
      this.decoder = undefined;
      try {
        this.decoder = await this.pool.replace(previous);
        if (replay) {
          await this.decoder.begin(this.grammar);
          const audio = concatPcm(this.kept).subarray(0, replayed);
          for (let offset = 0; offset < audio.length; offset += SAMPLE_RATE) await this.decoder.process(audio.subarray(offset, offset + SAMPLE_RATE));
        }
        report(true);
        return;
      } catch (error) {
        failure = error as Error;
        if (!(error instanceof DecoderLostError)) {
          report(false, failure);
          throw error;
        }
      }
    }
  }

  private keep(samples: Int16Array): void {
    if (this.keptSamples >= MAX_KEPT_SAMPLES) return;
    const part = samples.subarray(0, MAX_KEPT_SAMPLES - this.keptSamples);
    this.kept.push(part);
    this.keptSamples += part.length;
  }

  /** The caller's audio does not outlive the utterance in memory. */
  private forgetAudio(): void {
    for (const part of this.kept) part.fill(0);
    for (const part of this.pending) part.fill(0);
    this.kept.length = 0;
    this.pending.length = 0;
  }

  private returnDecoder(how: 'release' | 'discard' | 'end'): void {
    const decoder = this.decoder;
    this.decoder = undefined;
    if (!decoder) return;
    if (how === 'release') return this.pool.release(decoder);
    if (how === 'discard') return this.pool.discard(decoder);
    void decoder.end(this.fedSamples / 16).then(
      () => this.pool.release(decoder),
      () => this.pool.discard(decoder),
    );
  }
}
