import { trimNativeMemory } from '../../../ops/native-memory.js';
import { callAsync, loadPocketSphinx, type PocketSphinxFunctions } from './native.js';
import type { TranscriptSegment } from '../speech-to-text.js';
import type { Grammar } from './grammars.js';

const FRAME_MS = 10; // PocketSphinx frames are 10 ms
let creations: Promise<void> = Promise.resolve();
const MAX_CALL_SAMPLES = 1_600; // 100 ms at 16 kHz, the chunking WER was measured with
/** Tokens that are not words: sentence marks, silence, noise, and "(2)" pronunciation variants. */
const NON_WORD = /^(<s>|<\/s>|<sil>|\[.*\]|\+\+.*\+\+|\(.*\))$/;

export const cleanWord = (word: string): string | undefined => {
  const base = word.replace(/\(\d+\)$/, '');
  return NON_WORD.test(base) ? undefined : base;
};

/**
 * One native PocketSphinx decoder. Not thread-safe: its owner must not overlap
 * calls (streams serialise them). Heavy calls run on the libuv thread pool.
 */
export class Decoder {
  private readonly grammars = new Set<string>();
  private defaultSearch = '_default';

  private constructor(private readonly native: PocketSphinxFunctions, private readonly config: unknown, private readonly handle: unknown) {}

  static async create(files: { hmm: string; lm: string; dict: string }): Promise<Decoder> {
    const native = loadPocketSphinx();
    const option = (name: string, value: string) => ['const char *', name, 'const char *', value];
    const config = native.cmd_ln_init(
      null,
      native.ps_args(),
      1,
      ...option('-hmm', files.hmm),
      ...option('-lm', files.lm),
      ...option('-dict', files.dict),
      ...option('-samprate', '16000'),
      'void *',
      null,
    );
    if (!config) throw new Error('PocketSphinx rejected its configuration');
    // One model load at a time: ps_init touches process-wide state, so concurrent inits are not safe.
    const loading = creations.then(() => callAsync(native.ps_init, config));
    creations = loading.then(
      () => undefined,
      () => undefined,
    );
    const handle = await loading;
    if (!handle) {
      native.cmd_ln_free_r(config);
      throw new Error('PocketSphinx could not load its model');
    }
    // Loading the model leaves most of what it allocated freed but held by malloc.
    trimNativeMemory();
    const decoder = new Decoder(native, config, handle);
    decoder.defaultSearch = native.ps_get_search(handle) ?? '_default';
    return decoder;
  }

  /** Switches to a grammar (compiled once per decoder) or back to the language model. */
  useGrammar(grammar: Grammar | undefined): boolean {
    if (!grammar) return this.native.ps_set_search(this.handle, this.defaultSearch) === 0;
    if (!this.grammars.has(grammar.name)) {
      if (this.native.ps_set_jsgf_string(this.handle, grammar.name, grammar.jsgf) !== 0) return false;
      this.grammars.add(grammar.name);
    }
    return this.native.ps_set_search(this.handle, grammar.name) === 0;
  }

  startUtterance(): void {
    if (this.native.ps_start_utt(this.handle) < 0) throw new Error('PocketSphinx could not start an utterance');
  }

  /**
   * Feeds 16 kHz samples, at most MAX_CALL_SAMPLES per native call, as a live stream
   * would (WER 42.8 % on ../shared/audio measured this way; whole-file calls with
   * full_utt gave 49.3 %).
   */
  async process(samples: Int16Array): Promise<void> {
    for (let offset = 0; offset < samples.length; offset += MAX_CALL_SAMPLES) {
      const chunk = samples.subarray(offset, offset + MAX_CALL_SAMPLES);
      if ((await callAsync(this.native.ps_process_raw, this.handle, chunk, chunk.length, 0, 0)) < 0) throw new Error('PocketSphinx failed to process audio');
    }
  }

  /** The current best hypothesis; the backtrace can take tens of ms, so it runs on the pool. */
  async hypothesis(): Promise<string> {
    return this.words((await callAsync(this.native.ps_get_hyp, this.handle, new Int32Array(1))) ?? '');
  }

  /**
   * Decodes a whole utterance in one pass with full_utt, so cepstral normalisation uses
   * this utterance alone: the result does not depend on what the decoder heard before.
   */
  async decodeWhole(samples: Int16Array): Promise<{ text: string; segments: TranscriptSegment[] }> {
    this.startUtterance();
    if ((await callAsync(this.native.ps_process_raw, this.handle, samples, samples.length, 0, 1)) < 0) throw new Error('PocketSphinx failed to process audio');
    return this.endUtterance();
  }

  /** Ends the utterance (final search pass on the pool) and returns the words with their times. */
  async endUtterance(): Promise<{ text: string; segments: TranscriptSegment[] }> {
    await callAsync(this.native.ps_end_utt, this.handle);
    const text = await this.hypothesis();
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

  /** Releases the model memory on the pool: freeing a language model took ~30 ms on the event loop. */
  async free(): Promise<void> {
    await callAsync(this.native.ps_free, this.handle);
    await callAsync(this.native.cmd_ln_free_r, this.config);
    trimNativeMemory();
  }

  private words(hypothesis: string): string {
    return hypothesis
      .split(/\s+/)
      .map(cleanWord)
      .filter((word): word is string => Boolean(word))
      .join(' ');
  }
}
