import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sherpa, { type OfflineTts } from 'sherpa-onnx-node';
import { float32ToInt16, type PcmAudio } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import type { SynthesisOptions, TextToSpeech } from '../text-to-speech.js';

export interface SherpaVitsOptions {
  /** A Piper/VITS model folder: one `*.onnx`, `tokens.txt`, and usually `espeak-ng-data/`. */
  readonly modelDir: string;
  /** espeak-ng data used when the folder has none (Debian: espeak-ng-data). */
  readonly fallbackDataDir: string;
  readonly numThreads?: number;
}

const PULL_FIX = 'run `harken models pull vits-piper-en_US-amy-low` (or set HARKEN_TTS_SHERPA_MODEL_DIR to a Piper/VITS model folder)';

/** Finds the model's files; a missing piece is an EngineUnavailableError naming it. */
export const vitsFiles = (options: SherpaVitsOptions): { model: string; tokens: string; dataDir: string } => {
  if (!existsSync(options.modelDir)) throw new EngineUnavailableError('sherpa-vits', `TTS model folder ${options.modelDir} does not exist`, PULL_FIX);
  const onnx = readdirSync(options.modelDir).filter((name) => name.endsWith('.onnx'));
  if (onnx.length !== 1) throw new EngineUnavailableError('sherpa-vits', `TTS model folder ${options.modelDir} must hold exactly one .onnx file (found ${onnx.length})`, PULL_FIX);
  const tokens = join(options.modelDir, 'tokens.txt');
  if (!existsSync(tokens)) throw new EngineUnavailableError('sherpa-vits', `${tokens} is missing`, PULL_FIX);
  const bundled = join(options.modelDir, 'espeak-ng-data');
  const dataDir = existsSync(bundled) ? bundled : options.fallbackDataDir;
  if (!existsSync(dataDir)) {
    throw new EngineUnavailableError('sherpa-vits', `espeak-ng data not found (${bundled}, ${options.fallbackDataDir})`, 'install the Debian package espeak-ng-data');
  }
  return { model: join(options.modelDir, onnx[0] as string), tokens, dataDir };
};

/**
 * Piper / VITS voices through sherpa-onnx (models from `harken models pull`). Generation runs
 * on sherpa's own thread (generateAsync); requests to one model are serialised.
 */
export class SherpaVitsTts implements TextToSpeech {
  readonly name = 'sherpa-vits';
  readonly capabilities: { voices: readonly string[] };
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly tts: OfflineTts) {
    this.capabilities = { voices: Array.from({ length: Math.max(1, tts.numSpeakers) }, (_, index) => String(index)) };
  }

  get sampleRate(): number {
    return this.tts.sampleRate;
  }

  static async create(options: SherpaVitsOptions): Promise<SherpaVitsTts> {
    const files = vitsFiles(options);
    const tts = await sherpa.OfflineTts.createAsync({
      model: { vits: files, numThreads: options.numThreads ?? 1, provider: 'cpu', debug: 0 },
      maxNumSentences: 1,
    });
    return new SherpaVitsTts(tts);
  }

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    options.signal?.throwIfAborted();
    const speaker = Number(options.voice ?? '0');
    if (!Number.isInteger(speaker) || speaker < 0 || speaker >= this.capabilities.voices.length) {
      throw new Error(`this model has no speaker "${options.voice}"; speakers: 0–${this.capabilities.voices.length - 1}`);
    }
    const input = text.trim();
    if (input === '') return { samples: new Int16Array(0), sampleRate: this.sampleRate };
    const run = this.queue.catch(() => undefined).then(() => this.tts.generateAsync({ text: input, sid: speaker, speed: 1 }));
    this.queue = run;
    const wave = await run;
    options.signal?.throwIfAborted();
    return { samples: float32ToInt16(wave.samples), sampleRate: wave.sampleRate };
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
  }
}
