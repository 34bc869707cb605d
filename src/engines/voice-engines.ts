import { ConfigError } from '../config/load.js';
import { PromptAudioCache } from './tts/prompt-cache.js';
import type { HarkenConfig } from '../config/schema.js';
import { PocketSphinxStt, type DecoderRecovery } from './stt/pocketsphinx/pocketsphinx-stt.js';
import type { SpeechToText } from './stt/speech-to-text.js';
import type { TextToSpeech } from './tts/text-to-speech.js';
import { FliteTts, type SynthesisRecovery } from './tts/flite/flite-tts.js';
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
import { FallbackStt, FallbackTts, type EngineStandIn } from './fallback-engines.js';
import type { Logger } from 'pino';
import { loadWithRetries, type LoadRetryListener } from './load-retries.js';

/** The three engines a voice conversation needs, chosen by configuration. */
export interface VoiceEngines {
  readonly vad: VoiceActivityDetector & { check(): void };
  readonly stt: SpeechToText;
  readonly tts: TextToSpeech;
  /** Per-stage call counts, failures, timeouts and latency histograms (the LLM chain's too). */
  readonly metrics: InMemoryEngineMetrics;
  /** Fallback engines standing in for a primary, when configured. */
  readonly standIns?: EngineStandIns;
  /** The synthesiser's cache of fixed phrases (tts.promptCacheMb), when on; `tts` goes through it. */
  readonly promptCache?: PromptAudioCache;
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

/** Where engines report a hung process replaced under live work. */
interface RecoveryReports {
  readonly stt: (recovery: DecoderRecovery) => void;
  readonly tts: (recovery: SynthesisRecovery) => void;
  readonly onLoadRetry: LoadRetryListener;
}

const createStt = async (config: HarkenConfig, reports: RecoveryReports): Promise<SpeechToText> => {
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
  return PocketSphinxStt.create({
    modelDir: config.stt.pocketsphinxModelDir,
    maxDecoders: config.stt.pocketsphinxMaxDecoders,
    spareDecoders: config.stt.pocketsphinxSpareDecoders,
    hangTimeoutMs: config.stt.hangTimeoutMs,
    nice: config.server.engineThreadNice,
    onRecovery: reports.stt,
    onLoadRetry: reports.onLoadRetry,
  });
};

const createTts = async (config: HarkenConfig, reports: RecoveryReports): Promise<TextToSpeech> => {
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
  return FliteTts.create({
    ...(config.tts.voice ? { voice: config.tts.voice } : {}),
    timeoutMs: config.tts.timeoutMs + config.tts.timeoutPerUnitMs * config.voice.maxSynthesisChars,
    hangTimeoutMs: config.tts.hangTimeoutMs,
    onRecovery: reports.tts,
  });
};

export { LOAD_ATTEMPTS, loadWithRetries } from './load-retries.js';

/** Degraded engines (a fallback speaking or listening for the primary), for `/ready` warnings. */
export interface EngineStandIns {
  readonly stt?: () => EngineStandIn;
  readonly tts?: () => EngineStandIn;
}

export interface VoiceEngineOptions {
  readonly metrics?: InMemoryEngineMetrics;
  /** Told of load retries and of calls a fallback engine answers. */
  readonly logger?: Logger;
}

type WithEngine<K extends 'stt' | 'tts'> = (config: HarkenConfig, engine: HarkenConfig[K]['engine']) => HarkenConfig;
const withSttEngine: WithEngine<'stt'> = (config, engine) => ({ ...config, stt: { ...config.stt, engine } });
const withTtsEngine: WithEngine<'tts'> = (config, engine) => ({ ...config, tts: { ...config.tts, engine, voice: engine === config.tts.engine ? config.tts.voice : '' } });

/**
 * Loads the configured engines, each retried with back-off. A missing library or model throws
 * EngineUnavailableError, which names what is missing and how to fix it. With
 * stt.fallbackEngine / tts.fallbackEngine a second engine stands behind the first.
 */
export const createVoiceEngines = async (config: HarkenConfig, options: VoiceEngineOptions = {}): Promise<VoiceEngines> => {
  const metrics = options.metrics ?? new InMemoryEngineMetrics();
  const logger = options.logger;
  const onRetry = (what: string, attempt: number, error: Error, waitMs: number) =>
    logger?.warn({ engine: what, attempt, reason: error.message, retryInMs: waitMs }, `loading ${what} failed; retrying`);
  // Each hung or crashed process replaced under live work: a call of stage *.recovery (its time, its outcome) and a log line.
  const reports: RecoveryReports = {
    stt: (recovery) => {
      metrics.recordCall('stt.recovery', 'pocketsphinx', recovery.ok ? 'ok' : 'failure', recovery.durationMs);
      const fields = { engine: 'pocketsphinx', pid: recovery.pid, reason: recovery.reason, durationMs: recovery.durationMs, replayedMs: recovery.replayedMs, ...(recovery.error ? { error: recovery.error } : {}) };
      if (recovery.ok) logger?.warn(fields, `a PocketSphinx decoder ${recovery.reason === 'hung' ? 'hung; it was killed' : 'died'} and another took over the utterance`);
      else logger?.error(fields, `a PocketSphinx decoder ${recovery.reason === 'hung' ? 'hung' : 'died'} and no replacement could take over the utterance`);
    },
    tts: (recovery) => {
      metrics.recordCall('tts.recovery', 'flite', recovery.ok ? 'ok' : 'failure', recovery.durationMs);
      const fields = { engine: 'flite', durationMs: recovery.durationMs, limitMs: recovery.limitMs, ...(recovery.error ? { error: recovery.error } : {}) };
      if (recovery.ok) logger?.warn(fields, 'a flite process hung; it was killed and a new one made the sentence');
      else logger?.error(fields, 'a flite process hung and the sentence failed again on a new one');
    },
    onLoadRetry: onRetry,
  };
  const vad = await loadWithRetries(`the ${config.vad.engine} voice detector`, () =>
    SileroVad.create({
      model: config.vad.model,
      modelsDir: config.models.dir,
      threshold: config.vad.threshold,
      minSpeechMs: config.vad.minSpeechMs,
      minSilenceMs: config.voice.endOfTurnSilenceMs,
    }),
  onRetry);
  const opened: Array<{ close(): Promise<void> }> = [];
  try {
    const guardedStt = async (engine: HarkenConfig['stt']['engine']) => {
      const stt = await loadWithRetries(`the ${engine} recogniser`, () => createStt(withSttEngine(config, engine), reports), onRetry);
      opened.push(stt);
      return new GuardedStt(stt, guardFor(stt.name, engine === 'openai', config.stt, metrics));
    };
    const guardedTts = async (engine: HarkenConfig['tts']['engine']) => {
      const tts = await loadWithRetries(`the ${engine} synthesiser`, () => createTts(withTtsEngine(config, engine), reports), onRetry);
      opened.push(tts);
      return new GuardedTts(tts, guardFor(tts.name, engine === 'openai', config.tts, metrics));
    };
    const warnOnce = (role: string) => {
      let warnedAt = Number.NEGATIVE_INFINITY;
      return (reason: string) => {
        // Once a minute at most: a hung primary would otherwise log every sentence.
        if (performance.now() - warnedAt < 60_000) return;
        warnedAt = performance.now();
        logger?.warn({ reason }, `${role}: the fallback engine is answering`);
      };
    };
    let stt: SpeechToText = await guardedStt(config.stt.engine);
    let sttStandIn: (() => EngineStandIn) | undefined;
    if (config.stt.fallbackEngine && config.stt.fallbackEngine !== config.stt.engine) {
      const fallback = await guardedStt(config.stt.fallbackEngine);
      if (fallback.sampleRate !== stt.sampleRate) throw new ConfigError([{ setting: 'stt.fallbackEngine', source: 'HARKEN_STT_FALLBACK_ENGINE', message: `${fallback.name} listens at ${fallback.sampleRate} Hz, ${stt.name} at ${stt.sampleRate} Hz: they must match` }]);
      const both = new FallbackStt(stt as GuardedStt, fallback, warnOnce('speech recognition'));
      sttStandIn = () => both.standIn();
      stt = both;
    }
    let tts: TextToSpeech = await guardedTts(config.tts.engine);
    let ttsStandIn: (() => EngineStandIn) | undefined;
    if (config.tts.fallbackEngine && config.tts.fallbackEngine !== config.tts.engine) {
      const both = new FallbackTts(tts as GuardedTts, await guardedTts(config.tts.fallbackEngine), warnOnce('speech synthesis'));
      ttsStandIn = () => both.standIn();
      tts = both;
    }
    if (stt.sampleRate !== vad.sampleRate) throw new Error(`STT rate ${stt.sampleRate} differs from VAD rate ${vad.sampleRate}`);
    const promptCache = config.tts.promptCacheMb > 0 ? new PromptAudioCache(tts, { maxBytes: config.tts.promptCacheMb * 1024 * 1024 }, metrics) : undefined;
    const sttOf = stt;
    const ttsOf = promptCache ?? tts;
    return {
      vad: new GuardedVad(vad, vadGuard(metrics)),
      stt: sttOf,
      tts: ttsOf,
      metrics,
      standIns: { ...(sttStandIn ? { stt: sttStandIn } : {}), ...(ttsStandIn ? { tts: ttsStandIn } : {}) },
      ...(promptCache ? { promptCache } : {}),
      async close() {
        await Promise.all([sttOf.close?.(), ttsOf.close?.()]);
      },
    };
  } catch (error) {
    await Promise.all(opened.map((engine) => engine.close().catch(() => undefined)));
    throw error;
  }
};
