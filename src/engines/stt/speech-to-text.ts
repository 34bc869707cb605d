import type { AnswerExpectation } from '../../agents/agent.js';
import type { PcmAudio } from '../../audio/pcm.js';

export interface SttCapabilities {
  /** Accepts audio incrementally and can finish quickly after the last chunk. */
  readonly streaming: boolean;
  /** Reports partial hypotheses while audio is still arriving. */
  readonly interimResults: boolean;
  /** Can constrain recognition to what the dialogue expects (grammar or keyword list). */
  readonly hints: boolean;
}

/** What the next utterance is likely to be; engines that cannot use it ignore it. */
export interface RecognitionHints {
  readonly expect?: AnswerExpectation;
  /** Extra words or phrases likely to occur (names, options). */
  readonly phrases?: readonly string[];
}

export interface TranscriptSegment {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface Transcript {
  readonly text: string;
  readonly segments: readonly TranscriptSegment[];
}

export interface SttStreamOptions {
  readonly hints?: RecognitionHints;
  /** Called with each new partial hypothesis (only by engines with interimResults). */
  readonly onPartial?: (text: string) => void;
}

/** One utterance being recognised. Audio must be mono s16 at the engine's sampleRate. */
export interface SttStream {
  push(samples: Int16Array): void;
  /** No more audio: resolves with the final transcript of everything pushed. */
  finish(): Promise<Transcript>;
  /** Drop the utterance; finish() must not be called afterwards. */
  cancel(): void;
}

/** An engine's pool of native recognisers (e.g. PocketSphinx decoders): saturation shows here first. */
export interface RecogniserPool {
  readonly busy: number;
  readonly idle: number;
  /** Utterances buffering their audio until a recogniser is free. */
  readonly waiting: number;
  readonly max: number;
  /** Process ids of the recognisers, for engines that run each in a process of its own. */
  readonly processes?: number[];
}

export interface SpeechToText {
  /** Engines that keep a bounded pool of native recognisers report it (admin view, tests). */
  readonly pool?: RecogniserPool;
  /** Throws when the engine can no longer serve (a dead helper thread, closed pool); used by readiness. */
  check?(): void;
  readonly name: string;
  readonly capabilities: SttCapabilities;
  /** The rate the engine wants; callers resample to it. */
  readonly sampleRate: number;
  /** Whole-file recognition (HTTP upload). */
  transcribe(audio: PcmAudio, options?: { hints?: RecognitionHints; signal?: AbortSignal }): Promise<Transcript>;
  createStream(options?: SttStreamOptions): SttStream;
  close(): Promise<void>;
}
