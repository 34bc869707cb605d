import type { HarkenConfig } from '../../../config/schema.js';
import type { EngineGuard } from '../../../engines/engine-guard.js';
import type { VoiceEngines } from '../../../engines/voice-engines.js';

/** What the OpenAI-compatible audio routes share. */
export interface AudioRouteOptions {
  readonly config: HarkenConfig;
  readonly engines: VoiceEngines;
  /** The ffmpeg program, when installed: other upload formats, and encoded speech. */
  readonly ffmpeg: string | undefined;
  /** Every ffmpeg process takes a slot here (voice.ffmpegMaxConcurrent), with a time limit; stages ffmpeg.decode / ffmpeg.encode. */
  readonly ffmpegGuard: EngineGuard;
  /** Aborted when a shutdown can wait no longer for in-flight speech work. */
  readonly shutdownSignal?: AbortSignal;
}
