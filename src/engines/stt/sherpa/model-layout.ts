import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EngineUnavailableError } from '../../engine-errors.js';

/** A streaming transducer (zipformer): partial results while audio arrives. */
export interface TransducerLayout {
  readonly kind: 'transducer';
  readonly encoder: string;
  readonly decoder: string;
  readonly joiner: string;
  readonly tokens: string;
}

/** A streaming zipformer2 CTC model: one graph, partial results while audio arrives. */
export interface StreamingCtcLayout {
  readonly kind: 'streaming-ctc';
  readonly model: string;
  readonly tokens: string;
}

/** Whisper: whole-utterance recognition, up to 30 s per pass. */
export interface WhisperLayout {
  readonly kind: 'whisper';
  readonly encoder: string;
  readonly decoder: string;
  readonly tokens: string;
}

/** Moonshine: whole-utterance recognition, fast on CPU. */
export interface MoonshineLayout {
  readonly kind: 'moonshine';
  readonly preprocessor: string;
  readonly encoder: string;
  readonly uncachedDecoder: string;
  readonly cachedDecoder: string;
  readonly tokens: string;
}

export type SherpaSttLayout = TransducerLayout | StreamingCtcLayout | WhisperLayout | MoonshineLayout;
export type StreamingLayout = TransducerLayout | StreamingCtcLayout;

export const SHERPA_STT_FIX =
  'run `harken models pull sherpa-onnx-streaming-zipformer-en-20M-2023-02-17` (or whisper-tiny.en / moonshine-tiny-en), or set HARKEN_STT_SHERPA_MODEL_DIR to a sherpa-onnx model folder';

/** The one file matching `pattern`, preferring the int8-quantised variant (faster on CPU, same accuracy in sherpa's tables). */
const pick = (names: readonly string[], pattern: RegExp): string | undefined => {
  const matches = names.filter((name) => pattern.test(name)).sort();
  return matches.find((name) => name.includes('.int8.')) ?? matches[0];
};

/**
 * Recognises a sherpa-onnx release folder by its file names (as the official archives
 * name them) and returns absolute paths; anything else is an EngineUnavailableError.
 */
export const detectSherpaSttLayout = (dir: string): SherpaSttLayout => {
  if (!existsSync(dir)) throw new EngineUnavailableError('sherpa', `STT model folder ${dir} does not exist`, SHERPA_STT_FIX);
  const names = readdirSync(dir);
  const path = (name: string | undefined) => (name === undefined ? undefined : join(dir, name));
  const tokens = (name: string | undefined) => {
    if (name === undefined) throw new EngineUnavailableError('sherpa', `STT model folder ${dir} has no tokens file`, SHERPA_STT_FIX);
    return join(dir, name);
  };

  const moonshine = {
    preprocessor: path(pick(names, /^preprocess\.onnx$/)),
    encoder: path(pick(names, /^encode(\.int8)?\.onnx$/)),
    uncachedDecoder: path(pick(names, /^uncached_decode(\.int8)?\.onnx$/)),
    cachedDecoder: path(pick(names, /^cached_decode(\.int8)?\.onnx$/)),
  };
  if (moonshine.preprocessor) {
    const missing = Object.entries(moonshine).filter(([, file]) => file === undefined).map(([role]) => role);
    if (missing.length > 0) throw new EngineUnavailableError('sherpa', `Moonshine model in ${dir} lacks ${missing.join(', ')}`, SHERPA_STT_FIX);
    return { kind: 'moonshine', ...(moonshine as Omit<MoonshineLayout, 'kind' | 'tokens'>), tokens: tokens(pick(names, /^tokens\.txt$/)) };
  }

  const whisperEncoder = pick(names, /-encoder(\.int8)?\.onnx$/);
  if (whisperEncoder) {
    const decoder = pick(names, /-decoder(\.int8)?\.onnx$/);
    if (!decoder) throw new EngineUnavailableError('sherpa', `Whisper model in ${dir} has an encoder but no *-decoder.onnx`, SHERPA_STT_FIX);
    return { kind: 'whisper', encoder: join(dir, whisperEncoder), decoder: join(dir, decoder), tokens: tokens(pick(names, /tokens\.txt$/)) };
  }

  const transducer = {
    encoder: path(pick(names, /^encoder.*\.onnx$/)),
    decoder: path(pick(names, /^decoder.*\.onnx$/)),
    joiner: path(pick(names, /^joiner.*\.onnx$/)),
  };
  if (transducer.encoder || transducer.decoder || transducer.joiner) {
    const missing = Object.entries(transducer).filter(([, file]) => file === undefined).map(([role]) => role);
    if (missing.length > 0) throw new EngineUnavailableError('sherpa', `transducer model in ${dir} lacks ${missing.join(', ')}`, SHERPA_STT_FIX);
    return { kind: 'transducer', ...(transducer as Omit<TransducerLayout, 'kind' | 'tokens'>), tokens: tokens(pick(names, /^tokens\.txt$/)) };
  }
  const ctc = pick(names, /^ctc.*\.onnx$/);
  if (ctc) return { kind: 'streaming-ctc', model: join(dir, ctc), tokens: tokens(pick(names, /^tokens\.txt$/)) };
  throw new EngineUnavailableError(
    'sherpa',
    `STT model folder ${dir} holds no model sherpa-onnx recognises (streaming zipformer transducer or CTC, whisper or moonshine)`,
    SHERPA_STT_FIX,
  );
};
