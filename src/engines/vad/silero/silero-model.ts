import { OnnxSession, OnnxTensor } from '../../onnx/onnx-runtime.js';

export const SILERO_WINDOW = 512; // samples per decision at 16 kHz (32 ms)
/** Silero v5 looks at the 64 samples before each window as well. */
const V5_CONTEXT = 64;

/** What a stream keeps between windows: the recurrent state (two copies, swapped each run) and the window buffer. */
export interface SileroState {
  /** Speech probability of the next 512 samples (floats in −1…1). */
  probability(window: Float32Array): number;
  release(): void;
}

/**
 * One Silero VAD model (v4 or v5) loaded once and shared by every stream. Runs are synchronous
 * (~0.1 ms a window) on the calling thread, so streams never overlap on it.
 */
export class SileroModel {
  private readonly sampleRate = OnnxTensor.int64([], [16_000n]);
  private readonly probabilityOut = OnnxTensor.float32([1, 1]);

  private constructor(private readonly session: OnnxSession, readonly version: 4 | 5) {}

  /** Throws when the file is not a Silero v4 (4 inputs) or v5 (3 inputs) model. */
  static load(path: string): SileroModel {
    const session = OnnxSession.open(path);
    if (session.inputCount === 3 && session.outputCount === 2) return new SileroModel(session, 5);
    if (session.inputCount === 4 && session.outputCount === 3) return new SileroModel(session, 4);
    session.close();
    throw new Error(`${path} is not a Silero VAD model (expected v4 or v5)`);
  }

  createState(): SileroState {
    return this.version === 5 ? this.v5State() : this.v4State();
  }

  close(): void {
    this.session.close();
    this.sampleRate.release();
    this.probabilityOut.release();
  }

  private v5State(): SileroState {
    const input = OnnxTensor.float32([1, V5_CONTEXT + SILERO_WINDOW]);
    let state = OnnxTensor.float32([2, 1, 128]);
    let next = OnnxTensor.float32([2, 1, 128]);
    return {
      probability: (window) => {
        // The previous window's last samples become this one's context.
        input.data.copyWithin(0, SILERO_WINDOW);
        input.data.set(window, V5_CONTEXT);
        this.session.run({ input, state, sr: this.sampleRate }, { output: this.probabilityOut, stateN: next });
        [state, next] = [next, state];
        return this.probabilityOut.data[0] as number;
      },
      release: () => [input, state, next].forEach((tensor) => tensor.release()),
    };
  }

  private v4State(): SileroState {
    const input = OnnxTensor.float32([1, SILERO_WINDOW]);
    let [h, c] = [OnnxTensor.float32([2, 1, 64]), OnnxTensor.float32([2, 1, 64])];
    let [hn, cn] = [OnnxTensor.float32([2, 1, 64]), OnnxTensor.float32([2, 1, 64])];
    return {
      probability: (window) => {
        input.data.set(window);
        this.session.run({ input, sr: this.sampleRate, h, c }, { output: this.probabilityOut, hn, cn });
        [h, hn] = [hn, h];
        [c, cn] = [cn, c];
        return this.probabilityOut.data[0] as number;
      },
      release: () => [input, h, c, hn, cn].forEach((tensor) => tensor.release()),
    };
  }
}
