/** One synthesised sentence and where its audio sits in the reply's audio timeline. */
export interface SpokenSentence {
  readonly text: string;
  readonly startMs: number;
  readonly durationMs: number;
}

/**
 * The part of a reply the caller actually heard, given how many milliseconds of its
 * audio were played: whole sentences, then the share of words of the one cut off
 * (speech runs at a roughly even rate of words within a sentence).
 */
export const playedText = (sentences: readonly SpokenSentence[], playedMs: number): string => {
  const heard: string[] = [];
  for (const sentence of sentences) {
    if (playedMs >= sentence.startMs + sentence.durationMs) {
      heard.push(sentence.text);
      continue;
    }
    if (playedMs > sentence.startMs && sentence.durationMs > 0) {
      const words = sentence.text.split(/\s+/).filter(Boolean);
      const count = Math.floor((words.length * (playedMs - sentence.startMs)) / sentence.durationMs);
      if (count > 0) heard.push(words.slice(0, count).join(' '));
    }
    break;
  }
  return heard.join(' ');
};
