import type { PcmAudio } from '../../../audio/pcm.js';
import type { SynthesisOptions, TextToSpeech, TtsCapabilities } from '../text-to-speech.js';
import { FliteHungError, FliteLauncher, findFlite, FLITE_VOICES } from './flite-process.js';

export interface FliteTtsOptions {
  /** Default voice (slt, kal16, awb, rms, kal). */
  readonly voice?: string;
  /** A synthesis that takes longer is killed. */
  readonly timeoutMs?: number;
  /** Where the WAV files of running syntheses live (default: the OS temp dir). */
  readonly tempDir?: string;
  /**
   * A process that has not finished after this long plus HANG_MS_PER_CHAR per character is looked
   * at; if it is hung (not merely starved of CPU) it is killed and the sentence made once more by
   * a new one (default 500).
   */
  readonly hangTimeoutMs?: number;
  /** Told of each hung process replaced (metrics, the log). */
  readonly onRecovery?: (recovery: SynthesisRecovery) => void;
}

/** A hung flite process killed and its sentence made again. */
export interface SynthesisRecovery {
  /** False when the second process failed too. */
  readonly ok: boolean;
  /** From the first process's start to the second one's end. */
  readonly durationMs: number;
  readonly limitMs: number;
  readonly error?: string;
}

/** Flite takes ~1.1 ms per character here (520 characters: 0.57 s); three times that is hung, not slow. */
const HANG_MS_PER_CHAR = 3;

/** Control characters and the like make Flite's tokenizer misbehave; speech needs none of them. */
const sanitise = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, ' ').trim();

const checkVoice = (voice: string): void => {
  if (!(FLITE_VOICES as readonly string[]).includes(voice)) throw new Error(`Flite has no voice "${voice}"; voices: ${FLITE_VOICES.join(', ')}`);
};

/** Flite (Debian) speaking one sentence per child process, launched off the event loop. */
export class FliteTts implements TextToSpeech {
  readonly name = 'flite';
  readonly capabilities: TtsCapabilities = { voices: FLITE_VOICES };

  private constructor(
    private readonly launcher: FliteLauncher,
    private readonly defaultVoice: string,
    readonly sampleRate: number,
    private readonly timeoutMs: number,
    private readonly options: FliteTtsOptions,
  ) {}

  /** Finds the program and checks the voice by synthesising a short probe (which also tells its rate). */
  static async create(options: FliteTtsOptions = {}): Promise<FliteTts> {
    const binary = findFlite();
    const voice = options.voice ?? 'slt';
    checkVoice(voice);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const launcher = new FliteLauncher(binary, options.tempDir);
    try {
      const probe = await launcher.synthesize('a', voice, { timeoutMs });
      return new FliteTts(launcher, voice, probe.sampleRate, timeoutMs, options);
    } catch (error) {
      await launcher.close();
      throw error;
    }
  }

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    options.signal?.throwIfAborted();
    const voice = options.voice ?? this.defaultVoice;
    checkVoice(voice);
    const clean = sanitise(text);
    if (clean === '') return { samples: new Int16Array(0), sampleRate: this.sampleRate };
    const limitMs = (this.options.hangTimeoutMs ?? 500) + HANG_MS_PER_CHAR * clean.length;
    const speed = options.speed ?? 1;
    const run = () =>
      this.launcher.synthesize(clean, voice, { timeoutMs: this.timeoutMs, hangMs: limitMs * Math.max(1, 1 / speed), ...(speed !== 1 ? { durationStretch: 1 / speed } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    const started = performance.now();
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof FliteHungError) || options.signal?.aborted) throw error;
      // A hung process is not a slow sentence: a new process makes it again, once.
      const report = (ok: boolean, failure?: Error) =>
        this.options.onRecovery?.({ ok, durationMs: Math.round(performance.now() - started), limitMs, ...(failure ? { error: failure.message } : {}) });
      try {
        const audio = await run();
        report(true);
        return audio;
      } catch (failure) {
        if (!options.signal?.aborted) report(false, failure as Error);
        throw failure;
      }
    }
  }

  check(): void {
    this.launcher.check();
  }

  async close(): Promise<void> {
    await this.launcher.close();
  }
}
