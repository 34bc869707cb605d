import type { HarkenConfig } from '../config/schema.js';
import { PocketSphinxStt } from './stt/pocketsphinx/pocketsphinx-stt.js';
import type { SpeechToText } from './stt/speech-to-text.js';
import type { TextToSpeech } from './tts/text-to-speech.js';
import { FliteTts } from './tts/flite/flite-tts.js';
import { SileroVad } from './vad/silero/silero-vad.js';
import type { VoiceActivityDetector } from './vad/voice-activity.js';

/** The three engines a voice conversation needs, chosen by configuration. */
export interface VoiceEngines {
  readonly vad: VoiceActivityDetector;
  readonly stt: SpeechToText;
  readonly tts: TextToSpeech;
  close(): Promise<void>;
}

/**
 * Loads the configured engines. A missing library or model throws
 * EngineUnavailableError, which names what is missing and how to fix it.
 */
export const createVoiceEngines = async (config: HarkenConfig): Promise<VoiceEngines> => {
  const vad = SileroVad.create({
    model: config.vad.model,
    modelsDir: config.models.dir,
    threshold: config.vad.threshold,
    minSpeechMs: config.vad.minSpeechMs,
    minSilenceMs: config.voice.endOfTurnSilenceMs,
  });
  const stt = await PocketSphinxStt.create({ modelDir: config.stt.pocketsphinxModelDir });
  let tts: TextToSpeech;
  try {
    tts = await FliteTts.create({ voice: config.tts.voice });
  } catch (error) {
    await stt.close();
    throw error;
  }
  if (stt.sampleRate !== vad.sampleRate) throw new Error(`STT rate ${stt.sampleRate} differs from VAD rate ${vad.sampleRate}`);
  return {
    vad,
    stt,
    tts,
    async close() {
      await Promise.all([stt.close(), tts.close()]);
    },
  };
};
