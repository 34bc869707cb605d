import { concatPcm, type PcmAudio } from '../audio/pcm.js';
import type { RecognitionHints, SpeechToText, SttStream, SttStreamOptions, Transcript } from './stt/speech-to-text.js';
import type { SynthesisOptions, TextToSpeech } from './tts/text-to-speech.js';

/** What fallback needs of an engine: a health check (the guard's) next to the work. */
interface Checked {
  readonly name: string;
  check(): void;
  close(): Promise<void>;
}

/** Which engine answers now, for `/ready` and the logs. */
export interface EngineStandIn {
  readonly primary: string;
  readonly fallback: string;
  /** Why the primary is not used (its health check's message), or undefined while it is. */
  readonly reason: string | undefined;
}

const healthProblem = (engine: Checked): string | undefined => {
  try {
    engine.check();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
};

/**
 * The choice both fallback engines make: the primary while it is healthy, the fallback when it
 * counts as hung or a call on it fails. A caller's cancellation is never taken for a failure.
 */
class Standby {
  private lastFailure: string | undefined;

  constructor(
    private readonly primary: Checked,
    private readonly fallback: Checked,
    private readonly onFallback: (reason: string) => void,
  ) {}

  standIn(): EngineStandIn {
    return { primary: this.primary.name, fallback: this.fallback.name, reason: healthProblem(this.primary) ?? this.lastFailure };
  }

  /** Ready while either can serve. */
  check(): void {
    if (healthProblem(this.primary) === undefined) return;
    this.fallback.check();
  }

  async run<T>(signal: AbortSignal | undefined, onPrimary: () => Promise<T>, onFallback: () => Promise<T>): Promise<T> {
    const unhealthy = healthProblem(this.primary);
    if (unhealthy === undefined) {
      try {
        const result = await onPrimary();
        this.succeeded();
        return result;
      } catch (error) {
        if (signal?.aborted) throw error;
        this.failed(error);
        return onFallback();
      }
    }
    this.onFallback(unhealthy);
    return onFallback();
  }

  /** Notes the primary's failure; the fallback answers this call. */
  failed(error: unknown): void {
    this.lastFailure = `${this.primary.name} failed: ${(error as Error).message}`;
    this.onFallback(this.lastFailure);
  }

  /** The primary answered: it is not standing down any more. */
  succeeded(): void {
    this.lastFailure = undefined;
  }

  /** The primary counts as hung: the fallback takes the work (undefined while the primary is healthy). */
  hung(): string | undefined {
    const unhealthy = healthProblem(this.primary);
    if (unhealthy !== undefined) this.onFallback(unhealthy);
    return unhealthy;
  }
}

/** Longest utterance kept for a second recogniser: beyond it the fallback hears only the start. */
const MAX_KEPT_SECONDS = 60;

/**
 * A synthesiser with a second one behind it (tts.fallbackEngine): while the primary counts as
 * hung, or when a sentence fails on it, the fallback speaks (in its own voice and rate; the
 * session resamples). A caller's cancellation is never taken for a failure.
 */
export class FallbackTts implements TextToSpeech {
  private readonly standby: Standby;

  constructor(
    private readonly primary: TextToSpeech & Checked,
    private readonly fallback: TextToSpeech & Checked,
    onFallback: (reason: string) => void,
  ) {
    this.standby = new Standby(primary, fallback, onFallback);
  }

  get name(): string {
    return this.primary.name;
  }
  get sampleRate(): number {
    return this.primary.sampleRate;
  }
  get capabilities() {
    return this.primary.capabilities;
  }

  /** The primary's state: `reason` undefined while it answers. */
  standIn(): EngineStandIn {
    return this.standby.standIn();
  }

  check(): void {
    this.standby.check();
  }

  synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    return this.standby.run(
      options.signal,
      () => this.primary.synthesize(text, options),
      // The primary's voice names mean nothing to the fallback: it speaks in its own.
      () => this.fallback.synthesize(text, options.signal ? { signal: options.signal } : {}),
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }
}

/**
 * A recogniser with a second one behind it (stt.fallbackEngine). A stream keeps what it heard
 * (up to a minute); when the primary's final transcript fails, the fallback recognises the same
 * audio, so the caller is not asked to repeat. While the primary counts as hung, the fallback
 * streams instead.
 */
export class FallbackStt implements SpeechToText {
  private readonly standby: Standby;

  constructor(
    private readonly primary: SpeechToText & Checked,
    private readonly fallback: SpeechToText & Checked,
    onFallback: (reason: string) => void,
  ) {
    this.standby = new Standby(primary, fallback, onFallback);
  }

  get name(): string {
    return this.primary.name;
  }
  get sampleRate(): number {
    return this.primary.sampleRate;
  }
  get capabilities() {
    return this.primary.capabilities;
  }
  get pool() {
    return this.primary.pool;
  }

  standIn(): EngineStandIn {
    return this.standby.standIn();
  }

  check(): void {
    this.standby.check();
  }

  transcribe(audio: PcmAudio, options: { hints?: RecognitionHints; signal?: AbortSignal } = {}): Promise<Transcript> {
    return this.standby.run(
      options.signal,
      () => this.primary.transcribe(audio, options),
      () => this.fallback.transcribe(audio, options),
    );
  }

  createStream(options: SttStreamOptions = {}): SttStream {
    if (this.standby.hung() !== undefined) return this.fallback.createStream(options);
    const inner = this.primary.createStream(options);
    const heard: Int16Array[] = [];
    let kept = 0;
    const limit = MAX_KEPT_SECONDS * this.primary.sampleRate;
    let cancelled = false;
    return {
      push: (samples) => {
        if (kept < limit) {
          const part = samples.subarray(0, limit - kept);
          heard.push(Int16Array.from(part));
          kept += part.length;
        }
        inner.push(samples);
      },
      cancel: () => {
        cancelled = true;
        heard.length = 0;
        inner.cancel();
      },
      finish: async () => {
        try {
          const transcript = await inner.finish();
          this.standby.succeeded();
          return transcript;
        } catch (error) {
          if (cancelled) throw error;
          this.standby.failed(error);
          return this.fallback.transcribe({ samples: concatPcm(heard), sampleRate: this.primary.sampleRate }, options.hints ? { hints: options.hints } : {});
        } finally {
          for (const part of heard) part.fill(0);
          heard.length = 0;
        }
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }
}
