import type { PcmAudio } from '../../audio/pcm.js';

export interface TtsCapabilities {
  /** Voices this engine can speak with; the first is the default. */
  readonly voices: readonly string[];
}

export interface SynthesisOptions {
  readonly voice?: string;
  /** Speaking rate, 1 = the voice's own (0.25–4); engines without a rate control ignore it. */
  readonly speed?: number;
  readonly signal?: AbortSignal;
}

/** Speaks one piece of text (a sentence, typically) to mono s16 audio at the engine's rate. */
export interface TextToSpeech {
  /** Throws when the engine can no longer serve (a dead helper thread, closed pool); used by readiness. */
  check?(): void;
  readonly name: string;
  readonly capabilities: TtsCapabilities;
  readonly sampleRate: number;
  synthesize(text: string, options?: SynthesisOptions): Promise<PcmAudio>;
  close(): Promise<void>;
}
