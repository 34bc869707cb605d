/**
 * Lower-cases an utterance and splits it into words, the way a speech recogniser
 * would have produced it: punctuation dropped, hyphenated numbers ("forty-two") split.
 * Apostrophes inside words ("don't") are kept.
 */
export const tokenize = (text: string): string[] =>
  text
    .toLowerCase()
    .replace(/[’‘`]/g, "'")
    .replace(/(\d),(\d{3})/g, '$1$2')
    .replace(/[^\p{L}\p{N}'.]+/gu, ' ')
    .replace(/\.(?!\d)/g, ' ')
    .split(/\s+/)
    .map((word) => word.replace(/^'+|'+$/g, ''))
    .filter((word) => word.length > 0);

/** True when `words` contains `phrase` (a space-separated sequence) as consecutive words. */
export const containsPhrase = (words: readonly string[], phrase: string): boolean => {
  const target = phrase.split(' ');
  for (let start = 0; start + target.length <= words.length; start += 1) {
    if (target.every((word, offset) => words[start + offset] === word)) return true;
  }
  return false;
};

const FILLERS = new Set(['um', 'uh', 'er', 'erm', 'hmm', 'mm', 'ah', 'eh', 'uhm']);

export const withoutFillers = (words: readonly string[]): string[] => words.filter((word) => !FILLERS.has(word));
