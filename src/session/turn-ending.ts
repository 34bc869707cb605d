import type { AnswerExpectation } from '../agents/agent.js';
import { parseChoice } from '../agents/dialogue/answers/choice.js';
import { parseDate } from '../agents/dialogue/answers/dates.js';
import { parseNumberWords } from '../agents/dialogue/answers/numbers.js';
import { parseYesNo } from '../agents/dialogue/answers/yes-no.js';
import { tokenize, withoutFillers } from '../agents/dialogue/answers/words.js';

/** Which rule ended a caller's turn (stored with the turn). */
export type EndOfTurnRule = 'complete_answer' | 'incomplete' | 'default' | 'fixed';

export interface TurnEndingSettings {
  /** The usual pause that ends a turn (voice.endOfTurnSilenceMs). */
  readonly defaultSilenceMs: number;
  /** The hypothesis already answers the question asked (yes/no, a number, a date, a choice): this short pause ends it. */
  readonly completeAnswerSilenceMs: number;
  /** The caller stopped mid-answer ("the fifth of…", "and", "um"): wait this long. */
  readonly incompleteSilenceMs: number;
}

export interface TurnEndingDecision {
  readonly rule: EndOfTurnRule;
  readonly silenceMs: number;
}

/** Words after which nobody has finished: a conjunction, a preposition, an article, a hesitation. */
const TRAILING = new Set([
  'and', 'or', 'but', 'so', 'because', 'if', 'then', 'the', 'a', 'an', 'of', 'to', 'for', 'with', 'in', 'on', 'at', 'my', 'your', 'is', 'was', 'um', 'uh', 'er', 'erm', 'hmm', 'like', 'that', 'which', 'who',
]);
/** A number that can still grow: "twenty" (… five), "hundred" (… and two), "nineteen" as the start of a year. */
const OPEN_NUMBER_WORDS = new Set(['twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety', 'hundred', 'thousand', 'million', 'and', 'a']);

const lastWord = (words: readonly string[]): string | undefined => words[words.length - 1];

/** Does `text` already form a whole answer of the kind expected, one more word could not change? */
export const isCompleteAnswer = (expect: AnswerExpectation, text: string, referenceYear = new Date().getUTCFullYear()): boolean => {
  const words = withoutFillers(tokenize(text));
  if (words.length === 0) return false;
  switch (expect.type) {
    case 'yesno':
      return parseYesNo(text).ok && !TRAILING.has(lastWord(words) as string);
    case 'number': {
      const parsed = parseNumberWords(words);
      if (!parsed || OPEN_NUMBER_WORDS.has(lastWord(words) as string)) return false;
      return (expect.min === undefined || parsed.value >= expect.min) && (expect.max === undefined || parsed.value <= expect.max);
    }
    case 'date': {
      if (!parseDate(text, { order: 'mdy', referenceYear }).ok) return false;
      // "march fifth nineteen eighty" may go on to "… two".
      return !OPEN_NUMBER_WORDS.has(lastWord(words) as string) && lastWord(words) !== 'nineteen';
    }
    case 'choice':
      return parseChoice(text, expect.options.map((option) => ({ value: option, label: option }))).ok;
    case 'text':
      return false;
  }
};

/**
 * How long a pause ends the caller's turn, given what they have said so far (the streaming
 * recogniser's hypothesis) and what the agent asked: short once the answer is whole, long
 * while it is plainly unfinished, the usual pause otherwise.
 */
export const silenceToEndTurn = (expect: AnswerExpectation | undefined, hypothesis: string, settings: TurnEndingSettings): TurnEndingDecision => {
  const words = tokenize(hypothesis);
  if (expect && expect.type !== 'text' && isCompleteAnswer(expect, hypothesis)) return { rule: 'complete_answer', silenceMs: settings.completeAnswerSilenceMs };
  const last = lastWord(words);
  if (last !== undefined && TRAILING.has(last)) return { rule: 'incomplete', silenceMs: settings.incompleteSilenceMs };
  if (expect?.type === 'date' && words.length > 0) return { rule: 'incomplete', silenceMs: settings.incompleteSilenceMs };
  return { rule: 'default', silenceMs: settings.defaultSilenceMs };
};
