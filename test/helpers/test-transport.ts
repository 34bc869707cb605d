import { performance } from 'node:perf_hooks';
import type { AudioFormat } from '../../src/audio/audio-format.js';
import { PlaybackPosition, type AudioSink } from '../../src/session/audio-sink.js';
import type { SessionEvent, SessionTransport } from '../../src/session/events.js';

export interface WrittenChunk {
  readonly replyId: string;
  readonly bytes: Buffer;
  readonly durationMs: number;
}

/**
 * A sink that plays nothing. Playback positions: `wall-clock` reports none (the session
 * estimates); `instant` reports every chunk heard as soon as it is written (no real-time
 * pacing, so tests run fast); `manual` reports only what the test acknowledges with `ack()`.
 */
export class TestSink implements AudioSink {
  readonly chunks: WrittenChunk[] = [];
  readonly played: PlaybackPosition | undefined;
  clears = 0;
  firstWriteAt: number | undefined;
  private replyId = '';
  private writtenMs = 0;

  constructor(
    readonly format: AudioFormat,
    private readonly playback: 'wall-clock' | 'instant' | 'manual' = 'instant',
    readonly frameMs?: number,
  ) {
    this.played = playback === 'wall-clock' ? undefined : new PlaybackPosition();
  }

  begin(replyId: string): void {
    this.replyId = replyId;
    this.writtenMs = 0;
  }

  async write(chunk: Buffer, durationMs: number): Promise<void> {
    this.firstWriteAt ??= performance.now();
    this.chunks.push({ replyId: this.replyId, bytes: Buffer.from(chunk), durationMs });
    this.writtenMs += durationMs;
    if (this.playback === 'instant') this.played?.report(this.writtenMs);
  }

  clear(): void {
    this.clears += 1;
  }

  rewind(ms: number): void {
    this.writtenMs = ms;
  }

  /** The listener heard the current reply up to `ms`. */
  ack(ms: number): void {
    this.played?.report(ms);
  }

  bytesOf(replyId: string): Buffer {
    return Buffer.concat(this.chunks.filter((chunk) => chunk.replyId === replyId).map((chunk) => chunk.bytes));
  }
}

/** A transport that records every session event and lets a test wait for one. */
export class TestTransport implements SessionTransport {
  readonly events: SessionEvent[] = [];
  endedWith: string | undefined;
  private waiters: Array<() => void> = [];

  constructor(readonly audio: TestSink) {}

  send(event: SessionEvent): void {
    this.events.push(event);
    for (const wake of this.waiters.splice(0)) wake();
  }

  end(reason: string): void {
    this.endedWith = reason;
  }

  ofType<T extends SessionEvent['type']>(type: T): Array<Extract<SessionEvent, { type: T }>> {
    return this.events.filter((event): event is Extract<SessionEvent, { type: T }> => event.type === type);
  }

  /** The first event of `type` (matching `where`) already sent or still to come. */
  async waitFor<T extends SessionEvent['type']>(type: T, where: (event: Extract<SessionEvent, { type: T }>) => boolean = () => true, timeoutMs = 20_000): Promise<Extract<SessionEvent, { type: T }>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.ofType(type).find(where);
      if (found) return found;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no ${type} event within ${timeoutMs} ms; saw ${this.events.map((event) => event.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
