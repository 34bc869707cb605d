import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sherpa, { type OfflineTts, type OfflineTtsConfig } from 'sherpa-onnx-node';
import { float32ToInt16, type PcmAudio } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import type { SynthesisOptions, TextToSpeech } from '../text-to-speech.js';
import { probeSherpaModel } from '../../sherpa/load-probe.js';

export interface SherpaTtsOptions {
  /** A Piper/VITS folder (one `*.onnx`, `tokens.txt`) or a Kokoro folder (`model.onnx`, `voices.bin`, `tokens.txt`). */
  readonly modelDir: string;
  /** espeak-ng data used when the folder has none (Debian: espeak-ng-data). */
  readonly fallbackDataDir: string;
  readonly numThreads?: number;
}

export type SherpaTtsLayout =
  | { readonly kind: 'vits'; readonly model: string; readonly tokens: string; readonly dataDir: string }
  | { readonly kind: 'kokoro'; readonly model: string; readonly voices: string; readonly tokens: string; readonly dataDir: string };

const PULL_FIX = 'run `harken models pull vits-piper-en_US-amy-low` (or kokoro-en-v0_19), or set HARKEN_TTS_SHERPA_MODEL_DIR to a Piper/VITS or Kokoro model folder';

/** Recognises a Piper/VITS or Kokoro release folder; a missing piece is an EngineUnavailableError naming it. */
export const detectSherpaTtsLayout = (options: SherpaTtsOptions): SherpaTtsLayout => {
  const dir = options.modelDir;
  if (!existsSync(dir)) throw new EngineUnavailableError('sherpa', `TTS model folder ${dir} does not exist`, PULL_FIX);
  const onnx = readdirSync(dir).filter((name) => name.endsWith('.onnx'));
  if (onnx.length !== 1) throw new EngineUnavailableError('sherpa', `TTS model folder ${dir} must hold exactly one .onnx file (found ${onnx.length})`, PULL_FIX);
  const tokens = join(dir, 'tokens.txt');
  if (!existsSync(tokens)) throw new EngineUnavailableError('sherpa', `${tokens} is missing`, PULL_FIX);
  const bundled = join(dir, 'espeak-ng-data');
  const dataDir = existsSync(bundled) ? bundled : options.fallbackDataDir;
  if (!existsSync(dataDir)) {
    throw new EngineUnavailableError('sherpa', `espeak-ng data not found (${bundled}, ${options.fallbackDataDir})`, 'install the Debian package espeak-ng-data');
  }
  const model = join(dir, onnx[0] as string);
  const voices = join(dir, 'voices.bin');
  return existsSync(voices) ? { kind: 'kokoro', model, voices, tokens, dataDir } : { kind: 'vits', model, tokens, dataDir };
};

const modelConfig = (layout: SherpaTtsLayout, numThreads: number): OfflineTtsConfig['model'] => {
  const common = { numThreads, provider: 'cpu' as const, debug: 0 };
  if (layout.kind === 'kokoro') return { ...common, kokoro: { model: layout.model, voices: layout.voices, tokens: layout.tokens, dataDir: layout.dataDir } };
  return { ...common, vits: { model: layout.model, tokens: layout.tokens, dataDir: layout.dataDir } };
};

/**
 * Downloaded voices through sherpa-onnx: Piper/VITS and Kokoro. Generation runs on
 * sherpa's own thread (generateAsync); requests to one model are serialised.
 * Voices are speaker numbers (`0` … numSpeakers − 1).
 */
export class SherpaTts implements TextToSpeech {
  readonly name: string;
  readonly capabilities: { voices: readonly string[] };
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly tts: OfflineTts, readonly layout: SherpaTtsLayout) {
    this.name = `sherpa-${layout.kind}`;
    this.capabilities = { voices: Array.from({ length: Math.max(1, tts.numSpeakers) }, (_, index) => String(index)) };
  }

  get sampleRate(): number {
    return this.tts.sampleRate;
  }

  static async create(options: SherpaTtsOptions): Promise<SherpaTts> {
    const layout = detectSherpaTtsLayout(options);
    const config = { model: modelConfig(layout, options.numThreads ?? 1), maxNumSentences: 1 };
    await probeSherpaModel(`sherpa-${layout.kind}`, 'OfflineTts', config, PULL_FIX);
    try {
      const tts = await sherpa.OfflineTts.createAsync(config);
      return new SherpaTts(tts, layout);
    } catch (error) {
      throw new EngineUnavailableError(`sherpa-${layout.kind}`, `sherpa-onnx could not load ${layout.model} (${(error as Error).message})`, PULL_FIX);
    }
  }

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    options.signal?.throwIfAborted();
    const speaker = Number(options.voice ?? '0');
    if (!Number.isInteger(speaker) || speaker < 0 || speaker >= this.capabilities.voices.length) {
      throw new Error(`this model has no speaker "${options.voice}"; speakers: 0–${this.capabilities.voices.length - 1}`);
    }
    const input = text.trim();
    if (input === '') return { samples: new Int16Array(0), sampleRate: this.sampleRate };
    const run = this.queue.catch(() => undefined).then(() => this.tts.generateAsync({ text: input, sid: speaker, speed: options.speed ?? 1 }));
    this.queue = run;
    const wave = await run;
    options.signal?.throwIfAborted();
    return { samples: float32ToInt16(wave.samples), sampleRate: wave.sampleRate };
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
  }
}
