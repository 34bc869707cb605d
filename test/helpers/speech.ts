import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PcmAudio } from '../../src/audio/pcm.js';
import { decodeWav } from '../../src/audio/wav.js';
import { SHARED_AUDIO } from './shared.js';

/** Real speech for tests: a recording from ../shared/audio. */
export const recording = (name: string): PcmAudio => decodeWav(readFileSync(join(SHARED_AUDIO, name)));

export const referenceTranscript = (name: string): string => {
  const line = readFileSync(join(SHARED_AUDIO, 'transcripts.tsv'), 'utf8')
    .split('\n')
    .find((row) => row.startsWith(`${name}\t`));
  if (!line) throw new Error(`no reference transcript for ${name}`);
  return (line.split('\t')[1] as string).toLowerCase();
};

/** Speech synthesised by the Flite CLI (voice slt, 16 kHz), as a caller's answer. */
export const spoken = (text: string): PcmAudio => {
  const dir = mkdtempSync(join(tmpdir(), 'harken-speech-'));
  try {
    const file = join(dir, 'speech.wav');
    execFileSync('flite', ['-voice', 'slt', '-t', text, '-o', file]);
    return decodeWav(readFileSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

export const silence = (ms: number, sampleRate = 16_000): Int16Array => new Int16Array(Math.round((ms * sampleRate) / 1000));
