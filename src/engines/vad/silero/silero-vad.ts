import sherpa, { type Vad } from 'sherpa-onnx-node';
import { int16ToFloat32 } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import type { VadEvent, VadStream, VoiceActivityDetector } from '../voice-activity.js';
import { findSileroModel, sileroModelCandidates } from './model-path.js';

export interface SileroVadOptions {
  readonly model: string;
  readonly modelsDir: string;
  readonly threshold: number;
  readonly minSpeechMs: number;
  /** Silence that ends a speech run (and so the caller's turn). */
  readonly minSilenceMs: number;
}

const SAMPLE_RATE = 16_000;
const WINDOW = 512; // Silero's frame at 16 kHz (32 ms)
/**
 * Reset detectors kept for the next session (each ~7.8 MB of native memory: its own ONNX
 * session and buffer; sherpa-onnx cannot share one model between detectors). Sessions take
 * one only while audio flows, so a few cover the churn without holding memory for sessions gone.
 */
const MAX_IDLE_DETECTORS = 4;
/**
 * Audio a detector buffers (the speech run in progress): 10 s covers nearly every utterance at
 * 0.64 MB; a longer one makes sherpa-onnx double it (one line on stderr, no audio lost).
 */
const VAD_BUFFER_SECONDS = 10;

/** Silero VAD through sherpa-onnx: one native detector per stream (they keep state), pooled between streams. */
export class SileroVad implements VoiceActivityDetector {
  readonly name = 'silero';
  readonly sampleRate = SAMPLE_RATE;
  /** Reset detectors kept for reuse: loading the model takes ~35 ms of event-loop time. */
  private readonly idle: Vad[] = [];

  private constructor(private readonly modelPath: string, private readonly options: SileroVadOptions) {}

  /** Checks the model file first: sherpa-onnx does not throw on a missing model, it silently detects nothing. */
  static create(options: SileroVadOptions): SileroVad {
    const modelPath = findSileroModel(options.model, options.modelsDir);
    if (!modelPath) {
      throw new EngineUnavailableError(
        'silero',
        `Silero VAD model not found (looked in ${sileroModelCandidates(options.model, options.modelsDir).join(', ')})`,
        'run `harken models pull silero-vad`, or set HARKEN_VAD_MODEL to a silero_vad.onnx file',
      );
    }
    return new SileroVad(modelPath, options);
  }

  get model(): string {
    return this.modelPath;
  }

  createStream(): VadStream {
    return new SileroVadStream(this.idle.pop() ?? this.newDetector(), this.options, (native) => {
      if (this.idle.length < MAX_IDLE_DETECTORS) this.idle.push(native);
    });
  }

  private newDetector(): Vad {
    return new sherpa.Vad(
      {
        sileroVad: {
          model: this.modelPath,
          threshold: this.options.threshold,
          minSpeechDuration: this.options.minSpeechMs / 1000,
          minSilenceDuration: this.options.minSilenceMs / 1000,
          maxSpeechDuration: 30,
          windowSize: WINDOW,
        },
        sampleRate: SAMPLE_RATE,
        numThreads: 1,
        debug: 0,
      },
      VAD_BUFFER_SECONDS,
    );
  }
}

class SileroVadStream implements VadStream {
  private pending = new Int16Array(0);
  private processedSamples = 0;
  private speechDetectedAtMs: number | undefined;
  private closed = false;

  constructor(private readonly native: Vad, private readonly options: SileroVadOptions, private readonly release: (native: Vad) => void) {}

  get speaking(): boolean {
    return this.speechDetectedAtMs !== undefined;
  }

  /** Detection lags the real start by minSpeechMs, so count that in. */
  get currentSpeechMs(): number {
    if (this.speechDetectedAtMs === undefined) return 0;
    return this.nowMs() - this.speechDetectedAtMs + this.options.minSpeechMs;
  }

  push(samples: Int16Array): VadEvent[] {
    if (this.closed) return [];
    const events: VadEvent[] = [];
    const joined = new Int16Array(this.pending.length + samples.length);
    joined.set(this.pending);
    joined.set(samples, this.pending.length);
    let offset = 0;
    for (; offset + WINDOW <= joined.length; offset += WINDOW) {
      this.native.acceptWaveform(int16ToFloat32(joined.subarray(offset, offset + WINDOW)));
      this.processedSamples += WINDOW;
      // Finished segments are not needed (we stream audio to STT ourselves); drop them so the buffer stays small.
      while (!this.native.isEmpty()) this.native.pop();
      const detected = this.native.isDetected();
      if (detected && this.speechDetectedAtMs === undefined) {
        this.speechDetectedAtMs = this.nowMs();
        events.push({ type: 'speech_start', atMs: this.speechDetectedAtMs });
      } else if (!detected && this.speechDetectedAtMs !== undefined) {
        const atMs = this.nowMs();
        events.push({ type: 'speech_end', atMs, speechMs: atMs - this.speechDetectedAtMs + this.options.minSpeechMs - this.options.minSilenceMs });
        this.speechDetectedAtMs = undefined;
      }
    }
    this.pending = joined.slice(offset);
    return events;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.reset();
    this.release(this.native);
  }

  private nowMs(): number {
    return Math.round((this.processedSamples / SAMPLE_RATE) * 1000);
  }
}
