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
  /** Set while playback is paused (a possible false interruption): where the listener was, and the wake-up. */
  private paused: { readonly atMs: number; readonly resumed: Promise<void>; readonly wake: () => void } | undefined;
  /** The position to re-send from after a resume (what was sent but cleared unheard). */
  private rewindTo: number | undefined;
  /** The reply's audio not yet wholly heard, by sentence, so a resume can re-send what a pause cleared. */
  private kept: Array<{ readonly startMs: number; readonly samples: Int16Array }> = [];

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
    if (this.paused) return this.paused.atMs;
    if (this.sink.played) return Math.min(this.sentMs, this.sink.played.ms);
    return Math.max(0, Math.min(this.sentMs, now - this.startedAt));
  }

  /** The text heard at `ms` of this reply's audio (clamped to what was sent). */
  textAt(ms: number): string {
    return playedText(this.segments, Math.max(0, Math.min(ms, this.sentMs)));
  }

  /** True while paused. */
  get isPaused(): boolean {
    return this.paused !== undefined;
  }

  /**
   * Stops sending at once, holding the position the listener reached (the caller clears the
   * sink). Undefined when nothing has played yet or it is paused already; else that position.
   */
  pause(): number | undefined {
    if (this.startedAt === undefined || this.paused) return undefined;
    const atMs = this.heardMs();
    let wake!: () => void;
    const resumed = new Promise<void>((resolve) => (wake = resolve));
    this.paused = { atMs, resumed, wake };
    return atMs;
  }

  /** Goes on from where the listener was when paused: what the pause cleared is sent again. */
  resume(): void {
    const paused = this.paused;
    if (!paused) return;
    this.paused = undefined;
    this.rewindTo = paused.atMs;
    // The wall clock (and the report slack) count from the paused position again.
    this.startedAt = performance.now() - paused.atMs;
    paused.wake();
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
      // A pause never rewinds before what was heard: sentences heard to their end are let go.
      const heard = this.heardMs();
      this.kept = this.kept.filter((sentence) => sentence.startMs + (sentence.samples.length / format.sampleRate) * 1000 > heard);
      this.kept.push({ startMs: this.sentMs, samples });
      this.emit({ type: 'reply_segment', replyId: this.options.replyId, ...segment });
      for (let offset = 0; offset < samples.length && !signal.aborted; ) {
        await this.holdWhilePaused(frameSamples, signal);
        if (signal.aborted) break;
        // A frame not sent (paused meanwhile) is sent after the resume.
        if (await this.sendFrame(samples.subarray(offset, offset + frameSamples), signal)) offset += frameSamples;
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

  /** One frame, paced to at most leadMs ahead of what was heard; false when it was not sent (cancelled, or paused meanwhile). */
  private async sendFrame(frame: Int16Array, signal: AbortSignal): Promise<boolean> {
    const { format } = this.sink;
    await this.waitUntilHeard(this.sentMs - this.options.leadMs, signal);
    if (signal.aborted || this.paused) return false;
    const frameMs = (frame.length / format.sampleRate) * 1000;
    await this.sink.write(encodeSamples(frame, format.encoding), frameMs, signal);
    this.sentMs += frameMs;
    this.progressAt = performance.now();
    return true;
  }

  /** While paused, nothing is sent; on resume, the audio from the paused position up to where sending stopped goes out again. */
  private async holdWhilePaused(frameSamples: number, signal: AbortSignal): Promise<void> {
    const resumeAt = this.sentMs;
    const rate = this.sink.format.sampleRate;
    while (!signal.aborted) {
      while (this.paused && !signal.aborted) {
        const { resumed } = this.paused;
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener('abort', done);
            resolve();
          };
          signal.addEventListener('abort', done, { once: true });
          void resumed.then(done);
        });
      }
      const from = this.rewindTo;
      this.rewindTo = undefined;
      if (from === undefined || signal.aborted) return;
      this.sink.rewind?.(from);
      this.sentMs = from;
      for (const sentence of this.kept) {
        const endMs = sentence.startMs + (sentence.samples.length / rate) * 1000;
        if (endMs <= from || sentence.startMs >= resumeAt) continue;
        const first = Math.max(0, Math.round(((this.sentMs - sentence.startMs) * rate) / 1000));
        const last = Math.min(sentence.samples.length, Math.round(((resumeAt - sentence.startMs) * rate) / 1000));
        for (let offset = first; offset < last && !signal.aborted && !this.paused; ) {
          if (await this.sendFrame(sentence.samples.subarray(offset, Math.min(last, offset + frameSamples)), signal)) offset += frameSamples;
        }
        if (this.paused || signal.aborted) break;
      }
      // Replayed in full: the timeline is where the reply left off (sample rounding aside). Paused again: go round.
      if (!this.paused) {
        this.sentMs = resumeAt;
        return;
      }
    }
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
