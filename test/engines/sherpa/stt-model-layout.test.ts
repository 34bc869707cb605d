import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EngineUnavailableError } from '../../../src/engines/engine-errors.js';
import { detectSherpaSttLayout } from '../../../src/engines/stt/sherpa/model-layout.js';
import { findModel } from '../../../src/models/catalog.js';
import { useTempDirs } from '../../helpers/temp-dir.js';

/** A folder holding empty files named like an official release archive. */
const releaseFolder = (root: string, files: readonly string[]): string => {
  for (const file of files) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), '');
  }
  return root;
};

const refusal = (dir: string): EngineUnavailableError => {
  try {
    detectSherpaSttLayout(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(EngineUnavailableError);
    return error as EngineUnavailableError;
  }
  throw new Error(`expected ${dir} to be refused`);
};

describe('sherpa-onnx recogniser folders', () => {
  const tempDir = useTempDirs();

  it('recognises each catalogued recogniser by the files its archive holds, preferring int8', () => {
    const zipformer = findModel('sherpa-onnx-streaming-zipformer-en-20M-2023-02-17');
    const dir = releaseFolder(tempDir(), [...(zipformer?.files ?? []), 'encoder-epoch-99-avg-1.onnx', 'joiner-epoch-99-avg-1.onnx']);
    expect(detectSherpaSttLayout(dir)).toEqual({
      kind: 'transducer',
      encoder: join(dir, 'encoder-epoch-99-avg-1.int8.onnx'),
      decoder: join(dir, 'decoder-epoch-99-avg-1.onnx'),
      joiner: join(dir, 'joiner-epoch-99-avg-1.int8.onnx'),
      tokens: join(dir, 'tokens.txt'),
    });

    const whisper = releaseFolder(tempDir(), [...(findModel('sherpa-onnx-whisper-tiny.en')?.files ?? []), 'tiny.en-encoder.onnx', 'tiny.en-decoder.onnx']);
    expect(detectSherpaSttLayout(whisper)).toEqual({
      kind: 'whisper',
      encoder: join(whisper, 'tiny.en-encoder.int8.onnx'),
      decoder: join(whisper, 'tiny.en-decoder.int8.onnx'),
      tokens: join(whisper, 'tiny.en-tokens.txt'),
    });

    const moonshine = releaseFolder(tempDir(), findModel('sherpa-onnx-moonshine-tiny-en-int8')?.files ?? []);
    expect(detectSherpaSttLayout(moonshine)).toEqual({
      kind: 'moonshine',
      preprocessor: join(moonshine, 'preprocess.onnx'),
      encoder: join(moonshine, 'encode.int8.onnx'),
      uncachedDecoder: join(moonshine, 'uncached_decode.int8.onnx'),
      cachedDecoder: join(moonshine, 'cached_decode.int8.onnx'),
      tokens: join(moonshine, 'tokens.txt'),
    });
  });

  it('names the missing folder, file or role and how to get the model', () => {
    const missing = refusal('/nowhere/zipformer');
    expect(missing.message).toBe('STT model folder /nowhere/zipformer does not exist');
    expect(missing.fix).toMatch(/harken models pull sherpa-onnx-streaming-zipformer-en-20M-2023-02-17/);
    expect(refusal(tempDir()).message).toMatch(/holds no model sherpa-onnx recognises/);
    expect(refusal(releaseFolder(tempDir(), ['encoder.onnx', 'decoder.onnx', 'tokens.txt'])).message).toMatch(/transducer model in .* lacks joiner$/);
    expect(refusal(releaseFolder(tempDir(), ['encoder.onnx', 'decoder.onnx', 'joiner.onnx'])).message).toMatch(/has no tokens file$/);
    expect(refusal(releaseFolder(tempDir(), ['base-encoder.onnx', 'base-tokens.txt'])).message).toMatch(/encoder but no \*-decoder\.onnx/);
    expect(refusal(releaseFolder(tempDir(), ['preprocess.onnx', 'encode.onnx', 'tokens.txt'])).message).toMatch(/Moonshine model in .* lacks uncachedDecoder, cachedDecoder$/);
  });
});
