import { ConfigError } from '../config/load.js';
import type { HarkenConfig } from '../config/schema.js';
import { PocketSphinxStt } from './stt/pocketsphinx/pocketsphinx-stt.js';
import type { SpeechToText } from './stt/speech-to-text.js';
import type { TextToSpeech } from './tts/text-to-speech.js';
import { FliteTts } from './tts/flite/flite-tts.js';
import { SileroVad } from './vad/silero/silero-vad.js';
import { OpenAiStt } from './remote/openai-stt.js';
import { OpenAiTts } from './remote/openai-tts.js';
import { SherpaTts } from './tts/sherpa/sherpa-tts.js';
import { detectSherpaSttLayout } from './stt/sherpa/model-layout.js';
import { SherpaOfflineStt } from './stt/sherpa/sherpa-offline-stt.js';
import { SherpaOnlineStt } from './stt/sherpa/sherpa-online-stt.js';
import type { VoiceActivityDetector } from './vad/voice-activity.js';
import { InMemoryEngineMetrics } from './engine-metrics.js';
import { EngineGuard, HEALTH_RECOVERY_MS, UNHEALTHY_AFTER_TIMEOUTS } from './engine-guard.js';
import { GuardedStt, GuardedTts, GuardedVad } from './guarded-engines.js';

/** The three engines a voice conversation needs, chosen by configuration. */
export interface VoiceEngines {
  readonly vad: VoiceActivityDetector & { check(): void };
  readonly stt: SpeechToText;
  readonly tts: TextToSpeech;
  /** Per-stage call counts, failures, timeouts and latency histograms (the LLM chain's too). */
  readonly metrics: InMemoryEngineMetrics;
  close(): Promise<void>;
}


type EngineSection = { timeoutMs: number; retries: number; maxConcurrent: number; maxQueued: number; timeoutPerUnitMs: number };

/** Remote engines retry inside their HTTP client (which knows Retry-After); local ones get one retry here. */
const guardFor = (engine: string, remote: boolean, section: EngineSection, metrics: InMemoryEngineMetrics): EngineGuard =>
  new EngineGuard({
    engine,
    timeoutMs: remote ? section.timeoutMs * (section.retries + 1) + 5_000 : section.timeoutMs,
    perUnitMs: section.timeoutPerUnitMs,
    retries: remote ? 0 : 1,
    maxConcurrent: section.maxConcurrent,
    maxQueued: section.maxQueued,
    unhealthyAfterTimeouts: UNHEALTHY_AFTER_TIMEOUTS,
    healthRecoveryMs: HEALTH_RECOVERY_MS,
    metrics,
  });

/**
 * Detection runs synchronously per frame (~0.1 ms for 20 ms of audio): it is only measured. A
 * frame slower than 50 ms plus half its own duration says the detector is broken, not busy.
 */
const vadGuard = (metrics: InMemoryEngineMetrics): EngineGuard =>
  new EngineGuard({ engine: 'silero', timeoutMs: 50, perUnitMs: 500, retries: 0, maxConcurrent: 0, maxQueued: 0, unhealthyAfterTimeouts: UNHEALTHY_AFTER_TIMEOUTS, healthRecoveryMs: HEALTH_RECOVERY_MS, metrics });

const createStt = async (config: HarkenConfig): Promise<SpeechToText> => {
  if (config.stt.engine === 'openai') {
    return new OpenAiStt({
      baseUrl: config.stt.openaiBaseUrl,
      apiKey: config.stt.openaiApiKey,
      model: config.stt.openaiModel,
      ...(config.stt.openaiLanguage ? { language: config.stt.openaiLanguage } : {}),
      timeoutMs: config.stt.timeoutMs,
      retries: config.stt.retries,
    });
  }
  if (config.stt.engine === 'sherpa') {
    const layout = detectSherpaSttLayout(config.stt.sherpaModelDir);
    const numThreads = config.stt.sherpaThreads;
    if (layout.kind === 'transducer' || layout.kind === 'streaming-ctc') return SherpaOnlineStt.create({ layout, numThreads });
    return SherpaOfflineStt.create({ layout, numThreads, language: config.stt.sherpaLanguage });
  }
  return PocketSphinxStt.create({ modelDir: config.stt.pocketsphinxModelDir, maxDecoders: config.stt.pocketsphinxMaxDecoders });
};

const createTts = async (config: HarkenConfig): Promise<TextToSpeech> => {
  if (config.tts.engine === 'openai') {
    const voices = config.tts.openaiVoices.split(',').map((voice) => voice.trim()).filter(Boolean);
    const voice = config.tts.voice || voices[0] || '';
    if (!voices.includes(voice)) {
      throw new ConfigError([{ setting: 'tts.voice', source: 'HARKEN_TTS_VOICE', message: `"${voice}" is not one of tts.openaiVoices (${voices.join(', ')})` }]);
    }
    return new OpenAiTts({
      baseUrl: config.tts.openaiBaseUrl,
      apiKey: config.tts.openaiApiKey,
      model: config.tts.openaiModel,
      voices: [voice, ...voices.filter((other) => other !== voice)],
      sampleRate: config.tts.openaiSampleRate,
      timeoutMs: config.tts.timeoutMs,
      retries: config.tts.retries,
    });
  }
  if (config.tts.engine === 'sherpa') {
    return SherpaTts.create({ modelDir: config.tts.sherpaModelDir, fallbackDataDir: config.tts.espeakDataDir });
  }
  // The process's own limit is the guard's, so a timed-out sentence leaves no process behind.
  return FliteTts.create({ ...(config.tts.voice ? { voice: config.tts.voice } : {}), timeoutMs: config.tts.timeoutMs + config.tts.timeoutPerUnitMs * config.voice.maxSynthesisChars });
};

/**
 * Loads the configured engines. A missing library or model throws
 * EngineUnavailableError, which names what is missing and how to fix it.
 */
export const createVoiceEngines = async (config: HarkenConfig, metrics = new InMemoryEngineMetrics()): Promise<VoiceEngines> => {
  const vad = SileroVad.create({
    model: config.vad.model,
    modelsDir: config.models.dir,
    threshold: config.vad.threshold,
    minSpeechMs: config.vad.minSpeechMs,
    minSilenceMs: config.voice.endOfTurnSilenceMs,
  });
  const stt = await createStt(config);
  let tts: TextToSpeech;
  try {
    tts = await createTts(config);
  } catch (error) {
    await stt.close();
    throw error;
  }
  if (stt.sampleRate !== vad.sampleRate) throw new Error(`STT rate ${stt.sampleRate} differs from VAD rate ${vad.sampleRate}`);
  return {
    vad: new GuardedVad(vad, vadGuard(metrics)),
    stt: new GuardedStt(stt, guardFor(stt.name, config.stt.engine === 'openai', config.stt, metrics)),
    tts: new GuardedTts(tts, guardFor(tts.name, config.tts.engine === 'openai', config.tts, metrics)),
    metrics,
    async close() {
      await Promise.all([stt.close(), tts.close()]);
    },
  };
};
