import { describe, expect, it } from 'vitest';
import { playedText } from '../../src/session/played-text.js';

const reply = [
  { text: 'Thank you.', startMs: 0, durationMs: 800 },
  { text: 'What is your date of birth?', startMs: 800, durationMs: 1200 },
];

describe('what the caller heard', () => {
  it('keeps whole sentences that finished playing', () => {
    expect(playedText(reply, 800)).toBe('Thank you.');
    expect(playedText(reply, 5000)).toBe('Thank you. What is your date of birth?');
  });

  it('keeps the share of words of the sentence that was cut off', () => {
    expect(playedText(reply, 800 + 600)).toBe('Thank you. What is your');
    expect(playedText(reply, 100)).toBe('');
  });

  it('is empty when nothing played', () => {
    expect(playedText(reply, 0)).toBe('');
    expect(playedText([], 1000)).toBe('');
  });
});
