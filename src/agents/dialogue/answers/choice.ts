import { parseNumberWords } from './numbers.js';
import { containsPhrase, tokenize } from './words.js';

export interface ChoiceOption {
  readonly value: string;
  readonly label: string;
  readonly synonyms?: readonly string[];
}

export type ChoiceResult = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly reason: 'no_match' | 'ambiguous' };

/**
 * Picks one option by its label, value or a synonym said anywhere in the answer,
 * or by position ("the second one"). Naming two options is ambiguous, not a guess.
 */
export const parseChoice = (text: string, options: readonly ChoiceOption[]): ChoiceResult => {
  const words = tokenize(text);
  const matched = options.filter((option) =>
    [option.label, option.value, ...(option.synonyms ?? [])].some((phrase) => {
      const phraseWords = tokenize(phrase);
      return phraseWords.length > 0 && containsPhrase(words, phraseWords.join(' '));
    }),
  );
  if (matched.length === 1) return { ok: true, value: (matched[0] as ChoiceOption).value };
  if (matched.length > 1) return { ok: false, reason: 'ambiguous' };
  const positions = words
    .map((word) => parseNumberWords([word]))
    .filter((parsed) => parsed?.ordinal)
    .map((parsed) => (parsed as { value: number }).value);
  if (positions.length === 1) {
    const option = options[(positions[0] as number) - 1];
    if (option) return { ok: true, value: option.value };
  }
  return { ok: false, reason: 'no_match' };
};
