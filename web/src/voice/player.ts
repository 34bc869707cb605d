/**
 * Reply audio through Web Audio: each chunk of 16-bit PCM becomes a buffer scheduled right after
 * the one before, so playback is gapless however the chunks arrive. `stop()` silences everything
 * scheduled at once (barge-in). It counts what it scheduled and what has played, which the page
 * shows (and the browser tests read).
 */
export class Player {
  private readonly sources = new Set<AudioBufferSourceNode>();
  private nextStartTime = 0;
  private scheduledMs = 0;
  /** Audio-clock time by which everything scheduled so far has played. */
  private endsAt = 0;
  private stoppedMs = 0;

  constructor(private readonly context: AudioContext) {}

  play(pcm: Int16Array, sampleRate: number): void {
    if (pcm.length === 0) return;
    const buffer = this.context.createBuffer(1, pcm.length, sampleRate);
    const channel = buffer.getChannelData(0);
    for (let index = 0; index < pcm.length; index += 1) channel[index] = (pcm[index] as number) / 0x8000;
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    // A little lead on the first chunk so it does not start late and click.
    const startAt = Math.max(this.nextStartTime, this.context.currentTime + 0.05);
    source.start(startAt);
    source.onended = () => this.sources.delete(source);
    this.sources.add(source);
    this.nextStartTime = startAt + buffer.duration;
    this.endsAt = this.nextStartTime;
    this.scheduledMs += buffer.duration * 1000;
  }

  /** Drops everything scheduled and not yet played. */
  stop(): void {
    const now = this.context.currentTime;
    // What was scheduled but will now never play.
    this.stoppedMs += Math.max(0, this.endsAt - now) * 1000;
    for (const source of this.sources) {
      source.onended = null;
      source.stop();
      source.disconnect();
    }
    this.sources.clear();
    this.nextStartTime = 0;
    this.endsAt = now;
  }

  get playing(): boolean {
    return this.endsAt > this.context.currentTime;
  }

  /** Milliseconds of scheduled audio still to play. */
  get remainingMs(): number {
    return Math.max(0, this.endsAt - this.context.currentTime) * 1000;
  }

  /** Milliseconds of reply audio that have played out so far. */
  get playedMs(): number {
    const pending = Math.max(0, this.endsAt - this.context.currentTime) * 1000;
    return Math.max(0, this.scheduledMs - this.stoppedMs - pending);
  }
}
