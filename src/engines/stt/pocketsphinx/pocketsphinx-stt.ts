import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { concatPcm, type PcmAudio } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import type { RecogniserPool, RecognitionHints, SpeechToText, SttCapabilities, SttStream, SttStreamOptions, Transcript } from '../speech-to-text.js';
import { Decoder } from './decoder.js';
import { grammarFor } from './grammars.js';
import { POCKETSPHINX_FIX } from './native.js';

export interface PocketSphinxOptions {
  /** Directory holding `en-us/` (acoustic model), `en-us.lm.bin` and `cmudict-en-us.dict`. */
  readonly modelDir: string;
  /** Decoders kept for reuse (default 2): creating one takes ~0.5 s of pool time, but each holds ~90 MB (its own language model, dictionary and search). */
  readonly idleDecoders?: number;
  /**
   * Decoders that may exist at once (default 4). A stream beyond them buffers its audio until
   * one is free and then decodes faster than real time; without a bound every speaking caller
   * would load ~90 MB (100 callers: 9 GB).
   */
  readonly maxDecoders?: number;
  /** Least time between partial hypotheses. */
  readonly partialIntervalMs?: number;
}

const SAMPLE_RATE = 16_000;

/**
 * CMU PocketSphinx in-process through koffi. Each stream holds one decoder from a
 * pool; decoding runs on the libuv thread pool so the event loop never waits for it.
 */
export class PocketSphinxStt implements SpeechToText {
  readonly name = 'pocketsphinx';
  readonly sampleRate = SAMPLE_RATE;
  readonly capabilities: SttCapabilities = { streaming: true, interimResults: true, hints: true };
  private readonly idle: Decoder[] = [];
  /** Decoders handed to streams or being created for them. */
  private busy = 0;
  /** Streams waiting for a decoder, first come first served. */
  private readonly waiting: DecoderWaiter[] = [];
  private closed = false;

  private constructor(private readonly files: { hmm: string; lm: string; dict: string }, private readonly options: PocketSphinxOptions) {}

  /** Checks the model files, then loads one decoder so the first caller does not wait. */
  static async create(options: PocketSphinxOptions): Promise<PocketSphinxStt> {
    const files = { hmm: join(options.modelDir, 'en-us'), lm: join(options.modelDir, 'en-us.lm.bin'), dict: join(options.modelDir, 'cmudict-en-us.dict') };
    for (const path of Object.values(files)) {
      if (!existsSync(path)) throw new EngineUnavailableError('pocketsphinx', `PocketSphinx model file ${path} is missing`, POCKETSPHINX_FIX);
    }
    const engine = new PocketSphinxStt(files, options);
    engine.release(await Decoder.create(files));
    return engine;
  }

  /** Decoders in use and idle, and streams waiting for one. */
  get pool(): RecogniserPool {
    return { busy: this.busy, idle: this.idle.length, waiting: this.waiting.length, max: this.options.maxDecoders ?? 4 };
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
    const ticket = this.acquire();
    return new PocketSphinxStream(ticket, grammarFor(options.hints), options.onPartial, this.options.partialIntervalMs ?? 200, {
      release: (decoder) => this.release(decoder),
      discard: (decoder) => this.discard(decoder),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('the speech recogniser is closed'));
    await Promise.all(this.idle.splice(0).map((decoder) => decoder.free()));
  }

  /** An idle decoder, a new one while under the bound, or a place in the queue. */
  private acquire(): DecoderTicket {
    const idle = this.idle.pop();
    if (idle) {
      this.busy += 1;
      return { decoder: Promise.resolve(idle), abandon: () => false };
    }
    if (this.busy + this.idle.length < (this.options.maxDecoders ?? 4)) {
      this.busy += 1;
      return { decoder: this.createDecoder(), abandon: () => false };
    }
    let waiter!: DecoderWaiter;
    const decoder = new Promise<Decoder>((resolve, reject) => {
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

  private async createDecoder(): Promise<Decoder> {
    try {
      return await Decoder.create(this.files);
    } catch (error) {
      this.busy -= 1;
      this.serveWaiting();
      throw error;
    }
  }

  /** A decoder whose native call failed is not trusted again: freed, not pooled (a waiting stream gets a new one). */
  private discard(decoder: Decoder): void {
    this.busy = Math.max(0, this.busy - 1);
    void decoder.free();
    this.serveWaiting();
  }

  private release(decoder: Decoder): void {
    const next = this.closed ? undefined : this.waiting.shift();
    // Handed straight to the next stream in line: it stays busy.
    if (next) return next.resolve(decoder);
    this.busy = Math.max(0, this.busy - 1);
    if (this.closed || this.idle.length >= (this.options.idleDecoders ?? 2)) void decoder.free();
    else this.idle.push(decoder);
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
  resolve(decoder: Decoder): void;
  reject(error: Error): void;
}

/** A decoder to come; `abandon` gives up a place in the queue (true if the stream was still waiting). */
interface DecoderTicket {
  readonly decoder: Promise<Decoder>;
  abandon(): boolean;
}

const CHUNK_SAMPLES = SAMPLE_RATE / 2;

/** One utterance on one decoder. Native calls are chained so they never overlap. */
class PocketSphinxStream implements SttStream {
  private readonly pending: Int16Array[] = [];
  /** Everything heard, kept for the exact final pass of a constrained utterance. */
  private readonly heard: Int16Array[] = [];
  private chain: Promise<Decoder>;
  /** The decoder itself, kept apart from the chain so a failed native call cannot lose it. */
  private readonly acquired: Promise<Decoder>;
  private draining = false;
  private lastPartial = '';
  private lastPartialAt = 0;
  private state: 'open' | 'finishing' | 'done' = 'open';
  /** Cancelled while finishing: the decode stops at the next chunk boundary. */
  private cancelled = false;

  constructor(
    private readonly ticket: DecoderTicket,
    private readonly grammar: ReturnType<typeof grammarFor>,
    private readonly onPartial: ((text: string) => void) | undefined,
    private readonly partialIntervalMs: number,
    private readonly pool: { release(decoder: Decoder): void; discard(decoder: Decoder): void },
  ) {
    const decoder = ticket.decoder;
    this.acquired = decoder;
    this.acquired.catch(() => undefined);
    this.chain = decoder.then((ready) => {
      // An unusable grammar (a word outside the dictionary) falls back to the language model.
      if (!ready.useGrammar(grammar)) ready.useGrammar(undefined);
      ready.startUtterance();
      return ready;
    });
    this.chain.catch(() => undefined);
  }

  push(samples: Int16Array): void {
    if (this.state !== 'open' || samples.length === 0) return;
    const copy = samples.slice();
    this.pending.push(copy);
    if (this.grammar) this.heard.push(copy);
    if (this.draining) return;
    this.draining = true;
    // Coalesce everything queued meanwhile into one native call.
    this.chain = this.chain.then(async (decoder) => {
      this.draining = false;
      // A partial after each chunk (rate-limited): a backlog under load still shows progress.
      await this.processInChunks(decoder, concatPcm(this.pending.splice(0)), () => this.emitPartial(decoder));
      return decoder;
    });
  }

  async finish(): Promise<Transcript> {
    if (this.state !== 'open') throw new Error('this utterance has already been finished or cancelled');
    this.state = 'finishing';
    let decoder: Decoder | undefined;
    try {
      decoder = await this.chain;
      await this.processInChunks(decoder, concatPcm(this.pending.splice(0)));
      if (this.cancelled) throw new Error('the transcription was cancelled');
      const live = await decoder.endUtterance();
      // Constrained answers are short and cheap to decode again: do it in one normalised pass
      // so "march fifth" never depends on the previous caller's audio. Open speech keeps the live result.
      return this.grammar ? await decoder.decodeWhole(concatPcm(this.heard)) : live;
    } catch (error) {
      // Cancelled, the decoder is sound: end the utterance and pool it again.
      if (decoder && this.cancelled) {
        const cancelled = decoder;
        decoder = undefined;
        void cancelled.endUtterance().then(
          () => this.pool.release(cancelled),
          () => this.pool.discard(cancelled),
        );
        throw error;
      }
      // The decoder failed mid-utterance (or never came): do not pool it again.
      if (decoder) this.pool.discard(decoder);
      else void this.acquired.then((acquired) => this.pool.discard(acquired), () => undefined);
      decoder = undefined;
      throw error;
    } finally {
      this.state = 'done';
      if (decoder) this.pool.release(decoder);
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
    this.pending.length = 0;
    this.heard.length = 0;
    if (this.ticket.abandon()) {
      this.chain.catch(() => undefined);
      return;
    }
    void this.chain.then(
      async (decoder) => {
        await decoder.endUtterance().catch(() => undefined);
        this.pool.release(decoder);
      },
      () => this.acquired.then((acquired) => this.pool.discard(acquired), () => undefined),
    );
  }

  /**
   * Native decode calls of at most CHUNK_SAMPLES (0.5 s of audio, ~0.15 s of CPU), so a
   * cancelled or timed-out recognition stops within one chunk instead of decoding on.
   */
  private async processInChunks(decoder: Decoder, audio: Int16Array, afterChunk?: () => Promise<void>): Promise<void> {
    for (let offset = 0; offset < audio.length && !this.cancelled && this.state !== 'done'; offset += CHUNK_SAMPLES) {
      await decoder.process(audio.subarray(offset, offset + CHUNK_SAMPLES));
      await afterChunk?.();
    }
  }

  private async emitPartial(decoder: Decoder): Promise<void> {
    if (!this.onPartial || this.state !== 'open') return;
    const now = performance.now();
    if (now - this.lastPartialAt < this.partialIntervalMs) return;
    this.lastPartialAt = now;
    const text = await decoder.hypothesis();
    if (this.state !== 'open') return;
    if (text && text !== this.lastPartial) {
      this.lastPartial = text;
      this.onPartial(text);
    }
  }
}
