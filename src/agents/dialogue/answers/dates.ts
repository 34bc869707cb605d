import { isNumberWord, parseNumberWords } from './numbers.js';
import { tokenize } from './words.js';

/** A calendar date without time zone. */
export interface CalendarDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

export type DateOrder = 'mdy' | 'dmy';

const MONTHS: Record<string, number> = {
  january: 1, jan: 1, february: 2, feb: 2, march: 3, mar: 3, april: 4, apr: 4, may: 5, june: 6, jun: 6,
  july: 7, jul: 7, august: 8, aug: 8, september: 9, sep: 9, sept: 9, october: 10, oct: 10,
  november: 11, nov: 11, december: 12, dec: 12,
};
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const SKIPPED = new Set(['the', 'of', 'on', ',']);

export const isValidDate = ({ year, month, day }: CalendarDate): boolean => {
  if (!Number.isInteger(year) || !Number.isInteger(month) || !Number.isInteger(day)) return false;
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
};

export const toIsoDate = ({ year, month, day }: CalendarDate): string =>
  `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;

export const fromIsoDate = (iso: string): CalendarDate | undefined => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!match) return undefined;
  const date = { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) };
  return isValidDate(date) ? date : undefined;
};

/** "March 5, 1982": unambiguous in any locale, and how a voice agent should read it back. */
export const formatSpokenDate = ({ year, month, day }: CalendarDate): string => `${MONTH_NAMES[month - 1]} ${day}, ${year}`;

export const compareDates = (a: CalendarDate, b: CalendarDate): number => toIsoDate(a).localeCompare(toIsoDate(b));

/** Two-digit years pivot on the reference year: "82" → 1982, "05" → 2005 (in 2026). */
const expandTwoDigitYear = (twoDigits: number, referenceYear: number): number => {
  const century = Math.floor(referenceYear / 100) * 100;
  return century + twoDigits > referenceYear ? century - 100 + twoDigits : century + twoDigits;
};

/** Years as spoken: "nineteen eighty two", "twenty oh five", "two thousand and three", "1982". */
export const parseSpokenYear = (words: readonly string[], referenceYear: number): number | undefined => {
  if (words.length === 1 && /^\d{4}$/.test(words[0] as string)) return Number(words[0]);
  if (words.length === 1 && /^\d{2}$/.test(words[0] as string)) return expandTwoDigitYear(Number(words[0]), referenceYear);
  const whole = parseNumberWords(words);
  if (whole && !whole.ordinal && whole.value >= 1000 && whole.value <= 2999) return whole.value;
  // Said in two halves: century then the rest ("nineteen | eighty two", "twenty | oh five").
  for (let split = 1; split < words.length; split += 1) {
    const century = parseNumberWords(words.slice(0, split));
    if (!century || century.ordinal || century.value < 10 || century.value > 29) continue;
    const rest = words.slice(split);
    if (rest.length === 1 && rest[0] === 'hundred') return century.value * 100;
    if ((rest[0] === 'oh' || rest[0] === 'o') && rest.length === 2) {
      const digit = parseNumberWords(rest.slice(1));
      if (digit && !digit.ordinal && digit.value < 10) return century.value * 100 + digit.value;
      continue;
    }
    const tail = parseNumberWords(rest);
    if (tail && !tail.ordinal && tail.value >= 10 && tail.value <= 99) return century.value * 100 + tail.value;
  }
  return undefined;
};

const parseDay = (words: readonly string[]): number | undefined => {
  const parsed = parseNumberWords(words.filter((word) => !SKIPPED.has(word)));
  return parsed && parsed.value >= 1 && parsed.value <= 31 ? parsed.value : undefined;
};

const isDateWord = (word: string): boolean => isNumberWord(word) || word === 'oh' || word === 'o';

/** Numeric forms: 1982-03-05, 03/05/1982 (order per locale), 5.3.1982 (always day first). */
const parseNumericDate = (text: string, order: DateOrder, referenceYear: number): CalendarDate | undefined => {
  // Eight keys on a phone keypad, in the flow's order: 03051982 is March 5, 1982 (mdy).
  const keyed = /^(\d{2})(\d{2})(\d{4})$/.exec(text.trim());
  if (keyed) {
    const [first, second, year] = [Number(keyed[1]), Number(keyed[2]), Number(keyed[3])];
    return order === 'mdy' ? { year, month: first, day: second } : { year, month: second, day: first };
  }
  const iso = /\b(\d{4})-(\d{1,2})-(\d{1,2})\b/.exec(text);
  if (iso) return { year: Number(iso[1]), month: Number(iso[2]), day: Number(iso[3]) };
  const dotted = /\b(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})\b/.exec(text);
  if (dotted) {
    const year = (dotted[3] as string).length === 2 ? expandTwoDigitYear(Number(dotted[3]), referenceYear) : Number(dotted[3]);
    return { year, month: Number(dotted[2]), day: Number(dotted[1]) };
  }
  const slashed = /\b(\d{1,2})[/-](\d{1,2})[/-](\d{2}|\d{4})\b/.exec(text);
  if (slashed) {
    const first = Number(slashed[1]);
    const second = Number(slashed[2]);
    const year = (slashed[3] as string).length === 2 ? expandTwoDigitYear(Number(slashed[3]), referenceYear) : Number(slashed[3]);
    return order === 'mdy' ? { year, month: first, day: second } : { year, month: second, day: first };
  }
  return undefined;
};

export type DateParseResult =
  | { readonly ok: true; readonly date: CalendarDate }
  | { readonly ok: false; readonly reason: 'no_date' | 'no_year' | 'invalid_date' };

/**
 * Reads a date from typed or spoken text: "March 5th, 1982", "5 March 1982",
 * "the fifth of march nineteen eighty two", "march twenty first twenty twenty", "1982-03-05",
 * and eight keypad digits in the flow's order ("03051982").
 */
export const parseDate = (text: string, options: { order: DateOrder; referenceYear: number }): DateParseResult => {
  const numeric = parseNumericDate(text, options.order, options.referenceYear);
  if (numeric) return isValidDate(numeric) ? { ok: true, date: numeric } : { ok: false, reason: 'invalid_date' };

  const words = tokenize(text);
  const monthIndex = words.findIndex((word) => word in MONTHS);
  if (monthIndex < 0) return { ok: false, reason: 'no_date' };
  const month = MONTHS[words[monthIndex] as string] as number;

  const before: string[] = [];
  for (let index = monthIndex - 1; index >= 0; index -= 1) {
    const word = words[index] as string;
    if (SKIPPED.has(word)) continue;
    if (!isDateWord(word)) break;
    before.unshift(word);
  }
  const after: string[] = [];
  for (const word of words.slice(monthIndex + 1)) {
    if (SKIPPED.has(word) && after.length === 0) continue;
    if (!isDateWord(word)) break;
    after.push(word);
  }

  if (before.length > 0) {
    const day = parseDay(before);
    if (day === undefined) return { ok: false, reason: 'invalid_date' };
    if (after.length === 0) return { ok: false, reason: 'no_year' };
    const year = parseSpokenYear(after, options.referenceYear);
    if (year === undefined) return { ok: false, reason: 'invalid_date' };
    const date = { year, month, day };
    return isValidDate(date) ? { ok: true, date } : { ok: false, reason: 'invalid_date' };
  }
  // "march fifth nineteen eighty two": try each split between day and year, shortest day first.
  for (let split = 1; split < after.length; split += 1) {
    const day = parseDay(after.slice(0, split));
    const year = day === undefined ? undefined : parseSpokenYear(after.slice(split), options.referenceYear);
    if (day !== undefined && year !== undefined) {
      const date = { year, month, day };
      if (isValidDate(date)) return { ok: true, date };
    }
  }
  if (after.length > 0 && parseDay(after) !== undefined) return { ok: false, reason: 'no_year' };
  return { ok: false, reason: 'invalid_date' };
};
