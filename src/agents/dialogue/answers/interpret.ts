import type { FlowStep } from '../flow.js';
import { parseChoice } from './choice.js';
import { compareDates, formatSpokenDate, fromIsoDate, parseDate, toIsoDate, type CalendarDate, type DateOrder } from './dates.js';
import { findNumbers } from './numbers.js';
import { parseYesNo } from './yes-no.js';
import { tokenize, withoutFillers } from './words.js';

export interface InterpretOptions {
  readonly today: CalendarDate;
  readonly dateOrder: DateOrder;
}

/** A usable answer: the stored value. Or why the answer did not fit, in words to say to the caller. */
export type Interpretation =
  | { readonly ok: true; readonly value: string | number | boolean }
  | { readonly ok: false; readonly problem: string };

const fail = (problem: string): Interpretation => ({ ok: false, problem });

const dateBound = (bound: string | number | undefined, today: CalendarDate): CalendarDate | undefined =>
  bound === 'today' ? today : typeof bound === 'string' ? fromIsoDate(bound) : undefined;

const interpretDate = (step: FlowStep, text: string, options: InterpretOptions): Interpretation => {
  const parsed = parseDate(text, { order: options.dateOrder, referenceYear: options.today.year });
  if (!parsed.ok) {
    if (parsed.reason === 'no_year') return fail('I also need the year.');
    if (parsed.reason === 'invalid_date') return fail("That doesn't seem to be a real date.");
    return fail("Sorry, I didn't catch a date. You can say it like March 5th, 1982.");
  }
  const min = dateBound(step.min, options.today);
  const max = dateBound(step.max, options.today);
  if (min && compareDates(parsed.date, min) < 0) return fail(`That date is before ${formatSpokenDate(min)}.`);
  if (max && compareDates(parsed.date, max) > 0) {
    return fail(step.max === 'today' ? 'That date is in the future.' : `That date is after ${formatSpokenDate(max)}.`);
  }
  return { ok: true, value: toIsoDate(parsed.date) };
};

const interpretNumber = (step: FlowStep, text: string): Interpretation => {
  const numbers = findNumbers(tokenize(text));
  const distinct = [...new Set(numbers)];
  if (distinct.length === 0) return fail("Sorry, I didn't catch a number.");
  if (distinct.length > 1 || Number.isNaN(distinct[0])) return fail('Sorry, I need just one number.');
  const value = distinct[0] as number;
  if (step.integer !== false && !Number.isInteger(value)) return fail('Please give a whole number.');
  if (typeof step.min === 'number' && value < step.min) return fail(`The number should be at least ${step.min}.`);
  if (typeof step.max === 'number' && value > step.max) return fail(`The number should be at most ${step.max}.`);
  return { ok: true, value };
};

const interpretText = (step: FlowStep, text: string): Interpretation => {
  const cleaned = text.replace(/\s+/g, ' ').trim();
  if (withoutFillers(tokenize(cleaned)).length === 0) return fail("Sorry, I didn't catch that.");
  if (step.minLength !== undefined && cleaned.length < step.minLength) return fail('That answer seems too short.');
  if (step.maxLength !== undefined && cleaned.length > step.maxLength) return fail(`Please keep the answer under ${step.maxLength} characters.`);
  return { ok: true, value: cleaned };
};

/** Turns a caller's free answer into the typed value the step expects. */
export const interpretAnswer = (step: FlowStep, text: string, options: InterpretOptions): Interpretation => {
  switch (step.type) {
    case 'yesno': {
      const result = parseYesNo(text);
      if (result.ok) return { ok: true, value: result.value };
      return fail(result.reason === 'unsure' ? 'If you are not sure, that is fine, but I need a yes or a no.' : 'Sorry, I need a yes or a no.');
    }
    case 'choice': {
      const options = step.options ?? [];
      const result = parseChoice(text, options);
      if (result.ok) return { ok: true, value: result.value };
      const list = options.map((option) => option.label).join(', ');
      return fail(result.reason === 'ambiguous' ? `Please pick just one of: ${list}.` : `Please choose one of: ${list}.`);
    }
    case 'date':
      return interpretDate(step, text, options);
    case 'number':
      return interpretNumber(step, text);
    case 'text':
      return interpretText(step, text);
  }
};

/** How a stored answer is read back to the caller in a summary. */
export const displayAnswer = (step: FlowStep, value: unknown): string => {
  if (step.type === 'yesno') return value ? 'yes' : 'no';
  if (step.type === 'date' && typeof value === 'string') {
    const date = fromIsoDate(value);
    return date ? formatSpokenDate(date) : value;
  }
  if (step.type === 'choice') return step.options?.find((option) => option.value === value)?.label ?? String(value);
  return String(value);
};
