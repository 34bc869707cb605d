import { tokenize } from '../agents/dialogue/answers/words.js';

/**
 * Words a listener says to show they are following ("mm-hm", "uh-huh", "yeah", "okay", "I see"):
 * while the agent speaks they neither interrupt it nor make a turn. From a comma-separated
 * setting; each entry may be several words.
 */
export class Backchannels {
  private readonly phrases: string[][];

  constructor(list: string) {
    this.phrases = list
      .split(',')
      .map((entry) => tokenize(entry.replace(/-/g, ' ')))
      .filter((words) => words.length > 0)
      // Longest first, so "uh huh" is taken whole before "uh".
      .sort((a, b) => b.length - a.length);
  }

  /**
   * The words of `text` that are not backchannels ("okay stop" → ["stop"]). For a partial
   * hypothesis, words at the end that may be the start of one ("i" of "i see") are not counted yet.
   */
  meaningfulWords(text: string, options: { partial?: boolean } = {}): string[] {
    const words = tokenize(text.replace(/-/g, ' '));
    const left: string[] = [];
    for (let index = 0; index < words.length; ) {
      const phrase = this.phrases.find((candidate) => candidate.every((word, offset) => words[index + offset] === word));
      if (phrase) {
        index += phrase.length;
        continue;
      }
      const rest = words.slice(index);
      if (options.partial && this.phrases.some((candidate) => candidate.length > rest.length && rest.every((word, offset) => candidate[offset] === word))) break;
      left.push(words[index] as string);
      index += 1;
    }
    return left;
  }
}
