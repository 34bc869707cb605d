import multipart from '@fastify/multipart';
import type { FastifyPluginAsync } from 'fastify';
import type { AgentRegistry } from '../../../agents/registry.js';
import { findFfmpeg } from '../../../audio/ffmpeg.js';
import type { HarkenConfig } from '../../../config/schema.js';
import type { VoiceEngines } from '../../../engines/voice-engines.js';
import { registerModels } from './models.js';
import { answerErrorsLikeOpenAi } from './openai-errors.js';
import { EngineGuard, HEALTH_RECOVERY_MS, UNHEALTHY_AFTER_TIMEOUTS } from '../../../engines/engine-guard.js';

/** An ffmpeg decode's time limit; an encode gets a second per unit on top (units: seconds of speech it may carry). */
const FFMPEG_BASE_LIMIT_MS = 30_000;
import { registerSpeech } from './speech.js';
import { registerTranscriptions } from './transcriptions.js';

export interface OpenAiRouteOptions {
  readonly config: HarkenConfig;
  readonly engines: VoiceEngines;
  readonly agents: AgentRegistry;
  readonly shutdownSignal?: AbortSignal;
}

/**
 * OpenAI's speech API on Harken's engines and security: a client written for OpenAI works with
 * its base URL set to `http(s)://host/v1` and a Harken API key. Encapsulated, so the multipart
 * parser and OpenAI's error shape apply to these routes only.
 */
export const openAiRoutes = (options: OpenAiRouteOptions): FastifyPluginAsync =>
  async (app) => {
    answerErrorsLikeOpenAi(app);
    await app.register(multipart, {
      limits: { fileSize: options.config.voice.maxUploadBytes, files: 1, fields: 16, fieldSize: 16 * 1024, parts: 24, headerPairs: 100 },
      throwFileSizeLimit: true,
    });
    const ffmpeg = findFfmpeg();
    const ffmpegGuard = new EngineGuard({
      engine: 'ffmpeg',
      timeoutMs: FFMPEG_BASE_LIMIT_MS,
      perUnitMs: 1_000,
      retries: 0,
      maxConcurrent: options.config.voice.ffmpegMaxConcurrent,
      maxQueued: options.config.voice.ffmpegMaxQueued,
      unhealthyAfterTimeouts: UNHEALTHY_AFTER_TIMEOUTS,
      healthRecoveryMs: HEALTH_RECOVERY_MS,
      metrics: options.engines.metrics,
    });
    const shared = { config: options.config, engines: options.engines, ffmpeg, ffmpegGuard, ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}) };
    registerTranscriptions(app, shared);
    registerSpeech(app, shared);
    registerModels(app, { engines: options.engines, agents: options.agents });
  };
