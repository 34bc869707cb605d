import { requestWorkSignal } from '../client-gone.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DURATION_BUCKETS_MS } from '../../engines/engine-metrics.js';
import { performance } from 'node:perf_hooks';
import { Type } from 'typebox';
import type { AnswerExpectation } from '../../agents/agent.js';
import { durationMs, int16FromBytes, type PcmAudio } from '../../audio/pcm.js';
import { decodeWav, encodeWav, isWav, UnsupportedAudioError } from '../../audio/wav.js';
import type { HarkenConfig } from '../../config/schema.js';
import type { ConversationService } from '../../conversations/service.js';
import { tenantScopeOf } from '../../security/authenticator.js';
import type { VoiceEngines } from '../../engines/voice-engines.js';
import { badRequest, HarkenError } from '../../errors.js';
import { ConversationId, errorResponses, Expectation, MessageView } from '../schemas.js';
import { toExpectation, toMessageView } from '../views.js';

const WAV_TYPES = ['audio/wav', 'audio/wave', 'audio/x-wav', 'audio/vnd.wave'];
const RAW_LITTLE_ENDIAN_TYPES = ['audio/pcm', 'application/octet-stream'];
/** RFC 2586: audio/L16 is big-endian. */
const RAW_BIG_ENDIAN_TYPES = ['audio/l16'];
const AUDIO_TYPES = [...WAV_TYPES, ...RAW_LITTLE_ENDIAN_TYPES, ...RAW_BIG_ENDIAN_TYPES];

const AudioQuery = {
  sampleRate: Type.Optional(Type.Integer({ minimum: 8000, maximum: 48000, description: 'Rate of raw PCM bodies (required for audio/pcm, audio/L16, application/octet-stream).' })),
  expect: Type.Optional(
    Type.Union([Type.Literal('yesno'), Type.Literal('date'), Type.Literal('number'), Type.Literal('text')], {
      description: 'What the speech is expected to be; constrains recognition.',
    }),
  ),
};

const Segment = Type.Object({ text: Type.String(), startMs: Type.Number(), endMs: Type.Number() });
const TranscriptBody = Type.Object({ text: Type.String(), segments: Type.Array(Segment), durationMs: Type.Integer() });

const mediaTypeOf = (header: string | undefined): string => (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/** Any common upload to mono s16 PCM; the rate is whatever the client sent. */
const decodeUpload = (body: Buffer, contentType: string | undefined, sampleRate: number | undefined): PcmAudio => {
  const type = mediaTypeOf(contentType);
  if (WAV_TYPES.includes(type) || isWav(body)) return decodeWav(body);
  const rate = sampleRate ?? Number(/rate=(\d+)/i.exec(contentType ?? '')?.[1] ?? NaN);
  if (!Number.isInteger(rate) || rate < 8000 || rate > 48000) {
    throw badRequest('sample_rate_required', 'raw PCM needs its sample rate: add ?sampleRate=16000 (8000–48000)');
  }
  if (body.byteLength % 2 !== 0) throw new UnsupportedAudioError('raw PCM must hold whole 16-bit samples');
  const bytes = RAW_BIG_ENDIAN_TYPES.includes(type) ? Buffer.from(body).swap16() : body;
  return { samples: Int16Array.from(int16FromBytes(bytes)), sampleRate: rate };
};

export interface VoiceRouteDependencies {
  readonly config: HarkenConfig;
  readonly engines: VoiceEngines;
  readonly conversations: ConversationService;
  /** Aborted when a shutdown can wait no longer for in-flight speech work. */
  readonly shutdownSignal?: AbortSignal;
}

/** HTTP voice APIs: whole-utterance transcription, synthesis and a one-shot voice turn. */
export const voiceRoutes = (deps: VoiceRouteDependencies): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { config, engines } = deps;
    app.addContentTypeParser(AUDIO_TYPES, { parseAs: 'buffer', bodyLimit: config.voice.maxUploadBytes }, (_request, body, done) => done(null, body));

    const readAudio = (body: unknown, contentType: string | undefined, sampleRate: number | undefined): PcmAudio => {
      if (!Buffer.isBuffer(body)) throw new HarkenError(415, 'unsupported_media_type', `send audio as one of: ${AUDIO_TYPES.join(', ')}`);
      let audio: PcmAudio;
      try {
        audio = decodeUpload(body, contentType, sampleRate);
      } catch (error) {
        if (error instanceof UnsupportedAudioError) throw new HarkenError(415, 'unsupported_media_type', error.message);
        throw error;
      }
      if (audio.samples.length === 0) throw badRequest('empty_audio', 'the audio contains no samples');
      if (durationMs(audio) > config.voice.maxUploadDurationMs) {
        throw new HarkenError(413, 'audio_too_long', `audio is longer than ${config.voice.maxUploadDurationMs / 1000} s`);
      }
      return audio;
    };

    const transcribe = async (audio: PcmAudio, expect: AnswerExpectation | undefined, signal: AbortSignal) => {
      const transcript = await engines.stt.transcribe(audio, { signal, ...(expect ? { hints: { expect } } : {}) });
      return { text: transcript.text, segments: [...transcript.segments], durationMs: Math.round(durationMs(audio)) };
    };

    const synthesize = async (text: string, voice: string | undefined, signal: AbortSignal): Promise<PcmAudio> => {
      if (voice !== undefined && !engines.tts.capabilities.voices.includes(voice)) {
        throw badRequest('unknown_voice', `no voice "${voice}"; available: ${engines.tts.capabilities.voices.join(', ')}`);
      }
      const chosen = voice ?? (config.tts.voice || undefined);
      return engines.tts.synthesize(text, { signal, ...(chosen ? { voice: chosen } : {}) });
    };

    const Stage = Type.Object({
      engine: Type.String(),
      calls: Type.Integer({ description: 'Attempts that ran (ok, failed, timed out or cancelled).' }),
      failures: Type.Integer(),
      timeouts: Type.Integer(),
      cancelled: Type.Integer(),
      busy: Type.Integer({ description: 'Calls refused with engine_busy (queue full).' }),
      retries: Type.Integer(),
      p50Ms: Type.Union([Type.Number(), Type.Null()]),
      p95Ms: Type.Union([Type.Number(), Type.Null()]),
      buckets: Type.Array(Type.Integer(), { description: `Attempts per duration bucket, upper bounds ${DURATION_BUCKETS_MS.join(', ')} ms, then more.` }),
    });
    app.get(
      '/v1/admin/engines',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'Engines in use and per-stage counters and latency histograms (since start)',
          tags: ['admin'],
          response: {
            200: Type.Object({
              vad: Type.String(),
              stt: Type.String(),
              tts: Type.String(),
              healthy: Type.Boolean(),
              problem: Type.Optional(Type.String()),
              sttPool: Type.Optional(
                Type.Object(
                  {
                    busy: Type.Integer(),
                    idle: Type.Integer(),
                    waiting: Type.Integer({ description: 'Utterances buffering until a recogniser is free.' }),
                    max: Type.Integer(),
                    processes: Type.Optional(Type.Array(Type.Integer(), { description: 'Process ids of the decoders (PocketSphinx runs each in a process of its own; a hung one is killed and replaced).' })),
                  },
                  { description: 'The recogniser pool, for engines that keep one (PocketSphinx decoders).' },
                ),
              ),
              stages: Type.Record(Type.String(), Stage),
            }),
            ...errorResponses(401, 403),
          },
        },
      },
      async () => {
        let problem: string | undefined;
        try {
          engines.vad.check();
          engines.stt.check?.();
          engines.tts.check?.();
        } catch (error) {
          problem = (error as Error).message;
        }
        const sttPool = engines.stt.pool;
        return {
          vad: engines.vad.name,
          stt: engines.stt.name,
          tts: engines.tts.name,
          healthy: problem === undefined,
          ...(problem ? { problem } : {}),
          ...(sttPool ? { sttPool: { ...sttPool } } : {}),
          stages: engines.metrics.view(),
        };
      },
    );
    app.post(
      '/v1/transcribe',
      {
        config: { access: 'transcribe' },
        schema: {
          summary: 'Transcribe speech',
          description: `Body: a WAV file (any common rate, resampled) or raw PCM s16 with ?sampleRate. Content types: ${AUDIO_TYPES.join(', ')}.`,
          tags: ['voice'],
          querystring: Type.Object(AudioQuery, { additionalProperties: false }),
          response: { 200: TranscriptBody, ...errorResponses(400, 413, 415) },
        },
      },
      async (request, reply) => {
        const audio = readAudio(request.body, request.headers['content-type'], request.query.sampleRate);
        return transcribe(audio, request.query.expect ? { type: request.query.expect } : undefined, requestWorkSignal(reply, deps.shutdownSignal));
      },
    );

    app.post(
      '/v1/synthesize',
      {
        config: { access: 'synthesize' },
        schema: {
          summary: 'Synthesise speech',
          description: 'Returns audio/wav (16-bit mono).',
          tags: ['voice'],
          body: Type.Object(
            {
              text: Type.String({ minLength: 1, maxLength: config.voice.maxSynthesisChars }),
              voice: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Unsafe({ description: 'WAV audio', content: { 'audio/wav': { schema: { type: 'string', format: 'binary' } } } }), ...errorResponses(400, 413, 415) },
        },
      },
      async (request, reply) => {
        if (request.body.text.trim() === '') throw badRequest('empty_text', 'text must contain something to say');
        const audio = await synthesize(request.body.text, request.body.voice, requestWorkSignal(reply, deps.shutdownSignal));
        return reply.type('audio/wav').send(encodeWav(audio));
      },
    );

    app.post(
      '/v1/voice-chat',
      {
        config: { access: 'conversations', routeRateLimit: (settings) => settings.rateLimit.voiceChatRequests },
        schema: {
          summary: 'One spoken turn: audio in, transcript + reply text + reply audio out',
          description:
            'Without conversationId a new conversation is started (its opening words are returned as `greeting`) and the audio is its first turn. The reply audio is a base64 WAV.',
          tags: ['voice'],
          querystring: Type.Object(
            { ...AudioQuery, conversationId: Type.Optional(ConversationId), agent: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              conversationId: ConversationId,
              status: Type.String(),
              data: Type.Record(Type.String(), Type.Unknown()),
              greeting: Type.Union([Type.String(), Type.Null()]),
              transcript: TranscriptBody,
              reply: Type.Union([MessageView, Type.Null()]),
              expect: Expectation,
              audio: Type.Union([Type.Object({ contentType: Type.Literal('audio/wav'), sampleRate: Type.Integer(), base64: Type.String() }), Type.Null()]),
            }),
            ...errorResponses(400, 404, 409, 413, 415, 422),
          },
        },
      },
      async (request, reply) => {
        const caller = request.caller!;
        const scope = tenantScopeOf(caller);
        reply.header('cache-control', 'no-store');
        const signal = requestWorkSignal(reply, deps.shutdownSignal);
        const audio = readAudio(request.body, request.headers['content-type'], request.query.sampleRate);
        let conversationId = request.query.conversationId;
        let greeting: string | null = null;
        let expect: AnswerExpectation | undefined = request.query.expect ? { type: request.query.expect } : undefined;
        if (conversationId) {
          await deps.conversations.get(conversationId, scope); // 404 before spending time on recognition
        } else {
          const started = await deps.conversations.start(request.query.agent, caller.tenant);
          conversationId = started.conversation.id;
          greeting = started.reply?.text ?? null;
          expect ??= started.expect;
        }
        const recognitionStarted = performance.now();
        const transcript = await transcribe(audio, expect, signal);
        if (transcript.text.trim() === '') throw new HarkenError(422, 'no_speech', 'no speech was recognised in the audio');
        const outcome = await deps.conversations.send(
          conversationId,
          { text: transcript.text, source: 'voice', metrics: { sttLatencyMs: Math.round(performance.now() - recognitionStarted) } },
          { scope, signal },
        );
        const synthesisStarted = performance.now();
        const replyAudio = outcome.reply ? await synthesize(outcome.reply.text, undefined, signal) : undefined;
        if (outcome.reply && replyAudio) {
          await deps.conversations.recordPlayback(outcome.reply.id, {
            text: outcome.reply.text,
            interrupted: false,
            metrics: { ttsFirstAudioMs: performance.now() - synthesisStarted },
          });
        }
        return {
          conversationId,
          status: outcome.conversation.status,
          data: outcome.conversation.data,
          greeting,
          transcript,
          reply: outcome.reply ? toMessageView(outcome.reply) : null,
          expect: toExpectation(outcome.expect),
          audio: replyAudio ? { contentType: 'audio/wav' as const, sampleRate: replyAudio.sampleRate, base64: encodeWav(replyAudio).toString('base64') } : null,
        };
      },
    );
  };
