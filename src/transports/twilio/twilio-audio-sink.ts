import type { AudioFormat } from '../../audio/audio-format.js';
import { PlaybackPosition, type AudioSink } from '../../session/audio-sink.js';
import { clearMessage, markMessage, mediaMessage } from './media-streams.js';

const TELEPHONE: AudioFormat = { sampleRate: 8_000, encoding: 'mulaw' };

/**
 * Reply audio into a Twilio call: 20 ms μ-law frames, each followed by a named mark. Twilio
 * echoes a mark when the audio before it has played, so the echoes are the played position
 * (the session paces by them and cuts an interrupted reply at them). Marks are named
 * `<reply number>:<ms of the reply sent up to it>`; after `clear` Twilio returns the pending
 * marks of audio that never played, so marks of a cleared or earlier reply are ignored.
 */
export class TwilioAudioSink implements AudioSink {
  readonly format = TELEPHONE;
  readonly frameMs = 20;
  readonly played = new PlaybackPosition();
  private reply = 0;
  private sentMs = 0;

  constructor(
    private readonly streamSid: string,
    private readonly send: (text: string) => void,
    /** Resolves when the socket can take more (backpressure), or rejects when it is gone. */
    private readonly drained: (signal: AbortSignal) => Promise<void>,
  ) {}

  begin(): void {
    this.reply += 1;
    this.sentMs = 0;
  }

  async write(chunk: Buffer, durationMs: number, signal: AbortSignal): Promise<void> {
    await this.drained(signal);
    if (signal.aborted) return;
    this.sentMs += durationMs;
    this.send(mediaMessage(this.streamSid, chunk));
    this.send(markMessage(this.streamSid, `${this.reply}:${Math.round(this.sentMs * 1000) / 1000}`));
  }

  rewind(ms: number): void {
    this.sentMs = ms;
  }

  clear(): void {
    // The marks still pending belong to audio the caller will never hear.
    this.reply += 1;
    this.send(clearMessage(this.streamSid));
  }

  /** Twilio echoed a mark. */
  acknowledge(name: string): void {
    const [reply, ms] = name.split(':').map(Number);
    if (reply === this.reply && Number.isFinite(ms)) this.played.report(ms as number);
  }
}
