import type { PcmAudio } from '../audio/pcm.js';
import { resample } from '../audio/resample.js';
import { EngineGuard } from './engine-guard.js';
import { splitLongAudio } from '../audio/split-long-audio.js';
import type { RecognitionHints, SpeechToText, SttStream, SttStreamOptions, Transcript, TranscriptSegment } from './stt/speech-to-text.js';
import type { SynthesisOptions, TextToSpeech } from './tts/text-to-speech.js';
import type { VadEvent, VadStream, VadStreamOptions, VoiceActivityDetector } from './vad/voice-activity.js';

/** What every guarded engine passes through unchanged from the engine it wraps. */
interface WrappedEngine {
  readonly name: string;
  readonly sampleRate: number;
  check?(): void;
  close?(): Promise<void>;
}

/** The part every guarded engine shares: its name, rate and health come from the engine and the guard. */
abstract class GuardedEngine<Inner extends WrappedEngine> {
  constructor(protected readonly inner: Inner, readonly guard: EngineGuard) {}

  get name(): string {
    return this.inner.name;
  }
  get sampleRate(): number {
    return this.inner.sampleRate;
  }

  check(): void {
    this.inner.check?.();
    this.guard.check();
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

/**
 * A recogniser behind the engine guard: input resampled to its rate once, each call bounded,
 * timed, cancellable and counted. (HTTP retries live in the remote client, which knows
 * Retry-After; a streamed utterance cannot be replayed, so it is never retried.)
 */
export class GuardedStt extends GuardedEngine<SpeechToText> implements SpeechToText {
  get capabilities() {
    return this.inner.capabilities;
  }

  get pool() {
    return this.inner.pool;
  }

  /**
   * Any rate in; resampled here. Long recordings are recognised in pieces of at most 20 s cut at
   * pauses (each piece its own guarded call, its limit growing with its length; units: seconds).
   */
  async transcribe(audio: PcmAudio, options: { hints?: RecognitionHints; signal?: AbortSignal } = {}): Promise<Transcript> {
    const input = resample(audio, this.inner.sampleRate);
    const pieces = splitLongAudio(input);
    // Pieces are independent: recognised side by side, as many at once as the guard has slots;
    // when one fails, the others are cancelled (running or still queued).
    const group = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, group.signal]) : group.signal;
    const transcripts = await Promise.all(
      pieces.map((piece) =>
        this.guard
          .run('stt.transcribe', { units: piece.audio.samples.length / piece.audio.sampleRate, what: 'a transcription', signal }, (attempt) =>
            this.inner.transcribe(piece.audio, { ...(options.hints ? { hints: options.hints } : {}), signal: attempt }),
          )
          .catch((error: unknown) => {
            // Siblings are cancelled with their own reason, so one timeout counts once.
            if (!group.signal.aborted) group.abort(new Error('another piece of this recording failed', { cause: error }));
            throw error;
          }),
      ),
    );
    const texts = transcripts.map((transcript) => transcript.text).filter(Boolean);
    const segments: TranscriptSegment[] = transcripts.flatMap((transcript, index) => {
      const offsetMs = (pieces[index] as { offsetMs: number }).offsetMs;
      return transcript.segments.map((segment) => ({ ...segment, startMs: segment.startMs + offsetMs, endMs: segment.endMs + offsetMs }));
    });
    return { text: texts.join(' '), segments };
  }

  createStream(options: SttStreamOptions = {}): SttStream {
    const inner = this.inner.createStream(options);
    let heardSamples = 0;
    return {
      push: (samples) => {
        heardSamples += samples.length;
        inner.push(samples);
      },
      cancel: () => inner.cancel(),
      // Streams decode as they listen, one per session (bounded by session limits): no slot, no retry.
      finish: () =>
        this.guard.run('stt.final', { units: heardSamples / this.inner.sampleRate, what: 'the final transcript', slot: false, retry: false }, (signal) => {
          signal.addEventListener('abort', () => inner.cancel(), { once: true });
          return inner.finish();
        }),
    };
  }
}

/** The synthesiser counterpart: each sentence bounded, timed, cancellable (the process is killed), retried once on failure. */
export class GuardedTts extends GuardedEngine<TextToSpeech> implements TextToSpeech {
  get capabilities() {
    return this.inner.capabilities;
  }

  /** The time limit grows with the text (units: characters). */
  synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    return this.guard.run('tts.synthesize', { units: text.length, what: 'a sentence', ...(options.signal ? { signal: options.signal } : {}) }, (signal) =>
      this.inner.synthesize(text, { ...options, signal }),
    );
  }
}

/**
 * The voice detector behind the guard: each frame's native work is measured and counted
 * (stage `vad.push`; units: seconds of audio, so a detector far slower than real time
 * shows up in health). Frames are too small and too frequent to queue.
 */
export class GuardedVad extends GuardedEngine<VoiceActivityDetector> implements VoiceActivityDetector {
  createStream(options?: VadStreamOptions): VadStream {
    const inner = this.inner.createStream(options);
    const rate = this.inner.sampleRate;
    return {
      push: (samples): VadEvent[] => this.guard.measure('vad.push', samples.length / rate, () => inner.push(samples)),
      get speaking() {
        return inner.speaking;
      },
      get currentSpeechMs() {
        return inner.currentSpeechMs;
      },
      get silentMs() {
        return inner.silentMs;
      },
      endSpeech: () => inner.endSpeech(),
      close: () => inner.close(),
    };
  }
}
