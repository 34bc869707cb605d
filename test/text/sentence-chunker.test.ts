import { describe, expect, it } from 'vitest';
import { SentenceChunker } from '../../src/text/sentence-chunker.js';

const chunkAll = (deltas: string[]): string[] => {
  const chunker = new SentenceChunker();
  return [...deltas.flatMap((delta) => chunker.push(delta)), ...chunker.flush()];
};

describe('SentenceChunker', () => {
  it('emits each sentence as soon as it is complete', () => {
    const chunker = new SentenceChunker();
    expect(chunker.push('Hello there')).toEqual([]);
    expect(chunker.push('. How are')).toEqual(['Hello there.']);
    expect(chunker.push(' you? I am')).toEqual(['How are you?']);
    expect(chunker.flush()).toEqual(['I am']);
  });

  it('gives the same sentences however the text is split into deltas', () => {
    const text = 'Thank you, Jane. Dr. Smith will see you at 3.30 p.m. today! Is that all right?';
    const whole = chunkAll([text]);
    const byCharacter = chunkAll([...text]);
    expect(whole).toEqual(['Thank you, Jane.', 'Dr. Smith will see you at 3.30 p.m. today!', 'Is that all right?']);
    expect(byCharacter).toEqual(whole);
  });

  it('does not split on initials, decimals or quoted endings', () => {
    expect(chunkAll(['J. R. R. Tolkien wrote it. "Really?" she asked. Pi is 3.14.'])).toEqual([
      'J. R. R. Tolkien wrote it.',
      '"Really?"',
      'she asked.',
      'Pi is 3.14.',
    ]);
  });

  it('breaks very long runs at a clause, then at a word boundary', () => {
    const clause = `${'word '.repeat(30)}and more, ${'again '.repeat(30)}`;
    const pieces = chunkAll([clause]);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.every((piece) => piece.length <= 300)).toBe(true);
    expect(pieces.join(' ')).toBe(clause.replace(/\s+/g, ' ').trim());
    const noBreaks = chunkAll(['x'.repeat(10) + ' ' + 'y '.repeat(400)]);
    expect(noBreaks.every((piece) => piece.length <= 300)).toBe(true);
  });

  it('treats newlines as breaks and never returns empty pieces', () => {
    expect(chunkAll(['First line\nSecond line\n\n', '   ', '...'])).toEqual(['First line', 'Second line', '...']);
  });
});
