// The parts of sherpa-onnx-node (which ships no types) that Harken uses.
declare module 'sherpa-onnx-node' {
  export class LinearResampler {
    constructor(inputSampleRate: number, outputSampleRate: number);
    resample(samples: Float32Array, flush?: boolean): Float32Array;
  }
  export interface Wave {
    samples: Float32Array;
    sampleRate: number;
  }
  export function readWave(filename: string): Wave;
  export function writeWave(filename: string, wave: Wave): void;
  export interface OfflineTtsConfig {
    model: {
      vits?: { model: string; tokens: string; dataDir?: string; lexicon?: string };
      kokoro?: { model: string; voices: string; tokens: string; dataDir?: string; lang?: string };
      numThreads: number;
      provider: 'cpu';
      debug?: number;
    };
    maxNumSentences: number;
  }
  export interface OfflineRecognizerConfig {
    featConfig: { sampleRate: number; featureDim: number };
    modelConfig: {
      whisper?: { encoder: string; decoder: string; language?: string; task?: string; tailPaddings?: number };
      moonshine?: { preprocessor: string; encoder: string; uncachedDecoder: string; cachedDecoder: string };
      tokens: string;
      numThreads: number;
      provider: 'cpu';
      debug?: number;
    };
    decodingMethod?: string;
  }
  export interface OfflineRecognizerResult {
    text: string;
    tokens?: string[];
    timestamps?: number[];
  }
  export class OfflineStream {
    acceptWaveform(wave: Wave): void;
  }
  export class OfflineRecognizer {
    static createAsync(config: OfflineRecognizerConfig): Promise<OfflineRecognizer>;
    createStream(): OfflineStream;
    decodeAsync(stream: OfflineStream): Promise<OfflineRecognizerResult>;
    getResult(stream: OfflineStream): OfflineRecognizerResult;
  }
  export class OfflineTts {
    constructor(config: OfflineTtsConfig);
    static createAsync(config: OfflineTtsConfig): Promise<OfflineTts>;
    readonly sampleRate: number;
    readonly numSpeakers: number;
    generate(request: { text: string; sid: number; speed: number }): Wave;
    generateAsync(request: { text: string; sid: number; speed: number }): Promise<Wave>;
  }
  const sherpa: {
    LinearResampler: typeof LinearResampler;
    OfflineTts: typeof OfflineTts;
    OfflineRecognizer: typeof OfflineRecognizer;
    readWave: typeof readWave;
    writeWave: typeof writeWave;
    version: string;
  };
  export default sherpa;
}
