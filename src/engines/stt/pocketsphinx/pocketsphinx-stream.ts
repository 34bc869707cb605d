import { concatPcm } from '../../../audio/pcm.js';
import type { SttStream, Transcript } from '../speech-to-text.js';
import type { DecodedUtterance } from './decoder.js';
import { DecoderLostError, type DecoderProcess } from './decoder-process.js';
import type { Grammar } from './grammars.js';

const SAMPLE_RATE = 16_000;

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

/** A decoder to come; `abandon` gives up a place in the queue (true if the stream was still waiting). */
export interface DecoderTicket {
  readonly decoder: Promise<DecoderProcess>;
  abandon(): boolean;
}

/** What a stream needs of the pool. */
export interface DecoderLender {
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
export class PocketSphinxStream implements SttStream {
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
