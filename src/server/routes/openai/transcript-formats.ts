import type { TranscriptSegment } from '../../../engines/stt/speech-to-text.js';

/** A phrase of a transcript: words that follow each other without a long pause. */
export interface Phrase {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
}

/** A pause this long, or a phrase this long, starts a new phrase (subtitle cue, verbose_json segment). */
const PHRASE_PAUSE_MS = 500;
const PHRASE_MAX_MS = 8_000;

/** Groups recognised words into phrases; engines that give one segment per utterance keep it. */
export const phrasesOf = (words: readonly TranscriptSegment[]): Phrase[] => {
  const phrases: Array<{ words: string[]; startMs: number; endMs: number }> = [];
  for (const word of words) {
    const current = phrases.at(-1);
    if (current && word.startMs - current.endMs < PHRASE_PAUSE_MS && word.endMs - current.startMs <= PHRASE_MAX_MS) {
      current.words.push(word.text);
      current.endMs = word.endMs;
    } else {
      phrases.push({ words: [word.text], startMs: word.startMs, endMs: word.endMs });
    }
  }
  return phrases.map((phrase) => ({ text: phrase.words.join(' '), startMs: phrase.startMs, endMs: phrase.endMs }));
};

const clock = (ms: number, separator: ',' | '.'): string => {
  const whole = Math.max(0, Math.round(ms));
  const hours = Math.floor(whole / 3_600_000);
  const minutes = Math.floor((whole % 3_600_000) / 60_000);
  const seconds = Math.floor((whole % 60_000) / 1000);
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return `${pad(hours)}:${pad(minutes)}:${pad(seconds)}${separator}${pad(whole % 1000, 3)}`;
};

/** SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`. */
export const toSrt = (phrases: readonly Phrase[]): string =>
  phrases.map((phrase, index) => `${index + 1}\n${clock(phrase.startMs, ',')} --> ${clock(phrase.endMs, ',')}\n${phrase.text}\n`).join('\n');

/** WebVTT: the header, then cues with `HH:MM:SS.mmm`. */
export const toVtt = (phrases: readonly Phrase[]): string =>
  ['WEBVTT\n', ...phrases.map((phrase) => `${clock(phrase.startMs, '.')} --> ${clock(phrase.endMs, '.')}\n${phrase.text}\n`)].join('\n');
