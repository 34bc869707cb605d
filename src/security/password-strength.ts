import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';

/** zxcvbn scores 0–4; 3 means "safely unguessable: moderate protection from offline slow-hash attacks". */
export const MIN_PASSWORD_SCORE = 3;

let estimator: ZxcvbnFactory | undefined;

/** The dictionaries are a few MB: loaded on the first password check, not at start. */
const strength = (): ZxcvbnFactory =>
  (estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...english.dictionary },
    graphs: common.adjacencyGraphs,
    translations: english.translations,
  }));

/** Undefined when the password is strong enough, else why not and how to do better. */
export const checkPasswordStrength = (password: string, userInputs: readonly string[] = []): string | undefined => {
  // zxcvbn's cost grows with length; beyond 100 characters the first 100 decide.
  const result = strength().check(password.slice(0, 100), userInputs.filter(Boolean));
  if (result.score >= MIN_PASSWORD_SCORE) return undefined;
  const hints = [result.feedback.warning, ...result.feedback.suggestions].filter((hint): hint is string => Boolean(hint));
  return `the password is too easy to guess${hints.length ? ` (${hints.join(' ').replace(/\.$/, '')})` : ''}; use several uncommon words or a password manager`;
};
