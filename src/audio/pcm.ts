/** Mono 16-bit PCM at a known rate: the one audio shape that moves between stages. */
export interface PcmAudio {
  readonly samples: Int16Array;
  readonly sampleRate: number;
}

export const durationMs = (audio: PcmAudio): number => (audio.samples.length / audio.sampleRate) * 1000;

export const int16ToFloat32 = (samples: Int16Array): Float32Array => {
  const out = new Float32Array(samples.length);
  for (let index = 0; index < samples.length; index += 1) out[index] = (samples[index] as number) / 32768;
  return out;
};

export const float32ToInt16 = (samples: Float32Array): Int16Array => {
  const out = new Int16Array(samples.length);
  for (let index = 0; index < samples.length; index += 1) {
    // Same scale as int16ToFloat32, so a round trip is exact.
    out[index] = Math.max(-32768, Math.min(32767, Math.round((samples[index] as number) * 32768)));
  }
  return out;
};

/** Views little-endian s16 bytes as samples, copying only when the buffer is misaligned. */
export const int16FromBytes = (bytes: Uint8Array): Int16Array => {
  const usable = bytes.byteLength - (bytes.byteLength % 2);
  if (bytes.byteOffset % 2 === 0) return new Int16Array(bytes.buffer, bytes.byteOffset, usable / 2);
  // Misaligned (possible inside Node's buffer pool): copy into a fresh buffer. Buffer#slice would only make a view.
  const copy = new Uint8Array(usable);
  copy.set(bytes.subarray(0, usable));
  return new Int16Array(copy.buffer);
};

export const int16ToBytes = (samples: Int16Array): Buffer => Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);

export const concatPcm = (chunks: readonly Int16Array[]): Int16Array => {
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const out = new Int16Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
};

/** Root-mean-square level in dBFS; -Infinity for silence. */
export const levelDbfs = (samples: Int16Array): number => {
  if (samples.length === 0) return -Infinity;
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  const rms = Math.sqrt(sum / samples.length) / 32768;
  return rms === 0 ? -Infinity : 20 * Math.log10(rms);
};
