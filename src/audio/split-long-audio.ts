import type { PcmAudio } from './pcm.js';

export interface AudioPiece {
  readonly audio: PcmAudio;
  /** Where the piece starts in the whole recording. */
  readonly offsetMs: number;
}

const FRAME_MS = 20;

/**
 * Cuts a long recording into pieces of at most `maxMs`, each cut at the quietest 20 ms frame
 * of the piece's last `searchMs` (a pause between words, where nothing is cut in half).
 * Recognisers built for utterances (PocketSphinx) slow down sharply on minutes of audio.
 */
export const splitLongAudio = (audio: PcmAudio, maxMs = 20_000, searchMs = 8_000): AudioPiece[] => {
  const frame = Math.max(1, Math.round((audio.sampleRate * FRAME_MS) / 1000));
  const maxSamples = Math.round((audio.sampleRate * maxMs) / 1000);
  const searchSamples = Math.min(maxSamples - frame, Math.round((audio.sampleRate * searchMs) / 1000));
  const pieces: AudioPiece[] = [];
  let start = 0;
  while (audio.samples.length - start > maxSamples) {
    let cut = start + maxSamples;
    let quietest = Number.POSITIVE_INFINITY;
    for (let at = start + maxSamples - frame; at >= start + maxSamples - searchSamples; at -= frame) {
      let energy = 0;
      for (let index = at; index < at + frame; index += 1) energy += (audio.samples[index] as number) ** 2;
      if (energy < quietest) {
        quietest = energy;
        cut = at + Math.floor(frame / 2);
      }
    }
    pieces.push({ audio: { samples: audio.samples.subarray(start, cut), sampleRate: audio.sampleRate }, offsetMs: (start / audio.sampleRate) * 1000 });
    start = cut;
  }
  pieces.push({ audio: { samples: audio.samples.subarray(start), sampleRate: audio.sampleRate }, offsetMs: (start / audio.sampleRate) * 1000 });
  return pieces;
};
