export type VadEvent =
  | { readonly type: 'speech_start'; readonly atMs: number }
  | { readonly type: 'speech_end'; readonly atMs: number; readonly speechMs: number };

/** Follows one audio stream (16 kHz mono) and reports when speech starts and stops. */
export interface VadStream {
  /** Feeds samples; returns the events they caused, in order. Timestamps count from the first sample pushed. */
  push(samples: Int16Array): VadEvent[];
  /** True while the detector considers the caller to be speaking. */
  readonly speaking: boolean;
  /** Duration of the current speech run so far, 0 when silent. */
  readonly currentSpeechMs: number;
  /** While speaking: how long the caller has been quiet (a pause that may end the turn); 0 otherwise. */
  readonly silentMs: number;
  /** Ends the current speech run now (the session decided the pause ends the turn); undefined when not speaking. */
  endSpeech(): VadEvent | undefined;
  close(): void;
}

/** One stream's own tuning (an OpenAI client's `turn_detection`); unset fields keep the detector's configuration. */
export interface VadStreamOptions {
  /** Speech probability above which a window counts as speech (0–1). */
  readonly threshold?: number;
  /** Silence that ends a speech run. */
  readonly minSilenceMs?: number;
}

export interface VoiceActivityDetector {
  readonly name: string;
  readonly sampleRate: number;
  createStream(options?: VadStreamOptions): VadStream;
}
