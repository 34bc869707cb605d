/**
 * Microphone capture on the audio thread: mono 16-bit PCM at 16 kHz in 20 ms frames, posted to
 * the page as transferable buffers. The context runs at whatever rate the browser picked; each
 * output sample is the mean of the input samples it covers (a box low-pass before decimation,
 * enough for speech at 48 → 16 kHz). While muted (push to talk, released) it sends silence, so
 * the server's voice detector still hears the turn end.
 */

// The AudioWorkletGlobalScope, which TypeScript's DOM library does not describe.
declare const sampleRate: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, processor: new () => AudioWorkletProcessor): void;

const TARGET_RATE = 16_000;
const FRAME_SAMPLES = 320;

class CaptureProcessor extends AudioWorkletProcessor {
  private readonly ratio = sampleRate / TARGET_RATE;
  private muted = false;
  private sum = 0;
  private count = 0;
  /** Input samples consumed, and where the next output sample ends (in input samples). */
  private consumed = 0;
  private nextBoundary = this.ratio;
  private frame = new Int16Array(FRAME_SAMPLES);
  private filled = 0;

  constructor() {
    super();
    this.port.onmessage = (message: MessageEvent<{ muted?: boolean }>) => {
      if (typeof message.data.muted === 'boolean') this.muted = message.data.muted;
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const channel = inputs[0]?.[0];
    if (!channel) return true;
    for (let index = 0; index < channel.length; index += 1) {
      this.sum += this.muted ? 0 : (channel[index] as number);
      this.count += 1;
      this.consumed += 1;
      if (this.consumed >= this.nextBoundary) {
        // Downsampling averages the span; upsampling (a context below 16 kHz) repeats the sample.
        const mean = this.sum / this.count;
        do {
          this.emit(mean);
          this.nextBoundary += this.ratio;
        } while (this.consumed >= this.nextBoundary);
        this.sum = 0;
        this.count = 0;
      }
    }
    // Keep the counters small: only their difference matters.
    this.nextBoundary -= this.consumed;
    this.consumed = 0;
    return true;
  }

  private emit(value: number): void {
    const clamped = Math.max(-1, Math.min(1, value));
    this.frame[this.filled] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    this.filled += 1;
    if (this.filled === FRAME_SAMPLES) {
      this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
      this.frame = new Int16Array(FRAME_SAMPLES);
      this.filled = 0;
    }
  }
}

registerProcessor('harken-capture', CaptureProcessor);
