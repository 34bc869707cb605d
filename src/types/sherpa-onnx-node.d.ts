// The parts of sherpa-onnx-node (which ships no types) that Harken uses.
declare module 'sherpa-onnx-node' {
  export interface SileroVadConfig {
    model: string;
    threshold: number;
    minSpeechDuration: number;
    minSilenceDuration: number;
    maxSpeechDuration: number;
    windowSize: number;
  }
  export interface VadConfig {
    sileroVad: SileroVadConfig;
    sampleRate: number;
    numThreads: number;
    provider?: string;
    debug?: number | boolean;
  }
  export interface SpeechSegment {
    start: number;
    samples: Float32Array;
  }
  export class Vad {
    constructor(config: VadConfig, bufferSizeInSeconds: number);
    acceptWaveform(samples: Float32Array): void;
    isEmpty(): boolean;
    isDetected(): boolean;
    pop(): void;
    clear(): void;
    front(enableExternalBuffer?: boolean): SpeechSegment;
    reset(): void;
    flush(): void;
  }
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
    model: { vits: { model: string; tokens: string; dataDir?: string; lexicon?: string }; numThreads: number; provider: 'cpu'; debug?: number };
    maxNumSentences: number;
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
    Vad: typeof Vad;
    LinearResampler: typeof LinearResampler;
    OfflineTts: typeof OfflineTts;
    readWave: typeof readWave;
    writeWave: typeof writeWave;
    version: string;
  };
  export default sherpa;
}
