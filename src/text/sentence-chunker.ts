/** Abbreviations whose period does not end a sentence. */
const ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'st', 'jr', 'sr', 'prof', 'vs', 'etc', 'e.g', 'i.e', 'a.m', 'p.m', 'approx', 'no', 'fig', 'mt', 'ft']);
const SOFT_BREAK_AFTER = 200;
const HARD_LIMIT = 300;

/**
 * Splits streamed text into sentences as soon as each one ends, so speech
 * synthesis can start on the first sentence while the rest is still being written.
 * Long runs without a sentence end are broken at clause marks, then at a word boundary.
 */
export class SentenceChunker {
  private pending = '';

  push(delta: string): string[] {
    this.pending += delta;
    const sentences: string[] = [];
    for (;;) {
      const end = this.findSentenceEnd();
      if (end === undefined) break;
      this.take(end, sentences);
    }
    return sentences;
  }

  /** The rest, at the end of the stream. */
  flush(): string[] {
    const sentences: string[] = [];
    this.take(this.pending.length, sentences);
    return sentences;
  }

  private take(end: number, into: string[]): void {
    const sentence = this.pending.slice(0, end).replace(/\s+/g, ' ').trim();
    this.pending = this.pending.slice(end);
    if (sentence) into.push(sentence);
  }

  /** Index just after a complete sentence in `pending`, or undefined if none is complete yet. */
  private findSentenceEnd(): number | undefined {
    const text = this.pending;
    const terminator = /[.!?]+["')\]]*(?=\s)|\n+/g;
    for (let match = terminator.exec(text); match; match = terminator.exec(text)) {
      const end = match.index + match[0].length;
      if (match[0].startsWith('.') && !match[0].startsWith('...') && this.isNotSentenceEnd(text, match.index)) continue;
      return end;
    }
    if (text.length > SOFT_BREAK_AFTER) {
      const clause = /[;:,](?=\s)/g;
      let last: number | undefined;
      for (let match = clause.exec(text); match; match = clause.exec(text)) if (match.index < HARD_LIMIT) last = match.index + 1;
      if (last !== undefined && last > SOFT_BREAK_AFTER / 2) return last;
    }
    if (text.length > HARD_LIMIT) {
      const space = text.lastIndexOf(' ', HARD_LIMIT);
      return space > 0 ? space : HARD_LIMIT;
    }
    return undefined;
  }

  /** A period after an abbreviation, an initial ("J."), or inside a number is not a sentence end. */
  private isNotSentenceEnd(text: string, periodIndex: number): boolean {
    const before = /([A-Za-z.]+)$/.exec(text.slice(0, periodIndex))?.[1] ?? '';
    const word = before.toLowerCase().replace(/^\.+/, '');
    if (ABBREVIATIONS.has(word)) return true;
    if (/^[A-Z]$/.test(before)) return true; // an initial
    return false;
  }
}
