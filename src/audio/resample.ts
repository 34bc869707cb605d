import sherpa from 'sherpa-onnx-node';
import { float32ToInt16, int16ToFloat32, type PcmAudio } from './pcm.js';

interface NativeResampler {
  resample(samples: Float32Array, flush: boolean): Float32Array;
}

/**
 * Streaming sample-rate conversion (sherpa-onnx's windowed-sinc LinearResample from Kaldi,
 * which low-passes before decimating, so 48 kHz → 16 kHz does not alias).
 * One instance per stream: it keeps filter state between chunks.
 */
export class StreamResampler {
  private readonly native: NativeResampler | undefined;

  constructor(readonly fromRate: number, readonly toRate: number) {
    this.native = fromRate === toRate ? undefined : (new sherpa.LinearResampler(fromRate, toRate) as NativeResampler);
  }

  push(samples: Int16Array, flush = false): Int16Array {
    if (!this.native) return samples;
    return float32ToInt16(this.native.resample(int16ToFloat32(samples), flush));
  }
}

export const resample = (audio: PcmAudio, toRate: number): PcmAudio => {
  if (audio.sampleRate === toRate) return audio;
  return { samples: new StreamResampler(audio.sampleRate, toRate).push(audio.samples, true), sampleRate: toRate };
};
