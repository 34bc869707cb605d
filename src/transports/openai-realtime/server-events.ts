import { randomUUID } from 'node:crypto';
import type { ReplyStatus, SessionEvent } from '../../session/events.js';
import type { Dialect } from './session-config.js';

import type { Json } from './protocol-error.js';

/** Event names that differ between the beta and GA protocols. */
const NAMES = {
  beta: {
    itemCreated: 'conversation.item.created',
    audioDelta: 'response.audio.delta',
    audioDone: 'response.audio.done',
    transcriptDelta: 'response.audio_transcript.delta',
    transcriptDone: 'response.audio_transcript.done',
    textDelta: 'response.text.delta',
    textDone: 'response.text.done',
    audioPart: 'audio',
    textPart: 'text',
  },
  ga: {
    itemCreated: 'conversation.item.added',
    audioDelta: 'response.output_audio.delta',
    audioDone: 'response.output_audio.done',
    transcriptDelta: 'response.output_audio_transcript.delta',
    transcriptDone: 'response.output_audio_transcript.done',
    textDelta: 'response.output_text.delta',
    textDone: 'response.output_text.done',
    audioPart: 'output_audio',
    textPart: 'output_text',
  },
} as const;

/** One response in progress: its id, and the output items announced so far. */
interface ResponseState {
  readonly id: string;
  readonly replyId: string;
  /** Spoken (audio content) or text only. */
  readonly audio: boolean;
  readonly output: Json[];
  messageIndex: number | undefined;
  textSent: string;
  audioDone: boolean;
  usage: { input: number; output: number };
}

export interface FunctionCallItem {
  readonly callId: string;
  readonly name: string;
  readonly arguments: string;
}

const STATUS: Record<ReplyStatus, { status: string; details: Json | null }> = {
  completed: { status: 'completed', details: null },
  interrupted: { status: 'cancelled', details: { type: 'cancelled', reason: 'turn_detected' } },
  cancelled: { status: 'cancelled', details: { type: 'cancelled', reason: 'client_cancelled' } },
  failed: { status: 'failed', details: { type: 'failed', error: { type: 'server_error', code: 'response_failed' } } },
};

/**
 * The OpenAI Realtime serializer: session events (and the connection's own acknowledgements) as
 * OpenAI server events in the client's dialect. Every event gets an `event_id`; every item and
 * response is announced (`…added`, `…created`) before any delta refers to it, and closed before
 * `response.done`, as strict clients require.
 */
export class OpenAiEventWriter {
  private response: ResponseState | undefined;
  /** The last item in the conversation, for `previous_item_id`. */
  private lastItemId: string | null = null;
  /** Caller transcripts so far, to send partials as deltas. */
  private readonly partials = new Map<string, string>();
  /** Input items announced lately: transcription events wait for their item (partials before the commit are not sent). */
  private readonly announcedInputs = new Set<string>();

  constructor(
    public dialect: Dialect,
    private readonly write: (event: Json) => void,
    /** Whether the caller's transcripts are sent (input_audio_transcription on). */
    private readonly transcribing: () => boolean,
    /** Whether the next response is spoken (its modalities include audio). */
    private readonly spoken: () => boolean,
  ) {}

  private get names() {
    return NAMES[this.dialect];
  }

  send(type: string, fields: Json = {}): void {
    this.write({ event_id: `event_${randomUUID().replaceAll('-', '')}`, type, ...fields });
  }

  error(code: string, message: string, options: { param?: string | null; eventId?: string | null; type?: string } = {}): void {
    this.send('error', { error: { type: options.type ?? 'invalid_request_error', code, message, param: options.param ?? null, event_id: options.eventId ?? null } });
  }

  /** A user item entered the conversation (committed audio, or an item the client created). */
  userItem(itemId: string, content: Json): void {
    this.announcedInputs.add(itemId);
    if (this.announcedInputs.size > 64) this.announcedInputs.delete(this.announcedInputs.values().next().value as string);
    const item = { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [content] };
    this.itemAdded(item);
  }

  committed(itemId: string): void {
    this.send('input_audio_buffer.committed', { previous_item_id: this.lastItemId, item_id: itemId });
    this.userItem(itemId, { type: 'input_audio', transcript: null });
  }

  /** The caller's audio became an item; then it is announced (with its transcript once known). */
  onSessionEvent(event: SessionEvent): void {
    switch (event.type) {
      case 'input_speech_started':
        this.send('input_audio_buffer.speech_started', { audio_start_ms: Math.round(event.audioStartMs), item_id: event.itemId });
        return;
      case 'input_speech_stopped':
        this.send('input_audio_buffer.speech_stopped', { audio_end_ms: Math.round(event.audioEndMs), item_id: event.itemId });
        if (event.itemId) this.committed(event.itemId);
        return;
      case 'input_transcript':
        this.transcript(event.itemId, event.text, event.final);
        return;
      case 'input_cleared':
        this.send('input_audio_buffer.cleared');
        return;
      case 'reply_started':
        this.startResponse(event.replyId);
        return;
      case 'reply_text_delta':
        this.textDelta(event.replyId, event.delta);
        return;
      case 'reply_text_done':
        // A stored reply spoken again (the greeting) comes without deltas.
        if (this.response?.replyId === event.replyId && this.response.textSent === '') this.textDelta(event.replyId, event.text);
        return;
      case 'reply_audio_done':
        this.audioDone(event.replyId);
        return;
      case 'reply_function_call':
        this.functionCall(event.replyId, event);
        return;
      case 'turn_timings':
        if (this.response?.replyId === event.replyId) this.response.usage = { input: event.timings.promptTokens ?? 0, output: event.timings.completionTokens ?? 0 };
        return;
      case 'reply_done':
        this.finishResponse(event.replyId, event.status, event.text);
        return;
      case 'reply_truncated':
        this.send('conversation.item.truncated', { item_id: event.replyId, content_index: 0, audio_end_ms: Math.round(event.audioEndMs) });
        return;
      case 'error':
        this.error(event.code, event.message, { type: event.code === 'internal_error' ? 'server_error' : 'invalid_request_error' });
        return;
      default:
        // session_ready is answered by the connection (session.created); segments, timings, interruptions (response.done says it) and shutdown have no OpenAI event.
        return;
    }
  }

  /** A chunk of the reply's audio, in the client's output format. */
  audioDelta(replyId: string, chunk: Buffer): void {
    const response = this.response;
    if (!response || response.replyId !== replyId) return;
    const index = this.messageItem(response);
    this.send(this.names.audioDelta, { response_id: response.id, item_id: replyId, output_index: index, content_index: 0, delta: chunk.toString('base64') });
  }

  private transcript(itemId: string, text: string, final: boolean): void {
    if (!this.transcribing() || !itemId || !this.announcedInputs.has(itemId)) return;
    if (final) {
      this.partials.delete(itemId);
      this.send('conversation.item.input_audio_transcription.completed', { item_id: itemId, content_index: 0, transcript: text });
      return;
    }
    // Partials repeat the whole text; a delta is only the new end (a revised hypothesis waits for the final).
    const before = this.partials.get(itemId) ?? '';
    if (!text.startsWith(before) || text.length === before.length) return;
    this.partials.set(itemId, text);
    this.send('conversation.item.input_audio_transcription.delta', { item_id: itemId, content_index: 0, delta: text.slice(before.length) });
  }

  /** An item the client added (a function's output): announced like any other. */
  item(item: Json): void {
    this.itemAdded(item);
  }

  private itemAdded(item: Json): void {
    this.send(this.names.itemCreated, { previous_item_id: this.lastItemId, item });
    if (this.dialect === 'ga') this.send('conversation.item.done', { previous_item_id: this.lastItemId, item });
    this.lastItemId = item.id as string;
  }

  private startResponse(replyId: string): void {
    const response: ResponseState = { id: `resp_${randomUUID().replaceAll('-', '')}`, replyId, audio: this.spoken(), output: [], messageIndex: undefined, textSent: '', audioDone: false, usage: { input: 0, output: 0 } };
    this.response = response;
    this.send('response.created', { response: this.responseView(response, 'in_progress', null) });
  }

  /** The reply's message item and its content part, announced before their first delta. */
  private messageItem(response: ResponseState): number {
    if (response.messageIndex !== undefined) return response.messageIndex;
    const index = response.output.length;
    response.messageIndex = index;
    const item = { id: response.replyId, object: 'realtime.item', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
    response.output.push(item);
    this.send('response.output_item.added', { response_id: response.id, output_index: index, item });
    this.itemAdded(item);
    this.send('response.content_part.added', { response_id: response.id, item_id: response.replyId, output_index: index, content_index: 0, part: this.part(response, '') });
    return index;
  }

  private part(response: ResponseState, text: string): Json {
    return response.audio ? { type: this.names.audioPart, transcript: text } : { type: this.names.textPart, text };
  }

  private textDelta(replyId: string, delta: string): void {
    const response = this.response;
    if (!response || response.replyId !== replyId || delta === '') return;
    const index = this.messageItem(response);
    response.textSent += delta;
    this.send(response.audio ? this.names.transcriptDelta : this.names.textDelta, { response_id: response.id, item_id: replyId, output_index: index, content_index: 0, delta });
  }

  private audioDone(replyId: string): void {
    const response = this.response;
    if (!response || response.replyId !== replyId || response.audioDone || response.messageIndex === undefined || !response.audio) return;
    response.audioDone = true;
    this.send(this.names.audioDone, { response_id: response.id, item_id: replyId, output_index: response.messageIndex, content_index: 0 });
  }

  private functionCall(replyId: string, call: FunctionCallItem): void {
    const response = this.response;
    if (!response || response.replyId !== replyId) return;
    const index = response.output.length;
    const itemId = `item_${randomUUID().replaceAll('-', '')}`;
    const item = { id: itemId, object: 'realtime.item', type: 'function_call', status: 'in_progress', call_id: call.callId, name: call.name, arguments: '' };
    response.output.push(item);
    this.send('response.output_item.added', { response_id: response.id, output_index: index, item });
    this.itemAdded(item);
    const common = { response_id: response.id, item_id: itemId, output_index: index, call_id: call.callId };
    this.send('response.function_call_arguments.delta', { ...common, delta: call.arguments });
    this.send('response.function_call_arguments.done', { ...common, name: call.name, arguments: call.arguments });
    const done = { ...item, status: 'completed', arguments: call.arguments };
    response.output[index] = done;
    this.send('response.output_item.done', { response_id: response.id, output_index: index, item: done });
  }

  private finishResponse(replyId: string, status: ReplyStatus, text: string): void {
    const response = this.response;
    if (!response || response.replyId !== replyId) return;
    this.response = undefined;
    const index = response.messageIndex ?? (text ? this.messageItem(response) : undefined);
    if (index !== undefined) {
      if (response.audio && !response.audioDone) this.audioDone(replyId);
      const common = { response_id: response.id, item_id: replyId, output_index: index, content_index: 0 };
      if (response.audio) this.send(this.names.transcriptDone, { ...common, transcript: text });
      else this.send(this.names.textDone, { ...common, text });
      const part = this.part(response, text);
      this.send('response.content_part.done', { ...common, part });
      const item = { id: replyId, object: 'realtime.item', type: 'message', status: status === 'completed' ? 'completed' : 'incomplete', role: 'assistant', content: [part] };
      response.output[index] = item;
      this.send('response.output_item.done', { response_id: response.id, output_index: index, item });
    }
    const outcome = STATUS[status];
    this.send('response.done', { response: this.responseView(response, outcome.status, outcome.details) });
  }

  private responseView(response: ResponseState, status: string, details: Json | null): Json {
    const modalities = response.audio ? ['audio'] : ['text'];
    const { input, output } = response.usage;
    return {
      id: response.id,
      object: 'realtime.response',
      status,
      status_details: details,
      output: response.output,
      ...(this.dialect === 'ga' ? { output_modalities: modalities } : { modalities: response.audio ? ['text', 'audio'] : ['text'] }),
      usage: status === 'in_progress' ? null : { total_tokens: input + output, input_tokens: input, output_tokens: output },
    };
  }
}
