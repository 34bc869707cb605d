import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { int16ToFloat32, type PcmAudio } from '../../../audio/pcm.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import type { SpeechToText, SttCapabilities, SttStream, SttStreamOptions, Transcript } from '../speech-to-text.js';
import { SHERPA_STT_FIX, type StreamingLayout } from './model-layout.js';
import { probeSherpaModel } from '../../sherpa/load-probe.js';

const SAMPLE_RATE = 16_000;

export interface SherpaOnlineOptions {
  readonly layout: StreamingLayout;
  readonly numThreads: number;
}

type ToWorker =
  | { type: 'open'; id: number; partials: boolean }
  | { type: 'audio'; id: number; samples: Float32Array }
  | { type: 'finish'; id: number }
  | { type: 'cancel'; id: number }
  | { type: 'close' };

type FromWorker =
  | { type: 'ready' }
  | { type: 'init-error'; message: string }
  | { type: 'partial'; id: number; text: string }
  | { type: 'final'; id: number; text: string; firstTokenSeconds: number; durationSeconds: number }
  | { type: 'error'; id: number; message: string };

/**
 * Runs in the recogniser thread (serialised with toString, so self-contained). The online
 * recogniser has no async decode, so all of its streams live on this thread and the event
 * loop only posts audio and receives text.
 */
function recognizerThreadMain(require: NodeJS.Require, sherpaPath: string, config: unknown): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const port = parentPort as import('node:worker_threads').MessagePort;
  interface Stream {
    acceptWaveform(wave: { samples: Float32Array; sampleRate: number }): void;
    inputFinished(): void;
  }
  interface Recognizer {
    createStream(): Stream;
    isReady(stream: Stream): boolean;
    decode(stream: Stream): void;
    getResult(stream: Stream): { text: string; timestamps?: number[] };
  }
  const sherpaModule = require(sherpaPath) as { OnlineRecognizer: new (config: unknown) => Recognizer };
  let recognizer: Recognizer;
  try {
    recognizer = new sherpaModule.OnlineRecognizer(config);
  } catch (error) {
    port.postMessage({ type: 'init-error', message: (error as Error).message });
    return;
  }
  const streams = new Map<number, { stream: Stream; partials: boolean; lastPartial: string; samples: number }>();
  const decodeReady = (entry: { stream: Stream }) => {
    while (recognizer.isReady(entry.stream)) recognizer.decode(entry.stream);
  };
  port.on('message', (message: ToWorker) => {
    if (message.type === 'close') {
      streams.clear();
      port.close();
      return;
    }
    const entry = streams.get(message.id);
    try {
      if (message.type === 'open') {
        streams.set(message.id, { stream: recognizer.createStream(), partials: message.partials, lastPartial: '', samples: 0 });
      } else if (!entry) {
        return;
      } else if (message.type === 'audio') {
        entry.stream.acceptWaveform({ samples: message.samples, sampleRate: 16000 });
        entry.samples += message.samples.length;
        decodeReady(entry);
        if (entry.partials) {
          const text = String(recognizer.getResult(entry.stream).text).trim();
          if (text !== entry.lastPartial) {
            entry.lastPartial = text;
            port.postMessage({ type: 'partial', id: message.id, text });
          }
        }
      } else if (message.type === 'finish') {
        // Trailing silence lets the model emit the last words before input ends.
        entry.stream.acceptWaveform({ samples: new Float32Array(Math.round(0.66 * 16000)), sampleRate: 16000 });
        entry.stream.inputFinished();
        decodeReady(entry);
        const result = recognizer.getResult(entry.stream);
        streams.delete(message.id);
        port.postMessage({
          type: 'final',
          id: message.id,
          text: String(result.text).trim(),
          firstTokenSeconds: result.timestamps?.[0] ?? 0,
          durationSeconds: entry.samples / 16000,
        });
      } else if (message.type === 'cancel') {
        streams.delete(message.id);
      }
    } catch (error) {
      streams.delete(message.id);
      port.postMessage({ type: 'error', id: message.id, message: (error as Error).message });
    }
  });
  port.postMessage({ type: 'ready' });
}

interface PendingStream {
  readonly onPartial?: (text: string) => void;
  resolve?: (transcript: Transcript) => void;
  reject?: (error: Error) => void;
  failure?: Error;
}

/**
 * Streaming zipformer models (transducer or CTC) through sherpa-onnx: partial results while
 * the caller speaks and a final result moments after the utterance ends.
 */
export class SherpaOnlineStt implements SpeechToText {
  readonly name: string;
  readonly sampleRate = SAMPLE_RATE;
  readonly capabilities: SttCapabilities = { streaming: true, interimResults: true, hints: false };
  private readonly streams = new Map<number, PendingStream>();
  private nextId = 1;
  private exit: string | undefined;
  private closed = false;

  private constructor(private readonly worker: Worker, kind: StreamingLayout['kind']) {
    this.name = `sherpa-${kind}`;
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => this.failAll(`the recogniser thread failed: ${error.message}`));
    worker.on('exit', (code) => this.failAll(`the recogniser thread exited (${code})`));
  }

  static async create(options: SherpaOnlineOptions): Promise<SherpaOnlineStt> {
    const { layout } = options;
    const config = {
      featConfig: { sampleRate: SAMPLE_RATE, featureDim: 80 },
      modelConfig: {
        ...(layout.kind === 'transducer'
          ? { transducer: { encoder: layout.encoder, decoder: layout.decoder, joiner: layout.joiner } }
          : { zipformer2Ctc: { model: layout.model } }),
        tokens: layout.tokens,
        numThreads: options.numThreads,
        provider: 'cpu',
        debug: 0,
      },
      decodingMethod: 'greedy_search',
      // Harken's own VAD decides where turns end.
      enableEndpoint: 0,
    };
    await probeSherpaModel(`sherpa-${layout.kind}`, 'OnlineRecognizer', config, SHERPA_STT_FIX);
    const sherpaPath = createRequire(import.meta.url).resolve('sherpa-onnx-node');
    const worker = new Worker(`(${recognizerThreadMain.toString()})(require, ${JSON.stringify(sherpaPath)}, ${JSON.stringify(config)})`, { eval: true });
    const outcome = await new Promise<FromWorker | Error>((resolve) => {
      worker.once('message', resolve);
      worker.once('error', resolve);
      worker.once('exit', (code) => resolve(new Error(`exited with code ${code}`)));
    });
    if (outcome instanceof Error || outcome.type !== 'ready') {
      await worker.terminate();
      const reason = outcome instanceof Error ? outcome.message : outcome.type === 'init-error' ? outcome.message : outcome.type;
      throw new EngineUnavailableError(`sherpa-${layout.kind}`, `sherpa-onnx could not load the ${layout.kind} model in ${layout.tokens.replace(/\/[^/]+$/, '')} (${reason})`, SHERPA_STT_FIX);
    }
    worker.unref();
    return new SherpaOnlineStt(worker, layout.kind);
  }

  check(): void {
    if (this.closed) throw new Error('the speech recogniser is closed');
    if (this.exit) throw new Error(this.exit);
  }

  /** Utterances being recognised; for tests and metrics. */
  get openStreams(): number {
    return this.streams.size;
  }

  async transcribe(audio: PcmAudio, options: { signal?: AbortSignal } = {}): Promise<Transcript> {
    if (audio.sampleRate !== SAMPLE_RATE) throw new Error(`sherpa-onnx recognisers need ${SAMPLE_RATE} Hz audio, got ${audio.sampleRate} Hz; resample first`);
    const stream = this.createStream();
    const abort = () => stream.cancel();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      for (let offset = 0; offset < audio.samples.length; offset += SAMPLE_RATE) stream.push(audio.samples.subarray(offset, offset + SAMPLE_RATE));
      return await stream.finish();
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
  }

  createStream(options: SttStreamOptions = {}): SttStream {
    this.check();
    const id = this.nextId;
    this.nextId += 1;
    const pending: PendingStream = options.onPartial ? { onPartial: options.onPartial } : {};
    this.streams.set(id, pending);
    this.post({ type: 'open', id, partials: options.onPartial !== undefined });
    let state: 'open' | 'finished' | 'cancelled' = 'open';
    return {
      push: (samples) => {
        if (state !== 'open' || samples.length === 0) return;
        const floats = int16ToFloat32(samples);
        this.worker.postMessage({ type: 'audio', id, samples: floats } satisfies ToWorker, [floats.buffer as ArrayBuffer]);
      },
      finish: () => {
        if (state !== 'open') return Promise.reject(new Error(`the utterance was already ${state}`));
        state = 'finished';
        if (pending.failure) {
          this.streams.delete(id);
          return Promise.reject(pending.failure);
        }
        return new Promise<Transcript>((resolve, reject) => {
          pending.resolve = resolve;
          pending.reject = reject;
          this.post({ type: 'finish', id });
        });
      },
      cancel: () => {
        if (state !== 'open') return;
        state = 'cancelled';
        this.streams.delete(id);
        this.post({ type: 'cancel', id });
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.post({ type: 'close' });
    await this.worker.terminate();
  }

  private post(message: ToWorker): void {
    if (this.exit === undefined) this.worker.postMessage(message);
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'ready' || message.type === 'init-error') return;
    const pending = this.streams.get(message.id);
    if (!pending) return;
    if (message.type === 'partial') {
      pending.onPartial?.(message.text);
      return;
    }
    if (message.type === 'error') {
      const error = new Error(`sherpa-onnx recognition failed: ${message.message}`);
      if (pending.reject) {
        this.streams.delete(message.id);
        pending.reject(error);
      } else {
        pending.failure = error;
      }
      return;
    }
    this.streams.delete(message.id);
    const startMs = Math.round(message.firstTokenSeconds * 1000);
    const endMs = Math.round(message.durationSeconds * 1000);
    pending.resolve?.({ text: message.text, segments: message.text === '' ? [] : [{ text: message.text, startMs, endMs }] });
  }

  private failAll(reason: string): void {
    if (this.closed) return;
    this.exit = reason;
    const error = new Error(reason);
    for (const [id, pending] of this.streams) {
      if (pending.reject) {
        this.streams.delete(id);
        pending.reject(error);
      } else {
        pending.failure = error;
      }
    }
  }
}
