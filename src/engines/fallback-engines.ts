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

/** Longest utterance kept for a second recogniser: beyond it the fallback hears only the start. */
const MAX_KEPT_SECONDS = 60;

/**
 * A synthesiser with a second one behind it (tts.fallbackEngine): while the primary counts as
 * hung, or when a sentence fails on it, the fallback speaks (in its own voice and rate; the
 * session resamples). A caller's cancellation is never taken for a failure.
 */
export class FallbackTts implements TextToSpeech {
  private lastFailure: string | undefined;

  constructor(
    private readonly primary: TextToSpeech & Checked,
    private readonly fallback: TextToSpeech & Checked,
    private readonly onFallback: (reason: string) => void,
  ) {}

  get name(): string {
    return this.primary.name;
  }
  get sampleRate(): number {
    return this.primary.sampleRate;
  }
  get capabilities() {
    return this.primary.capabilities;
  }

  /** The primary's state: undefined while it answers. */
  standIn(): EngineStandIn {
    return { primary: this.primary.name, fallback: this.fallback.name, reason: healthProblem(this.primary) ?? this.lastFailure };
  }

  /** Ready while either can speak. */
  check(): void {
    if (healthProblem(this.primary) === undefined) return;
    this.fallback.check();
  }

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    const unhealthy = healthProblem(this.primary);
    if (unhealthy === undefined) {
      try {
        const audio = await this.primary.synthesize(text, options);
        this.lastFailure = undefined;
        return audio;
      } catch (error) {
        if (options.signal?.aborted) throw error;
        this.lastFailure = `${this.primary.name} failed: ${(error as Error).message}`;
      }
    }
    this.onFallback(unhealthy ?? this.lastFailure ?? 'unknown');
    // The primary's voice names mean nothing to the fallback: it speaks in its own.
    return this.fallback.synthesize(text, options.signal ? { signal: options.signal } : {});
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
  private lastFailure: string | undefined;

  constructor(
    private readonly primary: SpeechToText & Checked,
    private readonly fallback: SpeechToText & Checked,
    private readonly onFallback: (reason: string) => void,
  ) {}

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
    return { primary: this.primary.name, fallback: this.fallback.name, reason: healthProblem(this.primary) ?? this.lastFailure };
  }

  check(): void {
    if (healthProblem(this.primary) === undefined) return;
    this.fallback.check();
  }

  async transcribe(audio: PcmAudio, options: { hints?: RecognitionHints; signal?: AbortSignal } = {}): Promise<Transcript> {
    const unhealthy = healthProblem(this.primary);
    if (unhealthy === undefined) {
      try {
        const transcript = await this.primary.transcribe(audio, options);
        this.lastFailure = undefined;
        return transcript;
      } catch (error) {
        if (options.signal?.aborted) throw error;
        this.lastFailure = `${this.primary.name} failed: ${(error as Error).message}`;
      }
    }
    this.onFallback(unhealthy ?? this.lastFailure ?? 'unknown');
    return this.fallback.transcribe(audio, options);
  }

  createStream(options: SttStreamOptions = {}): SttStream {
    const unhealthy = healthProblem(this.primary);
    if (unhealthy !== undefined) {
      this.onFallback(unhealthy);
      return this.fallback.createStream(options);
    }
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
          this.lastFailure = undefined;
          return transcript;
        } catch (error) {
          if (cancelled) throw error;
          this.lastFailure = `${this.primary.name} failed: ${(error as Error).message}`;
          this.onFallback(this.lastFailure);
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
