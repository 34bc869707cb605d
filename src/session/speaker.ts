import { performance } from 'node:perf_hooks';
import { encodeSamples } from '../audio/audio-format.js';
import { resample } from '../audio/resample.js';
import type { TextToSpeech } from '../engines/tts/text-to-speech.js';
import { AsyncQueue } from '../util/async-queue.js';
import { DEFAULT_FRAME_MS, type AudioSink } from './audio-sink.js';
import type { SessionEvent } from './events.js';
import { playedText, type SpokenSentence } from './played-text.js';
import { sleep } from './sleep.js';

export interface SpeakerOptions {
  readonly replyId: string;
  /** Audio is sent at most this far ahead of what was played, so an interruption stops it quickly. */
  readonly leadMs: number;
  readonly voice?: string;
  /**
   * Sentences synthesised ahead of the one playing (default 2): a long reply costs no more
   * engine work up front than a short one, and an interruption leaves little to cancel.
   */
  readonly lookAheadSentences?: number;
  /** How much longer than the wall clock says to wait for a sink's playback reports before going on without them. */
  readonly playbackReportSlackMs?: number;
}

export interface PlaybackResult {
  /** How much of the reply's audio was heard (all of it unless interrupted); `textAt` maps it to words. */
  readonly playedMs: number;
  readonly interrupted: boolean;
  /** From the first sentence being ready to its audio being synthesised. */
  readonly ttsFirstAudioMs: number | undefined;
  /** performance.now() when the first audio frame went out. */
  readonly firstAudioAt: number | undefined;
}

/** One sentence of a reply with an id, for `reply_segment` events. */
export interface ReplySegment extends SpokenSentence {
  readonly segmentId: string;
}

/**
 * Speaks one reply into the transport's audio sink: synthesises sentences a bounded number
 * ahead of playback, resamples and encodes them for the sink, paces them (by the sink's
 * playback reports when it has them, by the wall clock otherwise) and knows at any moment
 * how much the listener has heard. Aborting cancels the synthesis in flight (the engine
 * kills its work). The timeline outlives playback, so a late truncate can be mapped to text.
 */
export class Speaker {
  readonly segments: ReplySegment[] = [];
  private sentMs = 0;
  private startedAt: number | undefined;
  /** Sentences whose synthesis started and which have not finished playing. */
  private inFlight = 0;
  private wakeProducer: (() => void) | undefined;
  /** Set when playback ends for any reason (also an error), so the producer stops waiting. */
  private stopped = false;
  /** performance.now() of the last sign of life: the reply's start, synthesised audio, a frame sent. */
  private progressAt = performance.now();

  constructor(
    private readonly tts: TextToSpeech,
    private readonly sink: AudioSink,
    private readonly emit: (event: SessionEvent) => void,
    private readonly options: SpeakerOptions,
  ) {}

  /** When this reply last moved on (a watchdog compares it with the clock). */
  get lastProgressAt(): number {
    return this.progressAt;
  }

  /** Milliseconds of audio sent so far. */
  get totalMs(): number {
    return this.sentMs;
  }

  /** What the listener has heard: the sink's report when it has one, else audio sent capped by the time it takes to play. */
  heardMs(now = performance.now()): number {
    if (this.startedAt === undefined) return 0;
    if (this.sink.played) return Math.min(this.sentMs, this.sink.played.ms);
    return Math.max(0, Math.min(this.sentMs, now - this.startedAt));
  }

  /** The text heard at `ms` of this reply's audio (clamped to what was sent). */
  textAt(ms: number): string {
    return playedText(this.segments, Math.max(0, Math.min(ms, this.sentMs)));
  }

  async speak(sentences: AsyncIterable<string>, signal: AbortSignal): Promise<PlaybackResult> {
    // Playback failing (a sentence that cannot be synthesised) also cancels the look-ahead.
    const failed = new AbortController();
    try {
      return await this.play(this.synthesiseAhead(sentences, AbortSignal.any([signal, failed.signal])), signal);
    } catch (error) {
      failed.abort(error);
      throw error;
    } finally {
      // Ended for any reason: the producer stops waiting for room.
      this.stopped = true;
      this.wakeProducer?.();
    }
  }

  private async play(jobs: AsyncQueue<SynthesisJob>, signal: AbortSignal): Promise<PlaybackResult> {
    const { format } = this.sink;
    const frameSamples = Math.max(1, Math.round(((this.sink.frameMs ?? DEFAULT_FRAME_MS) * format.sampleRate) / 1000));
    let ttsFirstAudioMs: number | undefined;
    let firstAudioAt: number | undefined;
    for await (const job of jobs) {
      if (signal.aborted) break;
      let samples: Int16Array;
      try {
        samples = (await job.audio).samples;
      } catch (error) {
        if (signal.aborted) break;
        throw error;
      }
      if (signal.aborted) break;
      this.progressAt = performance.now();
      if (ttsFirstAudioMs === undefined) ttsFirstAudioMs = performance.now() - job.requestedAt;
      if (samples.length === 0) {
        this.finishedSentence();
        continue;
      }
      if (this.startedAt === undefined) {
        this.sink.played?.reset();
        this.sink.begin(this.options.replyId);
        this.emit({ type: 'reply_audio_started', replyId: this.options.replyId, format });
        this.startedAt = performance.now();
        firstAudioAt = this.startedAt;
      }
      const durationMs = (samples.length / format.sampleRate) * 1000;
      const segment: ReplySegment = { segmentId: `${this.options.replyId}:${this.segments.length}`, text: job.text, startMs: this.sentMs, durationMs };
      this.segments.push(segment);
      this.emit({ type: 'reply_segment', replyId: this.options.replyId, ...segment });
      for (let offset = 0; offset < samples.length && !signal.aborted; offset += frameSamples) {
        const frame = samples.subarray(offset, offset + frameSamples);
        await this.waitUntilHeard(this.sentMs - this.options.leadMs, signal);
        if (signal.aborted) break;
        const frameMs = (frame.length / format.sampleRate) * 1000;
        await this.sink.write(encodeSamples(frame, format.encoding), frameMs, signal);
        this.sentMs += frameMs;
        this.progressAt = performance.now();
      }
      this.finishedSentence();
    }
    if (this.startedAt !== undefined && !signal.aborted) {
      this.emit({ type: 'reply_audio_done', replyId: this.options.replyId });
      // The listener is still hearing the tail; an interruption until then still counts.
      await this.waitUntilHeard(this.sentMs, signal);
    }
    this.progressAt = performance.now();
    return { playedMs: signal.aborted ? this.heardMs() : this.sentMs, interrupted: signal.aborted, ttsFirstAudioMs, firstAudioAt };
  }

  /**
   * Waits until the listener has heard `ms` of this reply. With playback reports, until they say
   * so (but no longer than the wall clock plus some slack: a listener that stops acknowledging
   * must not hang the session); without, by the wall clock.
   */
  private async waitUntilHeard(ms: number, signal: AbortSignal): Promise<void> {
    const wallClockMs = (this.startedAt ?? performance.now()) + ms - performance.now();
    if (!this.sink.played) return sleep(wallClockMs, signal);
    return this.sink.played.until(ms, signal, wallClockMs + (this.options.playbackReportSlackMs ?? 1_000));
  }

  private finishedSentence(): void {
    this.inFlight -= 1;
    this.wakeProducer?.();
  }

  /** Waits until fewer than 1 + lookAheadSentences sentences are in flight, or the reply is aborted. */
  private async roomAhead(signal: AbortSignal): Promise<void> {
    const limit = 1 + (this.options.lookAheadSentences ?? 2);
    while (this.inFlight >= limit && !signal.aborted && !this.stopped) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener('abort', wake);
          this.wakeProducer = undefined;
          resolve();
        };
        this.wakeProducer = wake;
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** Synthesises sentences in order in the background, a bounded number ahead of playback; results are consumed in order. */
  private synthesiseAhead(sentences: AsyncIterable<string>, signal: AbortSignal): AsyncQueue<SynthesisJob> {
    const jobs = new AsyncQueue<SynthesisJob>();
    const outputRate = this.sink.format.sampleRate;
    void (async () => {
      try {
        for await (const text of sentences) {
          await this.roomAhead(signal);
          if (signal.aborted || this.stopped) break;
          this.inFlight += 1;
          const audio = this.tts
            .synthesize(text, { ...(this.options.voice ? { voice: this.options.voice } : {}), signal })
            .then((pcm) => resample(pcm, outputRate));
          audio.catch(() => undefined); // observed when consumed; avoids an unhandled rejection after an abort
          jobs.push({ text, requestedAt: performance.now(), audio });
        }
      } finally {
        jobs.end();
      }
    })();
    return jobs;
  }
}

interface SynthesisJob {
  readonly text: string;
  readonly requestedAt: number;
  readonly audio: Promise<{ samples: Int16Array }>;
}
