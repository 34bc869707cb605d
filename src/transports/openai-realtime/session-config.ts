import type { AudioFormat } from '../../audio/audio-format.js';
import { invalid, isObject, type Json } from './protocol-error.js';

/** Which generation of OpenAI's Realtime protocol a client speaks: the beta (`response.audio.delta`) or GA (`response.output_audio.delta`). */
export type Dialect = 'beta' | 'ga';

/** The three audio formats of the protocol, by their beta names. */
export type WireFormat = 'pcm16' | 'g711_ulaw' | 'g711_alaw';

export const audioFormatOf = (format: WireFormat): AudioFormat =>
  format === 'pcm16' ? { sampleRate: 24_000, encoding: 'pcm_s16le' } : { sampleRate: 8_000, encoding: format === 'g711_ulaw' ? 'mulaw' : 'alaw' };

export interface ServerVad {
  readonly type: 'server_vad';
  readonly threshold: number;
  readonly prefixPaddingMs: number;
  readonly silenceDurationMs: number;
  readonly createResponse: boolean;
  readonly interruptResponse: boolean;
}

/** A function the client declared: the model may call it, the client runs it. */
export interface FunctionTool {
  readonly type: 'function';
  readonly name: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { readonly type: 'function'; readonly name: string };

/** One OpenAI realtime session's settings, dialect-free. */
export interface RealtimeSessionConfig {
  readonly model: string;
  /** Empty: the agent's own instructions. */
  readonly instructions: string;
  readonly voice: string;
  readonly inputFormat: WireFormat;
  readonly outputFormat: WireFormat;
  /** Null: the client commits input and asks for responses itself. */
  readonly turnDetection: ServerVad | null;
  /** Whether the caller's words are sent back as transcription events (they are always recognised: the agent needs them). */
  readonly transcription: { readonly model: string } | null;
  readonly modalities: readonly ('text' | 'audio')[];
  readonly tools: readonly FunctionTool[];
  readonly toolChoice: ToolChoice;
  readonly temperature: number;
  readonly maxOutputTokens: number | 'inf';
}

export const MAX_TOOLS = 64;
const MAX_INSTRUCTIONS_CHARS = 32_000;
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;



const stringAt = (value: unknown, param: string, maxChars = 1000): string => {
  if (typeof value !== 'string') throw invalid(param, `${param} must be a string`);
  if (value.length > maxChars) throw invalid(param, `${param} is longer than ${maxChars} characters`);
  return value;
};

const numberAt = (value: unknown, param: string, min: number, max: number): number => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) throw invalid(param, `${param} must be a number from ${min} to ${max}`);
  return value;
};

const booleanAt = (value: unknown, param: string): boolean => {
  if (typeof value !== 'boolean') throw invalid(param, `${param} must be true or false`);
  return value;
};

const BETA_FORMATS: readonly WireFormat[] = ['pcm16', 'g711_ulaw', 'g711_alaw'];

const betaFormat = (value: unknown, param: string): WireFormat => {
  if (typeof value !== 'string' || !(BETA_FORMATS as readonly string[]).includes(value)) throw invalid(param, `${param} must be one of ${BETA_FORMATS.join(', ')}`);
  return value as WireFormat;
};

/** GA formats are objects: `{type:"audio/pcm", rate:24000}`, `{type:"audio/pcmu"}`, `{type:"audio/pcma"}`. */
const gaFormat = (value: unknown, param: string): WireFormat => {
  if (!isObject(value)) throw invalid(param, `${param} must be an object like {"type":"audio/pcm","rate":24000}`);
  switch (value.type) {
    case 'audio/pcm':
      if (value.rate !== undefined && value.rate !== 24_000) throw invalid(`${param}.rate`, `${param}.rate must be 24000`);
      return 'pcm16';
    case 'audio/pcmu':
      return 'g711_ulaw';
    case 'audio/pcma':
      return 'g711_alaw';
    default:
      throw invalid(`${param}.type`, `${param}.type must be audio/pcm, audio/pcmu or audio/pcma`);
  }
};

export const gaFormatOf = (format: WireFormat): Json => (format === 'pcm16' ? { type: 'audio/pcm', rate: 24_000 } : { type: format === 'g711_ulaw' ? 'audio/pcmu' : 'audio/pcma' });

/** server_vad (semantic_vad is taken as server_vad: there is no semantic model here), or null for manual turns. */
const turnDetectionOf = (value: unknown, param: string, current: ServerVad | null, defaults: ServerVad): ServerVad | null => {
  if (value === null) return null;
  if (!isObject(value)) throw invalid(param, `${param} must be an object or null`);
  if (value.type !== undefined && value.type !== 'server_vad' && value.type !== 'semantic_vad') throw invalid(`${param}.type`, `${param}.type must be server_vad or semantic_vad`);
  const base = current ?? defaults;
  return {
    type: 'server_vad',
    threshold: value.threshold === undefined ? base.threshold : numberAt(value.threshold, `${param}.threshold`, 0, 1),
    prefixPaddingMs: value.prefix_padding_ms === undefined ? base.prefixPaddingMs : numberAt(value.prefix_padding_ms, `${param}.prefix_padding_ms`, 0, 2000),
    silenceDurationMs: value.silence_duration_ms === undefined ? base.silenceDurationMs : numberAt(value.silence_duration_ms, `${param}.silence_duration_ms`, 100, 5000),
    createResponse: value.create_response === undefined ? base.createResponse : booleanAt(value.create_response, `${param}.create_response`),
    interruptResponse: value.interrupt_response === undefined ? base.interruptResponse : booleanAt(value.interrupt_response, `${param}.interrupt_response`),
  };
};

export const toolsOf = (value: unknown, param: string): FunctionTool[] => {
  if (!Array.isArray(value)) throw invalid(param, `${param} must be an array`);
  if (value.length > MAX_TOOLS) throw invalid(param, `${param} holds at most ${MAX_TOOLS} tools`);
  return value.map((tool, index) => {
    const at = `${param}[${index}]`;
    if (!isObject(tool) || (tool.type !== undefined && tool.type !== 'function')) throw invalid(`${at}.type`, `${at} must be a function tool ({"type":"function",…})`);
    const name = stringAt(tool.name, `${at}.name`, 64);
    if (!TOOL_NAME.test(name)) throw invalid(`${at}.name`, `${at}.name must be 1–64 letters, digits, _ or -`);
    const parameters = tool.parameters ?? { type: 'object', properties: {} };
    if (!isObject(parameters)) throw invalid(`${at}.parameters`, `${at}.parameters must be a JSON Schema object`);
    return { type: 'function', name, description: tool.description === undefined ? '' : stringAt(tool.description, `${at}.description`, 4000), parameters };
  });
};

export const toolChoiceOf = (value: unknown, param: string): ToolChoice => {
  if (value === 'auto' || value === 'none' || value === 'required') return value;
  if (isObject(value) && value.type === 'function') return { type: 'function', name: stringAt(value.name, `${param}.name`, 64) };
  throw invalid(param, `${param} must be auto, none, required or {"type":"function","name":…}`);
};

export const modalitiesOf = (value: unknown, param: string): ('text' | 'audio')[] => {
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => item === 'text' || item === 'audio')) throw invalid(param, `${param} must be ["text"], ["audio"] or ["text","audio"]`);
  return [...new Set(value as ('text' | 'audio')[])];
};

/**
 * Applies a `session.update` (either dialect) to the current config. Unknown fields are ignored,
 * as OpenAI's server does; a known field with a bad value is an error naming it.
 */
export const applySessionUpdate = (current: RealtimeSessionConfig, session: unknown, defaults: ServerVad): RealtimeSessionConfig => {
  if (!isObject(session)) throw invalid('session', 'session must be an object');
  let next: { -readonly [K in keyof RealtimeSessionConfig]: RealtimeSessionConfig[K] } = { ...current };
  if (session.type !== undefined && session.type !== 'realtime') throw invalid('session.type', 'session.type must be "realtime" (transcription sessions are not served here)');
  if (session.instructions !== undefined) next.instructions = stringAt(session.instructions, 'session.instructions', MAX_INSTRUCTIONS_CHARS);
  if (session.voice !== undefined) next.voice = stringAt(session.voice, 'session.voice', 64);
  // Beta: flat fields.
  if (session.input_audio_format !== undefined) next.inputFormat = betaFormat(session.input_audio_format, 'session.input_audio_format');
  if (session.output_audio_format !== undefined) next.outputFormat = betaFormat(session.output_audio_format, 'session.output_audio_format');
  if (session.turn_detection !== undefined) next.turnDetection = turnDetectionOf(session.turn_detection, 'session.turn_detection', current.turnDetection, defaults);
  if (session.input_audio_transcription !== undefined) next.transcription = transcriptionOf(session.input_audio_transcription, 'session.input_audio_transcription');
  if (session.modalities !== undefined) next.modalities = modalitiesOf(session.modalities, 'session.modalities');
  if (session.max_response_output_tokens !== undefined) next.maxOutputTokens = maxTokensOf(session.max_response_output_tokens, 'session.max_response_output_tokens');
  // GA: nested audio settings.
  if (session.audio !== undefined) next = { ...next, ...gaAudio(session.audio, next, defaults) };
  if (session.output_modalities !== undefined) next.modalities = modalitiesOf(session.output_modalities, 'session.output_modalities');
  if (session.max_output_tokens !== undefined) next.maxOutputTokens = maxTokensOf(session.max_output_tokens, 'session.max_output_tokens');
  // Both.
  if (session.tools !== undefined) next.tools = toolsOf(session.tools, 'session.tools');
  if (session.tool_choice !== undefined) next.toolChoice = toolChoiceOf(session.tool_choice, 'session.tool_choice');
  if (session.temperature !== undefined) next.temperature = numberAt(session.temperature, 'session.temperature', 0, 2);
  if (session.model !== undefined) next.model = stringAt(session.model, 'session.model', 128);
  return next;
};

const transcriptionOf = (value: unknown, param: string): { model: string } | null => {
  if (value === null) return null;
  if (!isObject(value)) throw invalid(param, `${param} must be an object or null`);
  return { model: value.model === undefined ? 'whisper-1' : stringAt(value.model, `${param}.model`, 128) };
};

const maxTokensOf = (value: unknown, param: string): number | 'inf' => (value === 'inf' ? 'inf' : numberAt(value, param, 1, 4096));

const gaAudio = (value: unknown, current: RealtimeSessionConfig, defaults: ServerVad): Partial<RealtimeSessionConfig> => {
  if (!isObject(value)) throw invalid('session.audio', 'session.audio must be an object');
  const change: { -readonly [K in keyof RealtimeSessionConfig]?: RealtimeSessionConfig[K] } = {};
  const { input, output } = value;
  if (input !== undefined) {
    if (!isObject(input)) throw invalid('session.audio.input', 'session.audio.input must be an object');
    if (input.format !== undefined) change.inputFormat = gaFormat(input.format, 'session.audio.input.format');
    if (input.turn_detection !== undefined) change.turnDetection = turnDetectionOf(input.turn_detection, 'session.audio.input.turn_detection', current.turnDetection, defaults);
    if (input.transcription !== undefined) change.transcription = transcriptionOf(input.transcription, 'session.audio.input.transcription');
  }
  if (output !== undefined) {
    if (!isObject(output)) throw invalid('session.audio.output', 'session.audio.output must be an object');
    if (output.format !== undefined) change.outputFormat = gaFormat(output.format, 'session.audio.output.format');
    if (output.voice !== undefined) change.voice = stringAt(output.voice, 'session.audio.output.voice', 64);
  }
  return change;
};

const vadView = (vad: ServerVad | null): Json | null =>
  vad && {
    type: 'server_vad',
    threshold: vad.threshold,
    prefix_padding_ms: vad.prefixPaddingMs,
    silence_duration_ms: vad.silenceDurationMs,
    create_response: vad.createResponse,
    interrupt_response: vad.interruptResponse,
  };

const toolsView = (tools: readonly FunctionTool[]): Json[] => tools.map((tool) => ({ type: 'function', name: tool.name, description: tool.description, parameters: tool.parameters }));

/** The session object of `session.created` / `session.updated`, in the client's dialect. */
export const sessionView = (config: RealtimeSessionConfig, dialect: Dialect, id: string): Json => {
  if (dialect === 'beta') {
    return {
      id,
      object: 'realtime.session',
      model: config.model,
      modalities: config.modalities,
      instructions: config.instructions,
      voice: config.voice,
      input_audio_format: config.inputFormat,
      output_audio_format: config.outputFormat,
      input_audio_transcription: config.transcription,
      turn_detection: vadView(config.turnDetection),
      tools: toolsView(config.tools),
      tool_choice: config.toolChoice,
      temperature: config.temperature,
      max_response_output_tokens: config.maxOutputTokens,
    };
  }
  return {
    type: 'realtime',
    object: 'realtime.session',
    id,
    model: config.model,
    output_modalities: config.modalities,
    instructions: config.instructions,
    audio: {
      input: { format: gaFormatOf(config.inputFormat), transcription: config.transcription, turn_detection: vadView(config.turnDetection), noise_reduction: null },
      output: { format: gaFormatOf(config.outputFormat), voice: config.voice, speed: 1 },
    },
    tools: toolsView(config.tools),
    tool_choice: config.toolChoice,
    max_output_tokens: config.maxOutputTokens,
  };
};
