import { performance } from 'node:perf_hooks';
import { AsyncQueue } from '../util/async-queue.js';
import { resample } from '../audio/resample.js';
import type { TextToSpeech } from '../engines/tts/text-to-speech.js';
import type { SessionTransport } from './events.js';
import { playedText, type SpokenSentence } from './played-text.js';
import { sleep } from './sleep.js';

export interface SpeakerOptions {
  readonly outputSampleRate: number;
  /** Audio is sent at most this far ahead of real time, so an interruption stops it quickly. */
  readonly leadMs: number;
  readonly voice?: string;
  /** Size of each audio frame sent. */
  readonly frameMs?: number;
  /**
   * Sentences synthesised ahead of the one playing (default 2): a long reply costs no more
   * engine work up front than a short one, and an interruption leaves little to cancel.
   */
  readonly lookAheadSentences?: number;
}

export interface PlaybackResult {
  readonly spokenText: string;
  readonly playedText: string;
  readonly interrupted: boolean;
  /** From the first sentence being ready to its audio being synthesised. */
  readonly ttsFirstAudioMs: number | undefined;
  /** performance.now() when the first audio frame went out. */
  readonly firstAudioAt: number | undefined;
}

/**
 * Speaks one reply: synthesises sentences a bounded number ahead of playback, sends the
 * audio paced at real time plus a small lead, and knows at any moment how much of it the
 * caller has heard. Aborting cancels the synthesis in flight (the engine kills its work).
 */
export class Speaker {
  private readonly timeline: SpokenSentence[] = [];
  private sentMs = 0;
  private startedAt: number | undefined;
  /** Sentences whose synthesis started and which have not finished playing. */
  private inFlight = 0;
  private wakeProducer: (() => void) | undefined;
  /** Set when playback ends for any reason (also an error), so the producer stops waiting. */
  private stopped = false;

  constructor(private readonly tts: TextToSpeech, private readonly transport: SessionTransport, private readonly options: SpeakerOptions) {}

  /** What the caller has heard so far: audio sent, capped by the time it takes to play. */
  heardMs(now = performance.now()): number {
    return this.startedAt === undefined ? 0 : Math.max(0, Math.min(this.sentMs, now - this.startedAt));
  }

  heardText(): string {
    return playedText(this.timeline, this.heardMs());
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
    const frameSamples = Math.round(((this.options.frameMs ?? 40) * this.options.outputSampleRate) / 1000);
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
      if (ttsFirstAudioMs === undefined) ttsFirstAudioMs = performance.now() - job.requestedAt;
      if (samples.length === 0) {
        this.finishedSentence();
        continue;
      }
      if (this.startedAt === undefined) {
        this.transport.send({ type: 'audio_start', sampleRate: this.options.outputSampleRate });
        this.startedAt = performance.now();
        firstAudioAt = this.startedAt;
      }
      const durationMs = (samples.length / this.options.outputSampleRate) * 1000;
      this.timeline.push({ text: job.text, startMs: this.sentMs, durationMs });
      for (let offset = 0; offset < samples.length && !signal.aborted; offset += frameSamples) {
        const frame = samples.subarray(offset, offset + frameSamples);
        await sleep(this.startedAt + this.sentMs - this.options.leadMs - performance.now(), signal);
        if (signal.aborted) break;
        await this.transport.sendAudio(frame, signal);
        this.sentMs += (frame.length / this.options.outputSampleRate) * 1000;
      }
      this.finishedSentence();
    }
    if (this.startedAt !== undefined && !signal.aborted) {
      this.transport.send({ type: 'audio_end' });
      // The caller is still hearing the tail; an interruption until then still counts.
      await sleep(this.startedAt + this.sentMs - performance.now(), signal);
    }
    return {
      spokenText: this.timeline.map((sentence) => sentence.text).join(' '),
      playedText: signal.aborted ? this.heardText() : this.timeline.map((sentence) => sentence.text).join(' '),
      interrupted: signal.aborted,
      ttsFirstAudioMs,
      firstAudioAt,
    };
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
    void (async () => {
      try {
        for await (const text of sentences) {
          await this.roomAhead(signal);
          if (signal.aborted || this.stopped) break;
          this.inFlight += 1;
          const audio = this.tts
            .synthesize(text, { ...(this.options.voice ? { voice: this.options.voice } : {}), signal })
            .then((pcm) => resample(pcm, this.options.outputSampleRate));
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
