import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ENCODINGS, ffmpegHasEncoder, FFMPEG_FIX, StreamingEncoder, type Encoding } from '../../../audio/ffmpeg.js';
import { int16ToBytes } from '../../../audio/pcm.js';
import { resample } from '../../../audio/resample.js';
import { SentenceChunker } from '../../../text/sentence-chunker.js';
import { requestWorkSignal } from '../../client-gone.js';
import { parseVoiceAliases, resolveVoice, SPEECH_MODELS } from './model-names.js';
import type { AudioRouteOptions } from './audio-route-options.js';
import { sendOpenAiError } from './openai-errors.js';

/** OpenAI's speech output: 24 kHz, 16-bit mono (`pcm` is exactly that, headerless, little-endian). */
const OUTPUT_RATE = 24_000;
const FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
type SpeechFormat = (typeof FORMATS)[number];
/** OpenAI's own limit on `input`. */
const MAX_INPUT_CHARS = 4_096;

/** A WAV header for a stream whose length is not known yet (sizes at their maximum, as streaming encoders write them). */
const streamingWavHeader = (sampleRate: number): Buffer => {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(0xffffffff, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(0xffffffff - 36, 40);
  return header;
};

/**
 * `POST /v1/audio/speech`, as OpenAI's: `{model, input, voice, response_format, speed}`. OpenAI's
 * model and voice names map to the configured synthesiser and its voices (`tts.voiceAliases`).
 * The audio streams as it is made, sentence by sentence: the first sentence is heard while the
 * rest is synthesised. mp3/opus/aac/flac are encoded by ffmpeg where it is installed; wav and pcm
 * always work.
 */
export const registerSpeech = (app: FastifyInstance, options: AudioRouteOptions): void => {
  /** Speech lasts at most ~0.2 s a character at speed 0.25: the encode's time limit (a slow reader cannot hold a slot longer). */
  const encoderInSlot = (encoding: Encoding, onData: (chunk: Buffer) => void, signal: AbortSignal, inputChars: number): Promise<StreamingEncoder> =>
    new Promise((resolve, reject) => {
      const slot = options.ffmpegGuard.run('ffmpeg.encode', { units: Math.ceil(inputChars * 0.2), what: 'a speech encode', signal, retry: false }, async (limited) => {
        const encoder = new StreamingEncoder(options.ffmpeg as string, encoding, OUTPUT_RATE, onData, { timeoutMs: 60 * 60_000, signal: limited });
        resolve(encoder);
        await encoder.done;
      });
      slot.catch(reject);
    });

  const { config, engines } = options;
  const models = new Set<string>([...SPEECH_MODELS, engines.tts.name]);
  const aliases = parseVoiceAliases(config.tts.voiceAliases, engines.tts);
  const defaultVoice = config.tts.voice || undefined;
  const encodable = (format: SpeechFormat): boolean => format === 'wav' || format === 'pcm' || (options.ffmpeg !== undefined && ffmpegHasEncoder(options.ffmpeg, ENCODINGS[format].encoder));

  app.post(
    '/v1/audio/speech',
    {
      config: { access: 'synthesize' },
      schema: {
        summary: 'Speak text (OpenAI-compatible)',
        description: `Models: ${[...models].join(', ')}. Voices: OpenAI's names (mapped by tts.voiceAliases) or the engine's own. Formats: ${FORMATS.join(', ')} (24 kHz; mp3, opus, aac and flac need ffmpeg).`,
        tags: ['openai'],
        body: Type.Object({
          model: Type.String({ minLength: 1, maxLength: 128 }),
          input: Type.String({ minLength: 1, maxLength: MAX_INPUT_CHARS }),
          voice: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })]),
          response_format: Type.Optional(Type.String({ maxLength: 16 })),
          speed: Type.Optional(Type.Number({ minimum: 0.25, maximum: 4 })),
          instructions: Type.Optional(Type.String({ maxLength: 4_096 })),
          stream_format: Type.Optional(Type.String({ maxLength: 16 })),
        }),
      },
    },
    async (request, reply) => {
      const body = request.body as { model: string; input: string; voice: string | { id: string }; response_format?: string; speed?: number; stream_format?: string };
      if (!models.has(body.model)) return sendOpenAiError(reply, 400, 'model_not_found', `The model \`${body.model}\` does not exist; this server speaks with ${[...models].join(', ')}`, 'model');
      const requested = typeof body.voice === 'string' ? body.voice : body.voice.id;
      const voice = resolveVoice(requested, aliases, engines.tts, defaultVoice);
      if (!voice) return sendOpenAiError(reply, 400, 'invalid_value', `no voice "${requested}"; use one of OpenAI's (alloy, echo, nova, …) or ${engines.tts.capabilities.voices.join(', ')}`, 'voice');
      const format = (body.response_format ?? 'mp3') as SpeechFormat;
      if (!FORMATS.includes(format)) return sendOpenAiError(reply, 400, 'invalid_value', `response_format must be one of ${FORMATS.join(', ')}`, 'response_format');
      if (!encodable(format)) return sendOpenAiError(reply, 400, 'unsupported_format', `this server cannot encode ${format}: ${FFMPEG_FIX}; wav and pcm always work`, 'response_format');
      if (body.stream_format === 'sse') return sendOpenAiError(reply, 400, 'unsupported_value', 'stream_format "sse" is not supported; the audio streams as raw bytes', 'stream_format');
      const sentences = new SentenceChunker();
      const parts = [...sentences.push(body.input), ...sentences.flush()];
      if (parts.length === 0) return sendOpenAiError(reply, 400, 'invalid_value', 'input must contain something to say', 'input');

      const signal = requestWorkSignal(reply, options.shutdownSignal);
      const speak = async (text: string) =>
        resample(await engines.tts.synthesize(text, { signal, voice, ...(body.speed !== undefined && body.speed !== 1 ? { speed: body.speed } : {}) }), OUTPUT_RATE).samples;
      // The first sentence before the headers: a failure there is still a proper error response.
      const first = await speak(parts[0] as string);
      const out = new PassThrough();
      // An encoder takes an ffmpeg slot before the headers go out (a busy server still answers 503) and holds it until ffmpeg has exited.
      const encoder = format === 'wav' || format === 'pcm' ? undefined : await encoderInSlot(format as Encoding, (chunk) => out.write(chunk), signal, body.input.length);
      const emit = async (samples: Int16Array) => {
        if (encoder) await encoder.write(samples);
        else if (!out.write(int16ToBytes(samples))) await new Promise((resolve) => out.once('drain', resolve));
      };
      if (format === 'wav') out.write(streamingWavHeader(OUTPUT_RATE));
      void (async () => {
        await emit(first);
        // One sentence at a time, each after the previous is written: bounded by the client's reading.
        for (const text of parts.slice(1)) {
          signal.throwIfAborted();
          await emit(await speak(text));
        }
        await encoder?.end();
        out.end();
      })().catch((error: unknown) => {
        encoder?.kill();
        // Headers are out: the client sees the stream end early; the log says why.
        if (!signal.aborted) request.log.warn({ reason: (error as Error).message }, 'speech stream failed after it started');
        out.destroy(error as Error);
      });
      reply.header('cache-control', 'no-store');
      return reply.type(format === 'wav' ? 'audio/wav' : format === 'pcm' ? 'audio/pcm' : ENCODINGS[format as Encoding].contentType).send(out);
    },
  );
};
