import { concatPcm, type PcmAudio } from '../../audio/pcm.js';
import { resample } from '../../audio/resample.js';
import { encodeWav } from '../../audio/wav.js';
import type { RecognitionHints, SpeechToText, SttStream, SttStreamOptions, Transcript } from '../stt/speech-to-text.js';
import { callRemote, joinUrl, RemoteEngineError } from './http-client.js';

export interface OpenAiSttOptions {
  /** e.g. https://api.openai.com/v1, or a local whisper/LocalAI server's /v1. */
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly model: string;
  readonly language?: string;
  readonly timeoutMs: number;
  readonly retries: number;
}

interface VerboseTranscription {
  text?: unknown;
  segments?: Array<{ start?: unknown; end?: unknown; text?: unknown }>;
}

/** The hints a remote model can use: a prompt biasing it towards the expected words. */
const promptFor = (hints: RecognitionHints | undefined): string | undefined => {
  const expect = hints?.expect;
  const words = [...(hints?.phrases ?? [])];
  if (expect?.type === 'choice') words.push(...expect.options);
  if (expect?.type === 'yesno') words.push('yes', 'no');
  return words.length > 0 ? words.join(', ') : undefined;
};

/**
 * Speech to text over the OpenAI-compatible POST /audio/transcriptions API
 * (OpenAI, faster-whisper/whisper.cpp servers, LocalAI). Not streaming: an
 * utterance is sent once it ends.
 */
export class OpenAiStt implements SpeechToText {
  readonly name = 'openai';
  readonly sampleRate = 16_000;
  readonly capabilities = { streaming: false, interimResults: false, hints: true } as const;

  constructor(private readonly options: OpenAiSttOptions) {}

  async transcribe(audio: PcmAudio, options: { hints?: RecognitionHints; signal?: AbortSignal } = {}): Promise<Transcript> {
    const wav = encodeWav(resample(audio, this.sampleRate));
    const prompt = promptFor(options.hints);
    const response = await callRemote(
      this.name,
      joinUrl(this.options.baseUrl, 'audio/transcriptions'),
      () => {
        const form = new FormData();
        form.append('file', new Blob([wav], { type: 'audio/wav' }), 'speech.wav');
        form.append('model', this.options.model);
        form.append('response_format', 'verbose_json');
        if (this.options.language) form.append('language', this.options.language);
        if (prompt) form.append('prompt', prompt);
        return { method: 'POST', headers: { authorization: `Bearer ${this.options.apiKey}` }, body: form };
      },
      { timeoutMs: this.options.timeoutMs, retries: this.options.retries, ...(options.signal ? { signal: options.signal } : {}) },
    );
    let body: VerboseTranscription;
    try {
      body = (await response.json()) as VerboseTranscription;
    } catch {
      throw new RemoteEngineError(this.name, 'the transcription response is not JSON');
    }
    if (typeof body.text !== 'string') throw new RemoteEngineError(this.name, 'the transcription response has no text');
    const segments = (body.segments ?? [])
      .filter((segment) => typeof segment.text === 'string' && typeof segment.start === 'number' && typeof segment.end === 'number')
      .map((segment) => ({ text: (segment.text as string).trim(), startMs: Math.round((segment.start as number) * 1000), endMs: Math.round((segment.end as number) * 1000) }));
    return { text: body.text.trim(), segments };
  }

  /** Collects the utterance and sends it when it ends. */
  createStream(options: SttStreamOptions = {}): SttStream {
    const chunks: Int16Array[] = [];
    const controller = new AbortController();
    return {
      push: (samples) => void chunks.push(samples.slice()),
      finish: () => this.transcribe({ samples: concatPcm(chunks), sampleRate: this.sampleRate }, { ...(options.hints ? { hints: options.hints } : {}), signal: controller.signal }),
      cancel: () => controller.abort(),
    };
  }

  async close(): Promise<void> {}
}
