import { describe, expect, it } from 'vitest';
import { grammarFor } from '../../../src/engines/stt/pocketsphinx/grammars.js';

describe('recognition grammars from dialogue expectations', () => {
  it('uses the open language model for free text or no hint', () => {
    expect(grammarFor(undefined)).toBeUndefined();
    expect(grammarFor({ expect: { type: 'text' } })).toBeUndefined();
  });

  it('builds fixed grammars for yes/no, dates and numbers', () => {
    expect(grammarFor({ expect: { type: 'yesno' } })?.jsgf).toMatch(/public <answer>/);
    expect(grammarFor({ expect: { type: 'date' } })?.jsgf).toMatch(/<month> = january \| february/);
    expect(grammarFor({ expect: { type: 'number' } })?.name).toBe('number');
  });

  it('turns choice labels into grammar words, naming the grammar by its options', () => {
    const grammar = grammarFor({ expect: { type: 'choice', options: ['Phone call', 'E-mail!', 'Text message'] } });
    expect(grammar?.jsgf).toContain('public <choice> = [the] (phone call | e mail | text message) [please];');
    expect(grammarFor({ expect: { type: 'choice', options: ['Phone call', 'Email'] } })?.name).not.toBe(grammar?.name);
    expect(grammarFor({ expect: { type: 'choice', options: ['123', '!!'] } })).toBeUndefined();
  });
});
