/**
 * Numbers as people say or type them: "42", "forty two", "one hundred and five",
 * "twenty first", "5th". Speech recognisers emit words, so the word forms matter.
 */
const UNITS: Record<string, number> = {
  zero: 0, oh: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9,
  ten: 10, eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16,
  seventeen: 17, eighteen: 18, nineteen: 19,
};
const TENS: Record<string, number> = {
  twenty: 20, thirty: 30, forty: 40, fourty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
};
const ORDINAL_UNITS: Record<string, number> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9,
  tenth: 10, eleventh: 11, twelfth: 12, thirteenth: 13, fourteenth: 14, fifteenth: 15,
  sixteenth: 16, seventeenth: 17, eighteenth: 18, nineteenth: 19,
};
const ORDINAL_TENS: Record<string, number> = {
  twentieth: 20, thirtieth: 30, fortieth: 40, fiftieth: 50, sixtieth: 60, seventieth: 70, eightieth: 80, ninetieth: 90,
};
const SCALES: Record<string, number> = { hundred: 100, thousand: 1_000, million: 1_000_000 };

export interface ParsedNumber {
  readonly value: number;
  /** Said as an ordinal ("fifth", "5th"). */
  readonly ordinal: boolean;
}

const DIGITS = /^(\d+)(st|nd|rd|th)?$/;

export const isNumberWord = (word: string): boolean =>
  word in UNITS || word in TENS || word in ORDINAL_UNITS || word in ORDINAL_TENS || word in SCALES || DIGITS.test(word) || word === 'a' || word === 'and';

/**
 * Parses a whole word sequence as one number, or returns undefined if the words
 * are not exactly one well-formed number ("two three" is two numbers, not 23).
 */
export const parseNumberWords = (words: readonly string[]): ParsedNumber | undefined => {
  if (words.length === 0) return undefined;
  if (words.length === 1) {
    const digits = DIGITS.exec(words[0] as string);
    if (digits) return { value: Number(digits[1]), ordinal: digits[2] !== undefined };
  }
  let total = 0;
  let current = 0;
  // What the previous word allows next: units after tens, scales after units/tens.
  let previous: 'start' | 'unit' | 'teen' | 'tens' | 'hundred' | 'bigscale' | 'and' = 'start';
  let ordinal = false;
  for (let index = 0; index < words.length; index += 1) {
    const word = words[index] as string;
    if (ordinal) return undefined; // an ordinal can only be the last word
    if (word === 'a' && previous === 'start' && (words[index + 1] ?? '') in SCALES) {
      current = 1;
      previous = 'unit';
      continue;
    }
    if (word === 'and') {
      if (previous !== 'hundred' && previous !== 'bigscale') return undefined;
      previous = 'and';
      continue;
    }
    const unit = UNITS[word] ?? ORDINAL_UNITS[word];
    if (unit !== undefined) {
      if (word === 'oh') return undefined; // "oh" is only a digit inside years, handled by the date parser
      if (previous === 'unit' || previous === 'teen') return undefined;
      if (previous === 'tens' && unit >= 10) return undefined;
      current += unit;
      previous = unit >= 10 ? 'teen' : 'unit';
      ordinal = word in ORDINAL_UNITS;
      continue;
    }
    const tens = TENS[word] ?? ORDINAL_TENS[word];
    if (tens !== undefined) {
      if (previous === 'unit' || previous === 'teen' || previous === 'tens') return undefined;
      current += tens;
      previous = 'tens';
      ordinal = word in ORDINAL_TENS;
      continue;
    }
    const scale = SCALES[word];
    if (scale !== undefined) {
      if (previous === 'start' || previous === 'and') return undefined;
      if (scale === 100) {
        // "nineteen hundred", "one hundred": a multiplier below 100 must come first.
        if (!(previous === 'unit' || previous === 'teen' || previous === 'tens') || current === 0 || current >= 100) return undefined;
        current *= 100;
        previous = 'hundred';
      } else {
        total += (current || 1) * scale;
        current = 0;
        previous = 'bigscale';
      }
      continue;
    }
    const digits = DIGITS.exec(word);
    if (digits && (previous === 'start' || previous === 'and' || previous === 'bigscale' || previous === 'hundred')) {
      current += Number(digits[1]);
      previous = 'teen';
      ordinal = digits[2] !== undefined;
      continue;
    }
    return undefined;
  }
  if (previous === 'and') return undefined;
  return { value: total + current, ordinal };
};

/**
 * Finds the numbers in an utterance: digit strings (with decimals) and maximal runs of
 * number words, each parsed as one number ("I am forty two" → [42]).
 */
export const findNumbers = (words: readonly string[]): number[] => {
  const found: number[] = [];
  let run: string[] = [];
  const flush = () => {
    while (run.length > 0 && (run[run.length - 1] === 'and' || run[run.length - 1] === 'a')) run.pop();
    while (run.length > 0 && (run[0] === 'and' || (run[0] === 'a' && !((run[1] ?? '') in SCALES)))) run.shift();
    if (run.length > 0) {
      const parsed = parseNumberWords(run);
      if (parsed) found.push(parsed.value);
      else found.push(Number.NaN);
    }
    run = [];
  };
  for (let index = 0; index < words.length; index += 1) {
    const word = words[index] as string;
    const decimal = /^-?\d+\.\d+$/.exec(word);
    if (decimal) {
      flush();
      found.push(Number(word));
      continue;
    }
    if (word === 'point' && run.length > 0) {
      const fraction = words[index + 1];
      if (fraction !== undefined && fraction in UNITS) {
        const whole = parseNumberWords(run);
        run = [];
        // Collect every following digit word: "three point one four" → 3.14.
        let digits = '';
        while (index + 1 < words.length && (words[index + 1] as string) in UNITS && (UNITS[words[index + 1] as string] as number) < 10) {
          index += 1;
          digits += String(UNITS[words[index] as string]);
        }
        found.push(whole ? Number(`${whole.value}.${digits}`) : Number.NaN);
        continue;
      }
    }
    if (isNumberWord(word) && word !== 'oh') run.push(word);
    else flush();
  }
  flush();
  return found;
};
