/** Words as compared for WER: lower case, punctuation dropped, apostrophes kept. */
export const normaliseWords = (text: string): string[] =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean);

export interface WerCounts {
  readonly errors: number;
  readonly words: number;
}

/** Substitutions + deletions + insertions needed to turn the reference into the hypothesis. */
export const werCounts = (reference: string, hypothesis: string): WerCounts => {
  const ref = normaliseWords(reference);
  const hyp = normaliseWords(hypothesis);
  let previous = Array.from({ length: hyp.length + 1 }, (_, index) => index);
  for (let i = 1; i <= ref.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= hyp.length; j += 1) {
      const cost = ref[i - 1] === hyp[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
    }
    previous = current;
  }
  return { errors: previous[hyp.length] as number, words: ref.length };
};

export const wordErrorRate = (reference: string, hypothesis: string): number => {
  const { errors, words } = werCounts(reference, hypothesis);
  return words === 0 ? (errors === 0 ? 0 : 1) : errors / words;
};
