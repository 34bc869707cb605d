import { describe, expect, it } from 'vitest';
import { parseChoice } from '../../src/agents/dialogue/answers/choice.js';
import { parseDate, parseSpokenYear, toIsoDate } from '../../src/agents/dialogue/answers/dates.js';
import { findNumbers, parseNumberWords } from '../../src/agents/dialogue/answers/numbers.js';
import { parseYesNo } from '../../src/agents/dialogue/answers/yes-no.js';
import { tokenize } from '../../src/agents/dialogue/answers/words.js';

const words = (text: string) => tokenize(text);
const dateOf = (text: string, order: 'mdy' | 'dmy' = 'mdy') => {
  const result = parseDate(text, { order, referenceYear: 2026 });
  return result.ok ? toIsoDate(result.date) : result.reason;
};

describe('numbers as said or typed', () => {
  it.each([
    ['42', 42],
    ['forty two', 42],
    ['forty-two', 42],
    ['one hundred and five', 105],
    ['a hundred', 100],
    ['nineteen hundred', 1900],
    ['two thousand and three', 2003],
    ['three thousand four hundred fifty', 3450],
    ['twenty first', 21],
    ['5th', 5],
  ])('%s → %d', (text, value) => {
    expect(parseNumberWords(words(text))?.value).toBe(value);
  });

  it.each(['two three', 'twenty twenty', 'hundred', 'and five', 'fifth sixth', 'seven thirty'])('%s is not one number', (text) => {
    expect(parseNumberWords(words(text))).toBeUndefined();
  });

  it('finds numbers inside sentences', () => {
    expect(findNumbers(words('I am forty two years old'))).toEqual([42]);
    expect(findNumbers(words('about 7.5 hours'))).toEqual([7.5]);
    expect(findNumbers(words('three point one four'))).toEqual([3.14]);
    expect(findNumbers(words('I have a dog'))).toEqual([]);
    expect(findNumbers(words('one and then two'))).toEqual([1, 2]);
  });
});

describe('dates as said or typed', () => {
  it.each([
    ['March 5th, 1982', '1982-03-05'],
    ['march fifth nineteen eighty two', '1982-03-05'],
    ['the fifth of march nineteen eighty two', '1982-03-05'],
    ['5 March 1982', '1982-03-05'],
    ['I was born on march twenty first nineteen eighty', '1980-03-21'],
    ['december thirty first nineteen ninety nine', '1999-12-31'],
    ['january first two thousand', '2000-01-01'],
    ['july fourth twenty oh five', '2005-07-04'],
    ['march twenty twenty twenty', '2020-03-20'],
    ['Feb 29 2000', '2000-02-29'],
    ['1982-03-05', '1982-03-05'],
    ['03/05/1982', '1982-03-05'],
    ['3/5/82', '1982-03-05'],
    ['5.3.1982', '1982-03-05'],
  ])('%s → %s', (text, iso) => {
    expect(dateOf(text)).toBe(iso);
  });

  it('reads slashed dates day-first when the flow says so', () => {
    expect(dateOf('03/05/1982', 'dmy')).toBe('1982-05-03');
    // Eight keys on a phone, in the flow's order.
    expect(dateOf('03051982')).toBe('1982-03-05');
    expect(dateOf('03051982', 'dmy')).toBe('1982-05-03');
    expect(dateOf('13401982')).toBe('invalid_date');
    expect(dateOf('0305198')).toBe('no_date');
  });

  it('tells apart no date, a missing year and an impossible date', () => {
    expect(dateOf('I would rather not say')).toBe('no_date');
    expect(dateOf('march fifth')).toBe('no_year');
    expect(dateOf('february thirtieth nineteen eighty')).toBe('invalid_date');
    expect(dateOf('Feb 29 2001')).toBe('invalid_date');
    expect(dateOf('13/13/1999')).toBe('invalid_date');
  });

  it('reads spoken years', () => {
    expect(parseSpokenYear(words('nineteen oh five'), 2026)).toBe(1905);
    expect(parseSpokenYear(words('nineteen hundred'), 2026)).toBe(1900);
    expect(parseSpokenYear(words('twenty twenty six'), 2026)).toBe(2026);
    expect(parseSpokenYear(words('05'), 2026)).toBe(2005);
    expect(parseSpokenYear(words('82'), 2026)).toBe(1982);
    expect(parseSpokenYear(words('fifth'), 2026)).toBeUndefined();
  });
});

describe('yes or no', () => {
  it.each(['yes', 'Yes, I do.', 'yeah', 'yep', 'sure', 'I do', 'of course', 'that is correct', 'I consent', 'yes please'])('%s → yes', (text) => {
    expect(parseYesNo(text)).toEqual({ ok: true, value: true });
  });

  it.each(['no', 'No, I do not.', 'nope', "I don't", 'none', 'not really', 'I have none', 'absolutely not', 'never'])('%s → no', (text) => {
    expect(parseYesNo(text)).toEqual({ ok: true, value: false });
  });

  it('takes the phone keypad: 1 is yes, 2 is no, other keys are no answer', () => {
    expect(parseYesNo('1')).toEqual({ ok: true, value: true });
    expect(parseYesNo('2')).toEqual({ ok: true, value: false });
    expect(parseYesNo('3')).toEqual({ ok: false, reason: 'no_answer' });
    expect(parseYesNo('12')).toEqual({ ok: false, reason: 'no_answer' });
  });

  it('does not guess at uncertainty or mixed answers', () => {
    expect(parseYesNo("I don't know")).toEqual({ ok: false, reason: 'unsure' });
    expect(parseYesNo("I'm not sure")).toEqual({ ok: false, reason: 'unsure' });
    expect(parseYesNo('yes and no')).toEqual({ ok: false, reason: 'ambiguous' });
    expect(parseYesNo('purple')).toEqual({ ok: false, reason: 'no_answer' });
  });
});

describe('choices', () => {
  const options = [
    { value: 'phone', label: 'Phone call', synonyms: ['call me', 'telephone'] },
    { value: 'email', label: 'Email', synonyms: ['e-mail', 'mail'] },
    { value: 'sms', label: 'Text message', synonyms: ['text', 'sms'] },
  ];

  it('matches a label, a synonym or a position', () => {
    expect(parseChoice('email please', options)).toEqual({ ok: true, value: 'email' });
    expect(parseChoice('just call me', options)).toEqual({ ok: true, value: 'phone' });
    expect(parseChoice('the third one', options)).toEqual({ ok: true, value: 'sms' });
  });

  it('refuses two options or none', () => {
    expect(parseChoice('email or a text', options)).toEqual({ ok: false, reason: 'ambiguous' });
    expect(parseChoice('carrier pigeon', options)).toEqual({ ok: false, reason: 'no_match' });
  });
});
