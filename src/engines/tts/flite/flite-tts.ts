import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PcmAudio } from '../../../audio/pcm.js';
import type { SynthesisOptions, TextToSpeech, TtsCapabilities } from '../text-to-speech.js';
import { findFlite, FLITE_VOICES, synthesizeWithFlite } from './flite-process.js';

export interface FliteTtsOptions {
  /** Default voice (slt, kal16, awb, rms, kal). */
  readonly voice?: string;
  /** A synthesis that takes longer is killed. */
  readonly timeoutMs?: number;
}

/** Control characters and the like make Flite's tokenizer misbehave; speech needs none of them. */
const sanitise = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, ' ').trim();

/** Flite (Debian) speaking one sentence per child process. */
export class FliteTts implements TextToSpeech {
  readonly name = 'flite';
  readonly capabilities: TtsCapabilities = { voices: FLITE_VOICES };

  private constructor(
    private readonly binary: string,
    private readonly defaultVoice: string,
    readonly sampleRate: number,
    private readonly timeoutMs: number,
    private readonly workDir: string,
  ) {}

  /** Finds the program and checks the voice by synthesising a short probe (also learns its rate). */
  static async create(options: FliteTtsOptions = {}): Promise<FliteTts> {
    const binary = findFlite();
    const voice = options.voice ?? 'slt';
    if (!(FLITE_VOICES as readonly string[]).includes(voice)) throw new Error(`Flite has no voice "${voice}"; voices: ${FLITE_VOICES.join(', ')}`);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const workDir = await mkdtemp(join(tmpdir(), 'harken-flite-'));
    try {
      const probe = await synthesizeWithFlite(binary, 'a', voice, { timeoutMs, workDir });
      return new FliteTts(binary, voice, probe.sampleRate, timeoutMs, workDir);
    } catch (error) {
      await rm(workDir, { recursive: true, force: true });
      throw error;
    }
  }

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<PcmAudio> {
    options.signal?.throwIfAborted();
    const voice = options.voice ?? this.defaultVoice;
    if (!(FLITE_VOICES as readonly string[]).includes(voice)) throw new Error(`Flite has no voice "${voice}"; voices: ${FLITE_VOICES.join(', ')}`);
    const clean = sanitise(text);
    if (clean === '') return { samples: new Int16Array(0), sampleRate: this.sampleRate };
    return synthesizeWithFlite(this.binary, clean, voice, { timeoutMs: this.timeoutMs, workDir: this.workDir, ...(options.signal ? { signal: options.signal } : {}) });
  }

  async close(): Promise<void> {
    await rm(this.workDir, { recursive: true, force: true });
  }
}
