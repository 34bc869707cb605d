import { loadPocketSphinx, type PocketSphinxFunctions } from './native.js';
import type { TranscriptSegment } from '../speech-to-text.js';
import type { Grammar } from './grammars.js';

const FRAME_MS = 10; // PocketSphinx frames are 10 ms
const MAX_CALL_SAMPLES = 1_600; // 100 ms at 16 kHz, the chunking WER was measured with
/** Tokens that are not words: sentence marks, silence, noise, and "(2)" pronunciation variants. */
const NON_WORD = /^(<s>|<\/s>|<sil>|\[.*\]|\+\+.*\+\+|\(.*\))$/;

export const cleanWord = (word: string): string | undefined => {
  const base = word.replace(/\(\d+\)$/, '');
  return NON_WORD.test(base) ? undefined : base;
};

export interface DecoderFiles {
  readonly hmm: string;
  readonly lm: string;
  readonly dict: string;
}

export interface DecodedUtterance {
  readonly text: string;
  readonly segments: TranscriptSegment[];
}

/**
 * One native PocketSphinx decoder, called synchronously. It lives alone in a decoder process
 * (decoder-host.ts), whose only job is to make these calls: a call that never returns is ended
 * by killing that process, which no thread of the server's own could do.
 */
export class NativeDecoder {
  private readonly grammars = new Set<string>();
  private readonly defaultSearch: string;

  private constructor(private readonly native: PocketSphinxFunctions, private readonly config: unknown, private readonly handle: unknown) {
    this.defaultSearch = native.ps_get_search(handle) ?? '_default';
  }

  static load(files: DecoderFiles): NativeDecoder {
    const native = loadPocketSphinx();
    const option = (name: string, value: string) => ['const char *', name, 'const char *', value];
    const config = native.cmd_ln_init(null, native.ps_args(), 1, ...option('-hmm', files.hmm), ...option('-lm', files.lm), ...option('-dict', files.dict), ...option('-samprate', '16000'), 'void *', null);
    if (!config) throw new Error('PocketSphinx rejected its configuration');
    const handle = native.ps_init(config);
    if (!handle) {
      native.cmd_ln_free_r(config);
      throw new Error('PocketSphinx could not load its model');
    }
    return new NativeDecoder(native, config, handle);
  }

  /**
   * Switches to a grammar (compiled once per decoder) or back to the language model, and starts
   * an utterance. False when the grammar could not be used (a word outside the dictionary): the
   * language model listens instead.
   */
  begin(grammar: Grammar | undefined): boolean {
    const usedGrammar = grammar !== undefined && this.useGrammar(grammar);
    if (!usedGrammar && this.native.ps_set_search(this.handle, this.defaultSearch) !== 0) throw new Error('PocketSphinx could not select its language model');
    this.startUtterance();
    return usedGrammar;
  }

  /**
   * Feeds 16 kHz samples, at most MAX_CALL_SAMPLES per native call, as a live stream would
   * (WER 42.8 % on ../shared/audio measured this way; whole-file calls with full_utt gave 49.3 %).
   */
  process(samples: Int16Array): void {
    for (let offset = 0; offset < samples.length; offset += MAX_CALL_SAMPLES) {
      const chunk = samples.subarray(offset, offset + MAX_CALL_SAMPLES);
      if (this.native.ps_process_raw(this.handle, chunk, chunk.length, 0, 0) < 0) throw new Error('PocketSphinx failed to process audio');
    }
  }

  /** The current best hypothesis. */
  hypothesis(): string {
    return words(this.native.ps_get_hyp(this.handle, new Int32Array(1)) ?? '');
  }

  /**
   * Decodes a whole utterance in one pass with full_utt, so cepstral normalisation uses this
   * utterance alone: the result does not depend on what the decoder heard before.
   */
  decodeWhole(samples: Int16Array): DecodedUtterance {
    this.startUtterance();
    if (this.native.ps_process_raw(this.handle, samples, samples.length, 0, 1) < 0) throw new Error('PocketSphinx failed to process audio');
    return this.end();
  }

  /** Ends the utterance (the final search pass) and returns the words with their times. */
  end(): DecodedUtterance {
    this.native.ps_end_utt(this.handle);
    const text = this.hypothesis();
    const segments: TranscriptSegment[] = [];
    // PocketSphinx 0.8 keeps counting frames across utterances of one decoder; the
    // first segment (the <s> mark) opens this utterance, so times count from it.
    let origin: number | undefined;
    for (let segment = this.native.ps_seg_iter(this.handle); segment; segment = this.native.ps_seg_next(segment)) {
      const start = [0];
      const end = [0];
      this.native.ps_seg_frames(segment, start, end);
      origin ??= start[0] as number;
      const word = cleanWord(this.native.ps_seg_word(segment) ?? '');
      if (!word) continue;
      segments.push({ text: word, startMs: ((start[0] as number) - origin) * FRAME_MS, endMs: ((end[0] as number) + 1 - origin) * FRAME_MS });
    }
    return { text, segments };
  }

  free(): void {
    this.native.ps_free(this.handle);
    this.native.cmd_ln_free_r(this.config);
  }

  private useGrammar(grammar: Grammar): boolean {
    if (!this.grammars.has(grammar.name)) {
      if (this.native.ps_set_jsgf_string(this.handle, grammar.name, grammar.jsgf) !== 0) return false;
      this.grammars.add(grammar.name);
    }
    return this.native.ps_set_search(this.handle, grammar.name) === 0;
  }

  private startUtterance(): void {
    if (this.native.ps_start_utt(this.handle) < 0) throw new Error('PocketSphinx could not start an utterance');
  }
}

const words = (hypothesis: string): string =>
  hypothesis
    .split(/\s+/)
    .map(cleanWord)
    .filter((word): word is string => Boolean(word))
    .join(' ');
