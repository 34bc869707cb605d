import type { PcmAudio } from '../../audio/pcm.js';
import { decodeWav, UnsupportedAudioError } from '../../audio/wav.js';
import type { SynthesisOptions, TextToSpeech } from '../tts/text-to-speech.js';
import { callRemote, joinUrl, RemoteEngineError } from './http-client.js';

export interface OpenAiTtsOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly model: string;
  readonly voices: readonly string[];
  /** The rate the server's WAV output has (OpenAI: 24000); replies are resampled from what actually arrives. */
  readonly sampleRate: number;
  readonly timeoutMs: number;
  readonly retries: number;
}

/** Text to speech over the OpenAI-compatible POST /audio/speech API (OpenAI, Kokoro-FastAPI, LocalAI…), WAV output. */
export class OpenAiTts implements TextToSpeech {
  readonly name = 'openai';
  readonly capabilities: { voices: readonly string[] };
  readonly sampleRate: number;

  constructor(private readonly options: OpenAiTtsOptions) {
    this.capabilities = { voices: options.voices };
    this.sampleRate = options.sampleRate;
  }

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    const input = text.trim();
    if (input === '') return { samples: new Int16Array(0), sampleRate: this.sampleRate };
    const response = await callRemote(
      this.name,
      joinUrl(this.options.baseUrl, 'audio/speech'),
      () => ({
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: this.options.model, input, voice: options.voice ?? this.options.voices[0], response_format: 'wav', ...(options.speed !== undefined && options.speed !== 1 ? { speed: options.speed } : {}) }),
      }),
      { timeoutMs: this.options.timeoutMs, retries: this.options.retries, ...(options.signal ? { signal: options.signal } : {}) },
    );
    const bytes = new Uint8Array(await response.arrayBuffer());
    try {
      return decodeWav(bytes);
    } catch (error) {
      if (error instanceof UnsupportedAudioError) throw new RemoteEngineError(this.name, `the speech response is not usable WAV audio (${error.message})`);
      throw error;
    }
  }

  async close(): Promise<void> {}
}
