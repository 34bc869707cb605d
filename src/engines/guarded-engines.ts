import { performance } from 'node:perf_hooks';
import type { PcmAudio } from '../audio/pcm.js';
import { resample } from '../audio/resample.js';
import type { EngineStats } from './engine-stats.js';
import type { RecognitionHints, SpeechToText, SttStream, SttStreamOptions, Transcript } from './stt/speech-to-text.js';
import type { SynthesisOptions, TextToSpeech } from './tts/text-to-speech.js';

/** An engine call that did not finish in time. */
export class EngineTimeoutError extends Error {
  constructor(readonly engine: string, readonly stage: string, readonly timeoutMs: number) {
    super(`${engine} did not finish ${stage} within ${timeoutMs} ms`);
    this.name = 'EngineTimeoutError';
  }
}

export interface GuardOptions {
  /** Longest one call may take. */
  readonly timeoutMs: number;
  /** Extra attempts after a failure (not after a timeout or an abort). */
  readonly retries: number;
  /** After this many timeouts in a row the engine reports itself unhealthy (readiness fails). */
  readonly unhealthyAfterTimeouts: number;
  readonly stats: EngineStats;
}

const withTimeout = <T>(work: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timeoutMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });

/** Counts timeouts in a row, for readiness. */
class Health {
  private timeoutsInARow = 0;
  constructor(private readonly engine: string, private readonly limit: number) {}
  succeeded(): void {
    this.timeoutsInARow = 0;
  }
  timedOut(): void {
    this.timeoutsInARow += 1;
  }
  check(): void {
    if (this.timeoutsInARow >= this.limit) throw new Error(`${this.engine} timed out ${this.timeoutsInARow} times in a row`);
  }
}

/**
 * What every recogniser gets, once, whatever the engine: input resampled to its rate, a time
 * limit on each result, and per-stage statistics. (HTTP retries live in the remote client,
 * which knows Retry-After; a streamed utterance cannot be replayed.)
 */
export class GuardedStt implements SpeechToText {
  private readonly health: Health;

  constructor(private readonly inner: SpeechToText, private readonly options: GuardOptions) {
    this.health = new Health(inner.name, options.unhealthyAfterTimeouts);
  }

  get name(): string {
    return this.inner.name;
  }
  get capabilities() {
    return this.inner.capabilities;
  }
  get sampleRate(): number {
    return this.inner.sampleRate;
  }

  check(): void {
    this.inner.check?.();
    this.health.check();
  }

  /** Any rate in; resampled here. Retried on failure (the audio is all there). */
  async transcribe(audio: PcmAudio, options: { hints?: RecognitionHints; signal?: AbortSignal } = {}): Promise<Transcript> {
    const input = resample(audio, this.inner.sampleRate);
    const stage = this.options.stats.stage('stt.transcribe');
    for (let attempt = 0; ; attempt += 1) {
      stage.calls += 1;
      const started = performance.now();
      try {
        const transcript = await withTimeout(this.inner.transcribe(input, options), this.options.timeoutMs, () => new EngineTimeoutError(this.name, 'a transcription', this.options.timeoutMs));
        stage.record(performance.now() - started);
        this.health.succeeded();
        return transcript;
      } catch (error) {
        if (error instanceof EngineTimeoutError) {
          stage.timeouts += 1;
          this.health.timedOut();
          throw error;
        }
        stage.failures += 1;
        if (options.signal?.aborted || attempt >= this.options.retries) throw error;
        stage.retries += 1;
      }
    }
  }

  createStream(options: SttStreamOptions = {}): SttStream {
    const inner = this.inner.createStream(options);
    const stage = this.options.stats.stage('stt.final');
    return {
      push: (samples) => inner.push(samples),
      cancel: () => inner.cancel(),
      finish: async () => {
        stage.calls += 1;
        const started = performance.now();
        try {
          const transcript = await withTimeout(inner.finish(), this.options.timeoutMs, () => {
            inner.cancel();
            return new EngineTimeoutError(this.name, 'the final transcript', this.options.timeoutMs);
          });
          stage.record(performance.now() - started);
          this.health.succeeded();
          return transcript;
        } catch (error) {
          if (error instanceof EngineTimeoutError) {
            stage.timeouts += 1;
            this.health.timedOut();
          } else {
            stage.failures += 1;
          }
          throw error;
        }
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The synthesiser counterpart: a time limit per sentence, retries of failed sentences, statistics. */
export class GuardedTts implements TextToSpeech {
  private readonly health: Health;

  constructor(private readonly inner: TextToSpeech, private readonly options: GuardOptions) {
    this.health = new Health(inner.name, options.unhealthyAfterTimeouts);
  }

  get name(): string {
    return this.inner.name;
  }
  get capabilities() {
    return this.inner.capabilities;
  }
  get sampleRate(): number {
    return this.inner.sampleRate;
  }

  check(): void {
    this.inner.check?.();
    this.health.check();
  }

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    const stage = this.options.stats.stage('tts.synthesize');
    for (let attempt = 0; ; attempt += 1) {
      stage.calls += 1;
      const started = performance.now();
      const deadline = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
      try {
        const audio = await withTimeout(this.inner.synthesize(text, { ...options, signal }), this.options.timeoutMs, () => {
          const error = new EngineTimeoutError(this.name, 'a sentence', this.options.timeoutMs);
          deadline.abort(error);
          return error;
        });
        stage.record(performance.now() - started);
        this.health.succeeded();
        return audio;
      } catch (error) {
        if (error instanceof EngineTimeoutError) {
          stage.timeouts += 1;
          this.health.timedOut();
          throw error;
        }
        if (options.signal?.aborted) throw error;
        stage.failures += 1;
        if (attempt >= this.options.retries) throw error;
        stage.retries += 1;
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
