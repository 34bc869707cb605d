import type { PcmAudio } from './pcm.js';

/** Audio we cannot read: the client gets 415 with this message. */
export class UnsupportedAudioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedAudioError';
  }
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;

interface WavFormat {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
}

export const isWav = (bytes: Uint8Array): boolean =>
  bytes.byteLength >= 12 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).toString('latin1') === 'RIFF' &&
  Buffer.from(bytes.buffer, bytes.byteOffset + 8, 4).toString('latin1') === 'WAVE';

const readSample = (view: DataView, offset: number, format: WavFormat): number => {
  if (format.format === FORMAT_FLOAT) {
    return format.bitsPerSample === 64 ? view.getFloat64(offset, true) : view.getFloat32(offset, true);
  }
  switch (format.bitsPerSample) {
    case 8:
      return (view.getUint8(offset) - 128) / 128;
    case 16:
      return view.getInt16(offset, true) / 32768;
    case 24: {
      const value = view.getUint8(offset) | (view.getUint8(offset + 1) << 8) | (view.getInt8(offset + 2) << 16);
      return value / 8388608;
    }
    default:
      return view.getInt32(offset, true) / 2147483648;
  }
};

/**
 * Reads a WAV file (PCM 8/16/24/32-bit or float, any rate, any channel count)
 * into mono s16, averaging channels. Anything else is UnsupportedAudioError.
 */
export const decodeWav = (bytes: Uint8Array): PcmAudio => {
  if (!isWav(bytes)) throw new UnsupportedAudioError('not a WAV file (no RIFF/WAVE header)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let format: WavFormat | undefined;
  let offset = 12;
  while (offset + 8 <= bytes.byteLength) {
    const id = Buffer.from(bytes.buffer, bytes.byteOffset + offset, 4).toString('latin1');
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.byteLength) throw new UnsupportedAudioError('WAV fmt chunk is truncated');
      let code = view.getUint16(body, true);
      if (code === FORMAT_EXTENSIBLE) {
        // The real format sits in the extension's sub-format GUID, 24 bytes in.
        if (size < 26 || body + 26 > bytes.byteLength) throw new UnsupportedAudioError('WAV fmt chunk (WAVE_FORMAT_EXTENSIBLE) is truncated');
        code = view.getUint16(body + 24, true);
      }
      format = { format: code, channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bitsPerSample: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!format) throw new UnsupportedAudioError('WAV data chunk comes before its fmt chunk');
      return decodeData(view, body, Math.min(size, bytes.byteLength - body), format);
    }
    offset = body + size + (size % 2);
  }
  throw new UnsupportedAudioError(format ? 'WAV file has no data chunk' : 'WAV file has no fmt chunk');
};

const decodeData = (view: DataView, start: number, length: number, format: WavFormat): PcmAudio => {
  if (format.format !== FORMAT_PCM && format.format !== FORMAT_FLOAT) {
    throw new UnsupportedAudioError(`WAV encoding ${format.format} is not supported; send PCM or float WAV`);
  }
  const validBits = format.format === FORMAT_FLOAT ? [32, 64] : [8, 16, 24, 32];
  if (!validBits.includes(format.bitsPerSample)) throw new UnsupportedAudioError(`WAV with ${format.bitsPerSample}-bit samples is not supported`);
  if (format.channels < 1 || format.channels > 8) throw new UnsupportedAudioError(`WAV with ${format.channels} channels is not supported`);
  if (format.sampleRate < 4000 || format.sampleRate > 192000) throw new UnsupportedAudioError(`WAV sample rate ${format.sampleRate} Hz is out of range (4000–192000)`);
  const bytesPerSample = format.bitsPerSample / 8;
  const frameBytes = bytesPerSample * format.channels;
  const frames = Math.floor(length / frameBytes);
  const samples = new Int16Array(frames);
  for (let frame = 0; frame < frames; frame += 1) {
    let sum = 0;
    for (let channel = 0; channel < format.channels; channel += 1) {
      sum += readSample(view, start + frame * frameBytes + channel * bytesPerSample, format);
    }
    samples[frame] = Math.max(-32768, Math.min(32767, Math.round((sum / format.channels) * 32768)));
  }
  return { samples, sampleRate: format.sampleRate };
};

/** A 16-bit mono PCM WAV file. */
export const encodeWav = (audio: PcmAudio): Buffer => {
  const dataBytes = audio.samples.length * 2;
  const out = Buffer.alloc(44 + dataBytes);
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'latin1');
  out.write('fmt ', 12, 'latin1');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(FORMAT_PCM, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(audio.sampleRate, 24);
  out.writeUInt32LE(audio.sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(dataBytes, 40);
  Buffer.from(audio.samples.buffer, audio.samples.byteOffset, dataBytes).copy(out, 44);
  return out;
};
