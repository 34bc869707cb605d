import type { PcmAudio } from '../../../audio/pcm.js';
import type { SynthesisOptions, TextToSpeech, TtsCapabilities } from '../text-to-speech.js';
import { FliteLauncher, findFlite, FLITE_VOICES } from './flite-process.js';

export interface FliteTtsOptions {
  /** Default voice (slt, kal16, awb, rms, kal). */
  readonly voice?: string;
  /** A synthesis that takes longer is killed. */
  readonly timeoutMs?: number;
  /** Where the WAV files of running syntheses live (default: the OS temp dir). */
  readonly tempDir?: string;
}

/** Control characters and the like make Flite's tokenizer misbehave; speech needs none of them. */
const sanitise = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, ' ').trim();

const checkVoice = (voice: string): void => {
  if (!(FLITE_VOICES as readonly string[]).includes(voice)) throw new Error(`Flite has no voice "${voice}"; voices: ${FLITE_VOICES.join(', ')}`);
};

/** Flite (Debian) speaking one sentence per child process, launched off the event loop. */
export class FliteTts implements TextToSpeech {
  readonly name = 'flite';
  readonly capabilities: TtsCapabilities = { voices: FLITE_VOICES };

  private constructor(private readonly launcher: FliteLauncher, private readonly defaultVoice: string, readonly sampleRate: number, private readonly timeoutMs: number) {}

  /** Finds the program and checks the voice by synthesising a short probe (which also tells its rate). */
  static async create(options: FliteTtsOptions = {}): Promise<FliteTts> {
    const binary = findFlite();
    const voice = options.voice ?? 'slt';
    checkVoice(voice);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const launcher = new FliteLauncher(binary, options.tempDir);
    try {
      const probe = await launcher.synthesize('a', voice, { timeoutMs });
      return new FliteTts(launcher, voice, probe.sampleRate, timeoutMs);
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
    return this.launcher.synthesize(clean, voice, { timeoutMs: this.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) });
  }

  check(): void {
    this.launcher.check();
  }

  async close(): Promise<void> {
    await this.launcher.close();
  }
}
