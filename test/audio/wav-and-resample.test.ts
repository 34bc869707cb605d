import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { levelDbfs } from '../../src/audio/pcm.js';
import { resample, StreamResampler } from '../../src/audio/resample.js';
import { decodeWav, encodeWav, UnsupportedAudioError } from '../../src/audio/wav.js';
import { SHARED_AUDIO } from '../helpers/shared.js';

const tone = (frequency: number, sampleRate: number, seconds: number, amplitude = 0.5): Int16Array =>
  Int16Array.from({ length: Math.round(sampleRate * seconds) }, (_, index) => Math.round(Math.sin((2 * Math.PI * frequency * index) / sampleRate) * amplitude * 32767));

/** Builds a WAV with arbitrary format fields, to test the decoder against what other tools write. */
const wavWith = (format: { code: number; channels: number; rate: number; bits: number }, data: Buffer): Buffer => {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(format.code, 20);
  header.writeUInt16LE(format.channels, 22);
  header.writeUInt32LE(format.rate, 24);
  header.writeUInt32LE((format.rate * format.channels * format.bits) / 8, 28);
  header.writeUInt16LE((format.channels * format.bits) / 8, 32);
  header.writeUInt16LE(format.bits, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
};

describe('WAV', () => {
  it('reads a real 16 kHz recording and writes it back bit for bit', () => {
    const bytes = readFileSync(`${SHARED_AUDIO}/jfk.wav`);
    const audio = decodeWav(bytes);
    expect(audio.sampleRate).toBe(16_000);
    expect(audio.samples.length / 16_000).toBeCloseTo(11, 0);
    expect(decodeWav(encodeWav(audio)).samples).toEqual(audio.samples);
  });

  it('downmixes stereo and converts float and 24-bit samples', () => {
    const stereo = Buffer.alloc(8);
    stereo.writeInt16LE(1000, 0);
    stereo.writeInt16LE(3000, 2);
    stereo.writeInt16LE(-2000, 4);
    stereo.writeInt16LE(-4000, 6);
    expect([...decodeWav(wavWith({ code: 1, channels: 2, rate: 8000, bits: 16 }, stereo)).samples]).toEqual([2000, -3000]);
    const floats = Buffer.alloc(8);
    floats.writeFloatLE(0.5, 0);
    floats.writeFloatLE(-1, 4);
    expect([...decodeWav(wavWith({ code: 3, channels: 1, rate: 48000, bits: 32 }, floats)).samples]).toEqual([16384, -32768]);
    const s24 = Buffer.from([0x00, 0x00, 0x40]); // 0x400000 = half scale
    expect([...decodeWav(wavWith({ code: 1, channels: 1, rate: 44100, bits: 24 }, s24)).samples]).toEqual([16384]);
  });

  it('rejects what it cannot read with a reason', () => {
    expect(() => decodeWav(Buffer.from('ID3 this is an mp3'))).toThrow(UnsupportedAudioError);
    expect(() => decodeWav(wavWith({ code: 7, channels: 1, rate: 8000, bits: 8 }, Buffer.alloc(10)))).toThrow(/encoding 7 is not supported/);
    expect(() => decodeWav(wavWith({ code: 1, channels: 1, rate: 1000, bits: 16 }, Buffer.alloc(10)))).toThrow(/out of range/);
    expect(() => decodeWav(readFileSync(`${SHARED_AUDIO}/jfk.wav`).subarray(0, 30))).toThrow(/truncated|no fmt/);
  });
});

describe('resampling', () => {
  it('keeps a 440 Hz tone when going 8 kHz → 16 kHz → 48 kHz → 16 kHz', () => {
    const source = { samples: tone(440, 8000, 1), sampleRate: 8000 };
    const back = resample(resample(resample(source, 16_000), 48_000), 16_000);
    expect(back.samples.length).toBeGreaterThan(15_500);
    expect(levelDbfs(back.samples.subarray(2000, 14000))).toBeCloseTo(levelDbfs(source.samples), 0);
  });

  it('filters out what the lower rate cannot carry instead of aliasing it', () => {
    const highTone = { samples: tone(12_000, 48_000, 1), sampleRate: 48_000 };
    const down = resample(highTone, 16_000); // 12 kHz is above the 8 kHz Nyquist limit of 16 kHz audio
    expect(levelDbfs(down.samples.subarray(1000, 15000))).toBeLessThan(levelDbfs(highTone.samples) - 30);
  });

  it('gives the same result fed in small chunks as in one piece', () => {
    const input = tone(300, 8000, 0.5);
    const whole = new StreamResampler(8000, 16_000).push(input, true);
    const streaming = new StreamResampler(8000, 16_000);
    const parts: number[] = [];
    for (let offset = 0; offset < input.length; offset += 160) parts.push(...streaming.push(input.subarray(offset, offset + 160), offset + 160 >= input.length));
    expect(parts.length).toBe(whole.length);
    expect(Math.max(...parts.map((sample, index) => Math.abs(sample - (whole[index] as number))))).toBeLessThanOrEqual(1);
  });
});
