import type { PcmAudio } from '../../audio/pcm.js';
import type { EngineMetrics } from '../engine-metrics.js';
import type { SynthesisOptions, TextToSpeech } from './text-to-speech.js';

export interface PromptCacheOptions {
  /** Audio kept, in bytes of samples; the least recently used prompt goes first. */
  readonly maxBytes: number;
}

/**
 * Audio of the sentences the server knows it will say — scripted prompts, greetings, filler
 * phrases, the apology — synthesised once and kept (memory-bounded LRU), so their first audio
 * costs nothing. Only registered prompt sentences are kept: a caller's own words, repeated by an
 * LLM, never stay in memory. Hits and misses are the stages `tts.cache_hit` / `tts.cache_miss`.
 */
export class PromptAudioCache implements TextToSpeech {
  private readonly prompts = new Set<string>();
  private readonly audio = new Map<string, PcmAudio>();
  private bytes = 0;

  constructor(
    private readonly inner: TextToSpeech,
    private readonly options: PromptCacheOptions,
    private readonly metrics: EngineMetrics,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  get sampleRate(): number {
    return this.inner.sampleRate;
  }

  check(): void {
    this.inner.check?.();
  }

  /** Entries and bytes held (for the admin view and tests). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.audio.size, bytes: this.bytes };
  }

  /** Marks sentences as prompts (their audio will be kept). */
  register(sentences: Iterable<string>): void {
    for (const sentence of sentences) if (sentence.trim()) this.prompts.add(sentence.trim());
  }

  /** Registers and synthesises sentences ahead of need, one at a time; failures leave them to be made on first use. */
  async warm(sentences: readonly string[], options: SynthesisOptions = {}): Promise<number> {
    this.register(sentences);
    let made = 0;
    for (const sentence of sentences) {
      if (options.signal?.aborted) break;
      const key = this.key(sentence.trim(), options);
      if (this.audio.has(key)) continue;
      try {
        this.store(key, await this.inner.synthesize(sentence.trim(), options));
        made += 1;
      } catch {
        // Made (or failed with a proper error) on first use instead.
      }
    }
    return made;
  }

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    const sentence = text.trim();
    if (!this.prompts.has(sentence)) return this.inner.synthesize(text, options);
    const key = this.key(sentence, options);
    const kept = this.audio.get(key);
    if (kept) {
      // Most recently used goes last.
      this.audio.delete(key);
      this.audio.set(key, kept);
      this.metrics.recordCall('tts.cache_hit', this.inner.name, 'ok', 0);
      return { samples: kept.samples.slice(), sampleRate: kept.sampleRate };
    }
    this.metrics.recordCall('tts.cache_miss', this.inner.name, 'ok', 0);
    const made = await this.inner.synthesize(text, options);
    this.store(key, made);
    return made;
  }

  close(): Promise<void> {
    this.audio.clear();
    this.bytes = 0;
    return this.inner.close();
  }

  private key(sentence: string, options: SynthesisOptions): string {
    return `${options.voice ?? ''}\u0000${options.speed ?? 1}\u0000${sentence}`;
  }

  private store(key: string, audio: PcmAudio): void {
    const size = audio.samples.byteLength;
    if (size > this.options.maxBytes) return;
    const copy = { samples: audio.samples.slice(), sampleRate: audio.sampleRate };
    const previous = this.audio.get(key);
    if (previous) this.bytes -= previous.samples.byteLength;
    this.audio.set(key, copy);
    this.bytes += size;
    for (const [oldest, entry] of this.audio) {
      if (this.bytes <= this.options.maxBytes) break;
      this.audio.delete(oldest);
      this.bytes -= entry.samples.byteLength;
    }
  }
}
