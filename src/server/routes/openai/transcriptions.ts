import type { MultipartFile } from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AudioTooLongError, decodeWithFfmpeg, FFMPEG_FIX } from '../../../audio/ffmpeg.js';
import { durationMs, type PcmAudio } from '../../../audio/pcm.js';
import { decodeWav, isWav, UnsupportedAudioError } from '../../../audio/wav.js';
import { requestWorkSignal } from '../../client-gone.js';
import { TRANSCRIPTION_MODELS } from './model-names.js';
import type { AudioRouteOptions } from './audio-route-options.js';
import { sendOpenAiError } from './openai-errors.js';
import { phrasesOf, toSrt, toVtt } from './transcript-formats.js';

const RESPONSE_FORMATS = ['json', 'text', 'srt', 'verbose_json', 'vtt'] as const;
type ResponseFormat = (typeof RESPONSE_FORMATS)[number];
/** Languages each embedded recogniser understands; others recognise what their model knows. */
const ENGINE_LANGUAGES: Readonly<Record<string, readonly string[]>> = { pocketsphinx: ['en'] };
const LANGUAGE_NAMES: Readonly<Record<string, string>> = { en: 'english' };

interface TranscriptionForm {
  readonly file?: { readonly bytes: Buffer; readonly filename: string };
  readonly fields: Map<string, string[]>;
}

/** Reads the multipart form: one `file`, short text fields (bounded by the multipart limits). */
const readForm = async (request: FastifyRequest): Promise<TranscriptionForm> => {
  const fields = new Map<string, string[]>();
  let file: TranscriptionForm['file'];
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      const upload = part as MultipartFile;
      const bytes = await upload.toBuffer();
      if (upload.fieldname === 'file' && !file) file = { bytes, filename: upload.filename };
      continue;
    }
    const value = typeof part.value === 'string' ? part.value : String(part.value);
    // `timestamp_granularities[]` arrives once per value.
    const name = part.fieldname.replace(/\[\]$/, '');
    fields.set(name, [...(fields.get(name) ?? []), value]);
  }
  return { ...(file ? { file } : {}), fields };
};

/**
 * `POST /v1/audio/transcriptions`, as OpenAI's: multipart `file` and `model` (OpenAI's names and
 * the engine's map to the configured recogniser), `language`, `prompt` (recognition hints),
 * `response_format` json/text/srt/verbose_json/vtt, `temperature` (accepted; the embedded engines
 * are deterministic), `timestamp_granularities[]` word/segment.
 */
export const registerTranscriptions = (app: FastifyInstance, options: AudioRouteOptions): void => {
  const { config, engines } = options;
  const models = new Set<string>([...TRANSCRIPTION_MODELS, engines.stt.name]);

  const decode = async (bytes: Buffer, signal: AbortSignal): Promise<PcmAudio> => {
    if (isWav(bytes)) return decodeWav(bytes);
    if (!options.ffmpeg) throw new UnsupportedAudioError(`this server reads WAV uploads only; for mp3, m4a, ogg, webm or flac ${FFMPEG_FIX}`);
    const ffmpeg = options.ffmpeg;
    // The guard's time limit aborts the decode (ffmpeg is killed); the slot is held until it has exited.
    return options.ffmpegGuard.run('ffmpeg.decode', { units: 0, what: 'an upload decode', signal, retry: false }, (limited) =>
      decodeWithFfmpeg(ffmpeg, bytes, { sampleRate: engines.stt.sampleRate, maxMs: config.voice.maxUploadDurationMs, timeoutMs: 60_000, signal: limited }),
    );
  };

  app.post(
    '/v1/audio/transcriptions',
    {
      config: { access: 'transcribe' },
      schema: {
        summary: 'Transcribe an audio file (OpenAI-compatible)',
        description: `multipart/form-data as OpenAI's API takes it: \`file\`, \`model\` (${[...models].join(', ')}), \`language\`, \`prompt\`, \`response_format\` (${RESPONSE_FORMATS.join(', ')}), \`temperature\`, \`timestamp_granularities[]\`. WAV is read natively; other formats need ffmpeg.`,
        tags: ['openai'],
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) return sendOpenAiError(reply, 400, 'invalid_request', 'send multipart/form-data with a `file` and a `model`', null);
      let form: TranscriptionForm;
      try {
        form = await readForm(request);
      } catch (error) {
        // The multipart plugin's limits carry their status (413); a body that is not a valid form (no boundary, a torn part) is the client's.
        const status = (error as { statusCode?: number }).statusCode;
        if (status === 413) return sendOpenAiError(reply, 413, 'payload_too_large', (error as Error).message, 'file');
        if (status !== undefined && status >= 500) throw error;
        return sendOpenAiError(reply, 400, 'invalid_multipart', `the multipart form could not be read: ${(error as Error).message}`, null);
      }
      const field = (name: string) => form.fields.get(name)?.[0];
      const model = field('model');
      if (!model) return sendOpenAiError(reply, 400, 'missing_required_parameter', 'you must provide a model parameter', 'model');
      if (!models.has(model)) return sendOpenAiError(reply, 400, 'model_not_found', `The model \`${model}\` does not exist; this server transcribes with ${[...models].join(', ')}`, 'model');
      if (!form.file) return sendOpenAiError(reply, 400, 'missing_required_parameter', 'you must provide a file parameter (the audio, as a form file)', 'file');
      const format = (field('response_format') ?? 'json') as ResponseFormat;
      if (!RESPONSE_FORMATS.includes(format)) return sendOpenAiError(reply, 400, 'invalid_value', `response_format must be one of ${RESPONSE_FORMATS.join(', ')}`, 'response_format');
      const language = field('language')?.toLowerCase().split(/[-_]/)[0];
      const understood = ENGINE_LANGUAGES[engines.stt.name];
      if (language && understood && !understood.includes(language)) {
        return sendOpenAiError(reply, 400, 'unsupported_language', `${engines.stt.name} recognises ${understood.join(', ')} only, not "${language}"`, 'language');
      }
      const temperature = field('temperature');
      if (temperature !== undefined && !(Number(temperature) >= 0 && Number(temperature) <= 1)) return sendOpenAiError(reply, 400, 'invalid_value', 'temperature must be between 0 and 1', 'temperature');
      const granularities = form.fields.get('timestamp_granularities') ?? ['segment'];
      const unknownGranularity = granularities.find((value) => value !== 'word' && value !== 'segment');
      if (unknownGranularity) return sendOpenAiError(reply, 400, 'invalid_value', `timestamp_granularities takes word and segment, not "${unknownGranularity}"`, 'timestamp_granularities');
      if (field('stream') === 'true') return sendOpenAiError(reply, 400, 'unsupported_parameter', 'streamed transcriptions are not supported; use the realtime API for live speech', 'stream');

      const signal = requestWorkSignal(reply, options.shutdownSignal);
      let audio: PcmAudio;
      try {
        audio = await decode(form.file.bytes, signal);
      } catch (error) {
        if (error instanceof UnsupportedAudioError) return sendOpenAiError(reply, 415, 'unsupported_media_type', `${form.file.filename || 'the file'}: ${error.message}`, 'file');
        if (error instanceof AudioTooLongError) return sendOpenAiError(reply, 413, 'audio_too_long', error.message, 'file');
        throw error;
      }
      if (audio.samples.length === 0) return sendOpenAiError(reply, 400, 'empty_audio', 'the audio contains no samples', 'file');
      if (durationMs(audio) > config.voice.maxUploadDurationMs) return sendOpenAiError(reply, 413, 'audio_too_long', `audio is longer than ${config.voice.maxUploadDurationMs / 1000} s`, 'file');

      const prompt = field('prompt')?.trim();
      const transcript = await engines.stt.transcribe(audio, { signal, ...(prompt ? { hints: { phrases: [prompt] } } : {}) });
      const seconds = durationMs(audio) / 1000;
      const usage = { type: 'duration' as const, seconds: Math.ceil(seconds) };
      reply.header('cache-control', 'no-store');
      if (format === 'text') return reply.type('text/plain; charset=utf-8').send(`${transcript.text}\n`);
      if (format === 'json') return { text: transcript.text, usage };
      const phrases = phrasesOf(transcript.segments);
      if (format === 'srt') return reply.type('text/plain; charset=utf-8').send(toSrt(phrases));
      if (format === 'vtt') return reply.type('text/vtt; charset=utf-8').send(toVtt(phrases));
      return {
        task: 'transcribe',
        language: LANGUAGE_NAMES[language ?? 'en'] ?? language ?? 'english',
        duration: Math.round(seconds * 1000) / 1000,
        text: transcript.text,
        ...(granularities.includes('segment')
          ? {
              segments: phrases.map((phrase, id) => ({
                id,
                seek: 0,
                start: phrase.startMs / 1000,
                end: phrase.endMs / 1000,
                text: ` ${phrase.text}`,
                tokens: [],
                temperature: 0,
                avg_logprob: 0,
                compression_ratio: 1,
                no_speech_prob: 0,
              })),
            }
          : {}),
        ...(granularities.includes('word') ? { words: transcript.segments.map((word) => ({ word: word.text, start: word.startMs / 1000, end: word.endMs / 1000 })) } : {}),
        usage,
      };
    },
  );
};
