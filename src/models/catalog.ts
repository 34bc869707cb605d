/** Official model releases `harken models pull` knows. */
export interface ModelEntry {
  readonly name: string;
  readonly kind: 'vad' | 'stt' | 'tts' | 'kws';
  readonly description: string;
  readonly license: string;
  /** Path under the release host (see releaseUrl). */
  readonly path: string;
  /** `tar.bz2` archives unpack into the model's directory; `file` is stored as is. */
  readonly archive: 'tar.bz2' | 'file';
  /** Files that must exist in the model's directory afterwards (archives: inside their top folder). */
  readonly files: readonly string[];
  /** Pinned when known; otherwise the download's size and SHA-256 are recorded, and reported as unverified. */
  readonly sizeBytes?: number;
  readonly sha256?: string;
}

/** sherpa-onnx publishes its models as GitHub release assets. */
export const DEFAULT_RELEASE_BASE = 'https://github.com/k2-fsa/sherpa-onnx/releases/download';

export const MODEL_CATALOG: readonly ModelEntry[] = [
  {
    name: 'silero-vad',
    kind: 'vad',
    description: 'Silero voice activity detector (ONNX)',
    license: 'MIT',
    path: 'asr-models/silero_vad.onnx',
    archive: 'file',
    files: ['silero_vad.onnx'],
  },
  {
    name: 'sherpa-onnx-streaming-zipformer-en-20M-2023-02-17',
    kind: 'stt',
    description: 'Streaming English zipformer transducer, 20M parameters (sherpa-onnx OnlineRecognizer)',
    license: 'Apache-2.0',
    path: 'asr-models/sherpa-onnx-streaming-zipformer-en-20M-2023-02-17.tar.bz2',
    archive: 'tar.bz2',
    files: ['encoder-epoch-99-avg-1.int8.onnx', 'decoder-epoch-99-avg-1.onnx', 'joiner-epoch-99-avg-1.int8.onnx', 'tokens.txt'],
  },
  {
    name: 'sherpa-onnx-streaming-zipformer-ctc-small-2024-03-18',
    kind: 'stt',
    description: 'Streaming English zipformer CTC, small (sherpa-onnx OnlineRecognizer, zipformer2Ctc)',
    license: 'Apache-2.0',
    path: 'asr-models/sherpa-onnx-streaming-zipformer-ctc-small-2024-03-18.tar.bz2',
    archive: 'tar.bz2',
    files: ['ctc-epoch-30-avg-3-chunk-16-left-128.int8.onnx', 'tokens.txt'],
  },
  {
    name: 'sherpa-onnx-whisper-tiny.en',
    kind: 'stt',
    description: 'OpenAI Whisper tiny.en exported for sherpa-onnx (whole-utterance, English)',
    license: 'MIT',
    path: 'asr-models/sherpa-onnx-whisper-tiny.en.tar.bz2',
    archive: 'tar.bz2',
    files: ['tiny.en-encoder.int8.onnx', 'tiny.en-decoder.int8.onnx', 'tiny.en-tokens.txt'],
  },
  {
    name: 'sherpa-onnx-moonshine-tiny-en-int8',
    kind: 'stt',
    description: 'Useful Sensors Moonshine tiny, int8 (whole-utterance, English, fast on CPU)',
    license: 'MIT',
    path: 'asr-models/sherpa-onnx-moonshine-tiny-en-int8.tar.bz2',
    archive: 'tar.bz2',
    files: ['preprocess.onnx', 'encode.int8.onnx', 'uncached_decode.int8.onnx', 'cached_decode.int8.onnx', 'tokens.txt'],
  },
  {
    name: 'vits-piper-en_US-amy-low',
    kind: 'tts',
    description: 'Piper English (US) voice "amy", low quality, 16 kHz (sherpa-onnx OfflineTts, VITS)',
    license: 'MIT (model); voice data license: see MODEL_CARD in the archive',
    path: 'tts-models/vits-piper-en_US-amy-low.tar.bz2',
    archive: 'tar.bz2',
    files: ['en_US-amy-low.onnx', 'tokens.txt'],
  },
  {
    name: 'kokoro-en-v0_19',
    kind: 'tts',
    description: 'Kokoro 82M English voices (11 speakers, 24 kHz) for sherpa-onnx OfflineTts',
    license: 'Apache-2.0',
    path: 'tts-models/kokoro-en-v0_19.tar.bz2',
    archive: 'tar.bz2',
    files: ['model.onnx', 'voices.bin', 'tokens.txt'],
  },
  {
    name: 'sherpa-onnx-kws-zipformer-gigaspeech-3.3M-2024-01-01',
    kind: 'kws',
    description: 'Open-vocabulary English keyword spotter (wake words), 3.3M parameters',
    license: 'Apache-2.0',
    path: 'kws-models/sherpa-onnx-kws-zipformer-gigaspeech-3.3M-2024-01-01.tar.bz2',
    archive: 'tar.bz2',
    files: ['tokens.txt'],
  },
];

export const findModel = (name: string): ModelEntry | undefined => MODEL_CATALOG.find((entry) => entry.name === name);

/** HARKEN_MODELS_BASE_URL points downloads at a mirror (or a local server in tests). */
export const releaseUrl = (entry: ModelEntry, base = process.env.HARKEN_MODELS_BASE_URL || DEFAULT_RELEASE_BASE): string =>
  `${base.replace(/\/+$/, '')}/${entry.path}`;
