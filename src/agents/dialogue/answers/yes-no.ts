import { containsPhrase, tokenize } from './words.js';

export type YesNo = { readonly ok: true; readonly value: boolean } | { readonly ok: false; readonly reason: 'unsure' | 'ambiguous' | 'no_answer' };

const AFFIRMATIVE_WORDS = new Set(['yes', 'yeah', 'yep', 'yup', 'yea', 'ya', 'sure', 'correct', 'affirmative', 'absolutely', 'definitely', 'certainly', 'ok', 'okay', 'indeed']);
const AFFIRMATIVE_PHRASES = ['of course', 'i do', 'i have', 'i am', "i'm", 'i agree', 'i consent', 'go ahead', "that's right", 'that is right', 'that is correct', "that's correct", 'please do'];
const NEGATIVE_WORDS = new Set(['no', 'nope', 'nah', 'none', 'not', 'never', 'negative', 'nothing', "don't", "doesn't", "haven't", "hasn't", "didn't", "can't", "won't", "isn't", "aren't", "wasn't", 'dont', 'havent', 'nobody', 'neither', 'disagree']);
const UNSURE_PHRASES = ["don't know", 'do not know', 'not sure', "i'm unsure", 'unsure', 'maybe', 'perhaps', 'no idea', 'not certain', "can't remember", 'cannot remember', "don't remember"];
/** Intensifiers that flip to a firm no when followed by "not" ("absolutely not"). */
const EMPHATIC_NO = /\b(absolutely|definitely|certainly|of course|sure) not\b/;

/**
 * Reads a yes or no from a free answer ("yes I do", "no, none", "nope", "I don't").
 * Mixed signals ("yes and no") and uncertainty ("I'm not sure") are not guessed at. A lone
 * key 1 or 2 (a phone keypad) is yes or no.
 */
export const parseYesNo = (text: string): YesNo => {
  // Keys pressed on a phone arrive as digits: "press 1 for yes, 2 for no".
  const keys = text.trim();
  if (keys === '1') return { ok: true, value: true };
  if (keys === '2') return { ok: true, value: false };
  const words = tokenize(text);
  const joined = words.join(' ');
  if (UNSURE_PHRASES.some((phrase) => containsPhrase(words, phrase))) return { ok: false, reason: 'unsure' };
  if (EMPHATIC_NO.test(joined)) return { ok: true, value: false };
  const negative = words.some((word) => NEGATIVE_WORDS.has(word)) || containsPhrase(words, 'do not') || containsPhrase(words, 'have not');
  const explicitYes = words.some((word) => AFFIRMATIVE_WORDS.has(word));
  if (negative && explicitYes) return { ok: false, reason: 'ambiguous' };
  if (negative) return { ok: true, value: false };
  if (explicitYes || AFFIRMATIVE_PHRASES.some((phrase) => containsPhrase(words, phrase))) return { ok: true, value: true };
  return { ok: false, reason: 'no_answer' };
};
