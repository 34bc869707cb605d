import alawmulaw from 'alawmulaw';
import { int16FromBytes, int16ToBytes } from './pcm.js';

/** How audio is carried on a wire: 16-bit little-endian PCM, or G.711 μ-law / A-law (telephony, one byte per sample). */
export type AudioEncoding = 'pcm_s16le' | 'mulaw' | 'alaw';

export const AUDIO_ENCODINGS: readonly AudioEncoding[] = ['pcm_s16le', 'mulaw', 'alaw'];

export interface AudioFormat {
  readonly sampleRate: number;
  readonly encoding: AudioEncoding;
}

export const bytesPerSample = (encoding: AudioEncoding): number => (encoding === 'pcm_s16le' ? 2 : 1);

/** Mono s16 samples → wire bytes. */
export const encodeSamples = (samples: Int16Array, encoding: AudioEncoding): Buffer => {
  if (encoding === 'pcm_s16le') return int16ToBytes(samples);
  const encoded = encoding === 'mulaw' ? alawmulaw.mulaw.encode(samples) : alawmulaw.alaw.encode(samples);
  return Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
};

/** Wire bytes → mono s16 samples (an odd trailing PCM byte is dropped). */
export const decodeSamples = (bytes: Uint8Array, encoding: AudioEncoding): Int16Array => {
  if (encoding === 'pcm_s16le') return int16FromBytes(bytes);
  return encoding === 'mulaw' ? alawmulaw.mulaw.decode(bytes) : alawmulaw.alaw.decode(bytes);
};

export const durationMsOf = (byteLength: number, format: AudioFormat): number => (byteLength / bytesPerSample(format.encoding) / format.sampleRate) * 1000;
