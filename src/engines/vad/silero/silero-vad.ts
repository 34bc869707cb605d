import { int16ToFloat32 } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import type { VadEvent, VadStream, VadStreamOptions, VoiceActivityDetector } from '../voice-activity.js';
import { findSileroModel, sileroModelCandidates } from './model-path.js';
import { SILERO_WINDOW, SileroModel, type SileroState } from './silero-model.js';

export interface SileroVadOptions {
  readonly model: string;
  readonly modelsDir: string;
  readonly threshold: number;
  readonly minSpeechMs: number;
  /** Silence that ends a speech run (and so the caller's turn). */
  readonly minSilenceMs: number;
}

const SAMPLE_RATE = 16_000;
/** Once a speech run passes this, a short pause ends it (a caller who never pauses still gets a turn). */
const MAX_SPEECH_MS = 30_000;
const LONG_RUN_SILENCE_MS = 100;
const LONG_RUN_THRESHOLD = 0.9;
/** Below threshold but above this margin under it, a speaker keeps speaking (hysteresis against dips). */
const RELEASE_MARGIN = 0.15;

/** Silero VAD: one model shared by every stream (ONNX Runtime, loaded once); each stream holds only its recurrent state. */
export class SileroVad implements VoiceActivityDetector {
  readonly name = 'silero';
  readonly sampleRate = SAMPLE_RATE;

  private constructor(private readonly modelPath: string, private readonly shared: SileroModel, private readonly options: SileroVadOptions) {}

  /** Checks the model file first and loads it once. */
  static create(options: SileroVadOptions): SileroVad {
    const modelPath = findSileroModel(options.model, options.modelsDir);
    if (!modelPath) {
      throw new EngineUnavailableError(
        'silero',
        `Silero VAD model not found (looked in ${sileroModelCandidates(options.model, options.modelsDir).join(', ')})`,
        'run `harken models pull silero-vad`, or set HARKEN_VAD_MODEL to a silero_vad.onnx file',
      );
    }
    let shared: SileroModel;
    try {
      shared = SileroModel.load(modelPath);
    } catch (error) {
      throw new EngineUnavailableError(
        'silero',
        `the Silero VAD model ${modelPath} could not be loaded (${error instanceof Error ? error.message : String(error)})`,
        'run `harken models pull silero-vad`, or set HARKEN_VAD_MODEL to a Silero v4 or v5 silero_vad.onnx file',
      );
    }
    return new SileroVad(modelPath, shared, options);
  }

  get model(): string {
    return this.modelPath;
  }

  createStream(options: VadStreamOptions = {}): VadStream {
    const tuned = { ...this.options, ...(options.threshold !== undefined ? { threshold: options.threshold } : {}), ...(options.minSilenceMs !== undefined ? { minSilenceMs: options.minSilenceMs } : {}) };
    return new SileroVadStream(this.shared.createState(), tuned);
  }
}

/**
 * Speech starts after `minSpeechMs` of windows above the threshold and ends after
 * `minSilenceMs` of windows below it (minus a margin while speaking).
 */
class SileroVadStream implements VadStream {
  private pending = new Int16Array(0);
  private processedSamples = 0;
  /** Sample count at the first window of a candidate run (not yet speech). */
  private candidateSince: number | undefined;
  /** Sample count at the first quiet window while speaking. */
  private quietSince: number | undefined;
  private speechDetectedAtMs: number | undefined;
  private closed = false;

  constructor(private readonly state: SileroState, private readonly options: SileroVadOptions) {}

  get speaking(): boolean {
    return this.speechDetectedAtMs !== undefined;
  }

  /** Detection lags the real start by minSpeechMs, so count that in. */
  get currentSpeechMs(): number {
    if (this.speechDetectedAtMs === undefined) return 0;
    return this.nowMs() - this.speechDetectedAtMs + this.options.minSpeechMs;
  }

  get silentMs(): number {
    if (this.speechDetectedAtMs === undefined || this.quietSince === undefined) return 0;
    return this.samplesToMs(this.processedSamples - this.quietSince);
  }

  endSpeech(): VadEvent | undefined {
    if (this.speechDetectedAtMs === undefined) return undefined;
    const atMs = this.nowMs();
    const event: VadEvent = { type: 'speech_end', atMs, speechMs: atMs - this.speechDetectedAtMs + this.options.minSpeechMs - this.silentMs };
    this.speechDetectedAtMs = undefined;
    this.candidateSince = undefined;
    this.quietSince = undefined;
    return event;
  }

  push(samples: Int16Array): VadEvent[] {
    if (this.closed) return [];
    const events: VadEvent[] = [];
    const joined = new Int16Array(this.pending.length + samples.length);
    joined.set(this.pending);
    joined.set(samples, this.pending.length);
    let offset = 0;
    for (; offset + SILERO_WINDOW <= joined.length; offset += SILERO_WINDOW) {
      const probability = this.state.probability(int16ToFloat32(joined.subarray(offset, offset + SILERO_WINDOW)));
      this.processedSamples += SILERO_WINDOW;
      const event = this.decide(probability);
      if (event) events.push(event);
    }
    this.pending = joined.slice(offset);
    return events;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.state.release();
  }

  private decide(probability: number): VadEvent | undefined {
    const now = this.processedSamples;
    const longRun = this.currentSpeechMs > MAX_SPEECH_MS;
    const threshold = longRun ? LONG_RUN_THRESHOLD : this.options.threshold;
    if (this.speechDetectedAtMs === undefined) {
      if (probability <= threshold) {
        this.candidateSince = undefined;
        return undefined;
      }
      this.candidateSince ??= now;
      if (this.samplesToMs(now - this.candidateSince) < this.options.minSpeechMs) return undefined;
      this.speechDetectedAtMs = this.nowMs();
      this.quietSince = undefined;
      return { type: 'speech_start', atMs: this.speechDetectedAtMs };
    }
    if (probability > threshold) this.quietSince = undefined;
    if (probability > threshold - RELEASE_MARGIN) return undefined;
    this.quietSince ??= now;
    if (this.samplesToMs(now - this.quietSince) < (longRun ? LONG_RUN_SILENCE_MS : this.options.minSilenceMs)) return undefined;
    const atMs = this.nowMs();
    const event: VadEvent = { type: 'speech_end', atMs, speechMs: atMs - this.speechDetectedAtMs + this.options.minSpeechMs - this.samplesToMs(now - this.quietSince) };
    this.speechDetectedAtMs = undefined;
    this.candidateSince = undefined;
    this.quietSince = undefined;
    return event;
  }

  private samplesToMs(samples: number): number {
    return (samples / SAMPLE_RATE) * 1000;
  }

  private nowMs(): number {
    return Math.round(this.samplesToMs(this.processedSamples));
  }
}
