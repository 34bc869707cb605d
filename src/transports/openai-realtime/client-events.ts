import { invalid, isObject, OpenAiProtocolError, type Json } from './protocol-error.js';
import { modalitiesOf, type FunctionTool, type ToolChoice } from './session-config.js';

/** An input item a client adds with `conversation.item.create`. */
export type InputItem =
  | { readonly kind: 'user_text'; readonly text: string }
  | { readonly kind: 'user_audio'; readonly audio: Buffer }
  | { readonly kind: 'function_call_output'; readonly callId: string; readonly output: string };

/** What `response.create` may change for one response. */
export interface ResponseRequest {
  readonly instructions?: string;
  readonly modalities?: readonly ('text' | 'audio')[];
  /** Raw tools, checked against the session's rules by the caller. */
  readonly tools?: unknown;
  readonly toolChoice?: unknown;
}

/** A client event, both dialects folded into one shape. `eventId` is the client's own, echoed in errors. */
export type ClientEvent = { readonly eventId: string | null } & (
  | { readonly type: 'session.update'; readonly session: unknown }
  | { readonly type: 'input_audio_buffer.append'; readonly audio: Buffer }
  | { readonly type: 'input_audio_buffer.commit' }
  | { readonly type: 'input_audio_buffer.clear' }
  | { readonly type: 'conversation.item.create'; readonly item: InputItem }
  | { readonly type: 'conversation.item.truncate'; readonly itemId: string; readonly audioEndMs: number }
  | { readonly type: 'conversation.item.delete'; readonly itemId: string }
  | { readonly type: 'response.create'; readonly response: ResponseRequest }
  | { readonly type: 'response.cancel' }
  /** GA (WebRTC): stop the audio being played now; over a WebSocket the same as cancelling the response. */
  | { readonly type: 'output_audio_buffer.clear' }
);

export type { FunctionTool, ToolChoice };


const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const MAX_TEXT_CHARS = 16_000;
const MAX_OUTPUT_CHARS = 64_000;


const requiredString = (value: unknown, param: string, maxChars: number): string => {
  if (typeof value !== 'string' || value === '') throw invalid(param, `${param} must be a non-empty string`, value === undefined ? 'missing_required_parameter' : 'invalid_value');
  if (value.length > maxChars) throw invalid(param, `${param} is longer than ${maxChars} characters`);
  return value;
};

const base64Audio = (value: unknown, param: string): Buffer => {
  if (typeof value !== 'string') throw invalid(param, `${param} must be base64-encoded audio`, value === undefined ? 'missing_required_parameter' : 'invalid_value');
  if (value.length % 4 !== 0 || !BASE64.test(value)) throw invalid(param, `${param} is not valid base64`);
  return Buffer.from(value, 'base64');
};

/** Reads the client's event_id first, so even a malformed event's error can name it. */
export const eventIdOf = (message: Json): string | null => (typeof message.event_id === 'string' ? message.event_id.slice(0, 128) : null);

export const parseJsonEvent = (text: string): Json => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new OpenAiProtocolError('invalid_json', 'the event is not valid JSON');
  }
  if (!isObject(value)) throw new OpenAiProtocolError('invalid_event', 'an event must be a JSON object');
  return value;
};

const inputItem = (item: unknown): InputItem => {
  if (!isObject(item)) throw invalid('item', 'item must be an object', item === undefined ? 'missing_required_parameter' : 'invalid_value');
  if (item.type === 'function_call_output') {
    const output = item.output;
    return { kind: 'function_call_output', callId: requiredString(item.call_id, 'item.call_id', 128), output: typeof output === 'string' ? output.slice(0, MAX_OUTPUT_CHARS) : JSON.stringify(output ?? null).slice(0, MAX_OUTPUT_CHARS) };
  }
  if (item.type !== undefined && item.type !== 'message') throw invalid('item.type', `items of type ${JSON.stringify(item.type)} cannot be added here; use message or function_call_output`, 'unsupported_item');
  if (item.role !== 'user') throw invalid('item.role', 'only user messages can be added (the assistant’s come from the agent; instructions go in session.update)', 'unsupported_item');
  const content = item.content;
  if (!Array.isArray(content) || content.length === 0) throw invalid('item.content', 'item.content must be a non-empty array');
  const texts: string[] = [];
  const audio: Buffer[] = [];
  content.forEach((part: unknown, index) => {
    const at = `item.content[${index}]`;
    if (!isObject(part)) throw invalid(at, `${at} must be an object`);
    if (part.type === 'input_text' || part.type === 'text') texts.push(requiredString(part.text, `${at}.text`, MAX_TEXT_CHARS));
    else if (part.type === 'input_audio') audio.push(base64Audio(part.audio, `${at}.audio`));
    else throw invalid(`${at}.type`, `${at}.type must be input_text or input_audio`);
  });
  if (texts.length > 0 && audio.length > 0) throw invalid('item.content', 'a message holds text or audio, not both');
  return texts.length > 0 ? { kind: 'user_text', text: texts.join('\n') } : { kind: 'user_audio', audio: Buffer.concat(audio) };
};

const responseRequest = (value: unknown): ResponseRequest => {
  if (value === undefined) return {};
  if (!isObject(value)) throw invalid('response', 'response must be an object');
  const raw = value.output_modalities ?? value.modalities;
  const modalities = raw === undefined ? undefined : modalitiesOf(raw, value.output_modalities !== undefined ? 'response.output_modalities' : 'response.modalities');
  if (value.conversation !== undefined && value.conversation !== 'auto') throw invalid('response.conversation', 'only responses in the conversation ("auto") are served here', 'unsupported_value');
  if (value.input !== undefined) throw invalid('response.input', 'responses answer the conversation; response.input is not supported', 'unsupported_value');
  return {
    ...(value.instructions !== undefined ? { instructions: requiredString(value.instructions, 'response.instructions', 32_000) } : {}),
    ...(modalities !== undefined ? { modalities } : {}),
    ...(value.tools !== undefined ? { tools: value.tools } : {}),
    ...(value.tool_choice !== undefined ? { toolChoice: value.tool_choice } : {}),
  };
};

/** One client event; unknown types and bad fields are OpenAiProtocolErrors naming the field. */
export const parseClientEvent = (message: Json): ClientEvent => {
  const eventId = eventIdOf(message);
  switch (message.type) {
    case 'session.update':
      return { eventId, type: 'session.update', session: message.session };
    case 'input_audio_buffer.append':
      return { eventId, type: 'input_audio_buffer.append', audio: base64Audio(message.audio, 'audio') };
    case 'input_audio_buffer.commit':
    case 'input_audio_buffer.clear':
    case 'response.cancel':
    case 'output_audio_buffer.clear':
      return { eventId, type: message.type };
    case 'conversation.item.create':
      return { eventId, type: 'conversation.item.create', item: inputItem(message.item) };
    case 'conversation.item.truncate': {
      const audioEndMs = message.audio_end_ms;
      if (typeof audioEndMs !== 'number' || !Number.isFinite(audioEndMs)) throw invalid('audio_end_ms', 'audio_end_ms must be a number of milliseconds');
      if (message.content_index !== undefined && message.content_index !== 0) throw invalid('content_index', 'content_index must be 0');
      return { eventId, type: 'conversation.item.truncate', itemId: requiredString(message.item_id, 'item_id', 128), audioEndMs };
    }
    case 'conversation.item.delete':
      return { eventId, type: 'conversation.item.delete', itemId: requiredString(message.item_id, 'item_id', 128) };
    case 'response.create':
      return { eventId, type: 'response.create', response: responseRequest(message.response) };
    default:
      throw invalid('type', `unknown or unsupported event type ${JSON.stringify(message.type)}`, 'invalid_event');
  }
};
