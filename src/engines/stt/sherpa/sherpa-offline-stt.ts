import sherpa, { type OfflineRecognizer } from 'sherpa-onnx-node';
import { concatPcm, int16ToFloat32, type PcmAudio } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import type { SpeechToText, SttCapabilities, SttStream, SttStreamOptions, Transcript, TranscriptSegment } from '../speech-to-text.js';
import { SHERPA_STT_FIX, type MoonshineLayout, type WhisperLayout } from './model-layout.js';
import { probeSherpaModel } from '../../sherpa/load-probe.js';

const SAMPLE_RATE = 16_000;
/** Whisper sees at most 30 s per pass; longer audio is recognised in windows a little shorter. */
const WINDOW_SAMPLES = 28 * SAMPLE_RATE;

export interface SherpaOfflineOptions {
  readonly layout: WhisperLayout | MoonshineLayout;
  readonly numThreads: number;
  /** Whisper language code (`en`); ignored by Moonshine. */
  readonly language?: string;
}

/**
 * Whole-utterance recognisers (Whisper, Moonshine) through sherpa-onnx. No partial results:
 * the utterance is decoded once, when it ends, on sherpa's own thread (decodeAsync).
 * Requests to one model are serialised.
 */
export class SherpaOfflineStt implements SpeechToText {
  readonly name: string;
  readonly sampleRate = SAMPLE_RATE;
  readonly capabilities: SttCapabilities = { streaming: false, interimResults: false, hints: false };
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly recognizer: OfflineRecognizer, kind: string) {
    this.name = `sherpa-${kind}`;
  }

  static async create(options: SherpaOfflineOptions): Promise<SherpaOfflineStt> {
    const { layout } = options;
    const model =
      layout.kind === 'whisper'
        ? { whisper: { encoder: layout.encoder, decoder: layout.decoder, language: options.language || 'en', task: 'transcribe' } }
        : { moonshine: { preprocessor: layout.preprocessor, encoder: layout.encoder, uncachedDecoder: layout.uncachedDecoder, cachedDecoder: layout.cachedDecoder } };
    const config = {
      featConfig: { sampleRate: SAMPLE_RATE, featureDim: 80 },
      modelConfig: { ...model, tokens: layout.tokens, numThreads: options.numThreads, provider: 'cpu' as const, debug: 0 },
      decodingMethod: 'greedy_search',
    };
    await probeSherpaModel(`sherpa-${layout.kind}`, 'OfflineRecognizer', config, SHERPA_STT_FIX);
    try {
      const recognizer = await sherpa.OfflineRecognizer.createAsync(config);
      return new SherpaOfflineStt(recognizer, layout.kind);
    } catch (error) {
      throw new EngineUnavailableError(`sherpa-${layout.kind}`, `sherpa-onnx could not load the ${layout.kind} model (${(error as Error).message})`, SHERPA_STT_FIX);
    }
  }

  check(): void {
    if (this.closed) throw new Error('the speech recogniser is closed');
  }

  async transcribe(audio: PcmAudio, options: { signal?: AbortSignal } = {}): Promise<Transcript> {
    if (audio.sampleRate !== SAMPLE_RATE) throw new Error(`sherpa-onnx recognisers need ${SAMPLE_RATE} Hz audio, got ${audio.sampleRate} Hz; resample first`);
    this.check();
    const segments: TranscriptSegment[] = [];
    for (let start = 0; start < audio.samples.length; start += WINDOW_SAMPLES) {
      options.signal?.throwIfAborted();
      const window = audio.samples.subarray(start, start + WINDOW_SAMPLES);
      const text = await this.decode(window);
      if (text !== '') segments.push({ text, startMs: (start / SAMPLE_RATE) * 1000, endMs: ((start + window.length) / SAMPLE_RATE) * 1000 });
    }
    return { text: segments.map((segment) => segment.text).join(' '), segments };
  }

  createStream(_options: SttStreamOptions = {}): SttStream {
    this.check();
    const chunks: Int16Array[] = [];
    let state: 'open' | 'finished' | 'cancelled' = 'open';
    return {
      push: (samples) => {
        if (state === 'open') chunks.push(samples.slice());
      },
      finish: async () => {
        if (state !== 'open') throw new Error(`the utterance was already ${state}`);
        state = 'finished';
        return this.transcribe({ samples: concatPcm(chunks), sampleRate: SAMPLE_RATE });
      },
      cancel: () => {
        state = 'cancelled';
        chunks.length = 0;
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue.catch(() => undefined);
  }

  private async decode(samples: Int16Array): Promise<string> {
    if (samples.length === 0) return '';
    const run = this.queue.catch(() => undefined).then(async () => {
      const stream = this.recognizer.createStream();
      stream.acceptWaveform({ samples: int16ToFloat32(samples), sampleRate: SAMPLE_RATE });
      return this.recognizer.decodeAsync(stream);
    });
    this.queue = run;
    const result = await run;
    return result.text.trim();
  }
}
