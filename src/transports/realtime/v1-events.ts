import type { SessionEvent } from '../../session/events.js';

/** Server → client messages of the realtime protocol (v1). Audio itself travels as binary frames. */
export type ServerEvent =
  | { readonly type: 'ready'; readonly protocol: 1; readonly sessionId: string; readonly conversationId: string; readonly outputSampleRate: number }
  | { readonly type: 'speech_started' }
  | { readonly type: 'speech_stopped' }
  | { readonly type: 'transcript'; readonly text: string; readonly final: boolean }
  | { readonly type: 'reply'; readonly text: string; readonly final: boolean }
  | { readonly type: 'audio_start'; readonly sampleRate: number }
  | { readonly type: 'audio_end' }
  | { readonly type: 'interrupted'; readonly playedText: string }
  | { readonly type: 'conversation_ended'; readonly status: string }
  | { readonly type: 'shutting_down'; readonly deadlineMs: number }
  | { readonly type: 'error'; readonly code: string; readonly message: string };

/**
 * The v1 serializer: a session event as the v1 message it has always been (same fields, same
 * order), or undefined for events v1 does not carry (ids, segments, manual-turn events).
 */
export const toV1 = (event: SessionEvent): ServerEvent | undefined => {
  switch (event.type) {
    case 'session_ready':
      return { type: 'ready', protocol: 1, sessionId: event.sessionId, conversationId: event.conversationId, outputSampleRate: event.output.sampleRate };
    case 'input_speech_started':
      return { type: 'speech_started' };
    case 'input_speech_stopped':
      return { type: 'speech_stopped' };
    case 'input_transcript':
      // An empty final (noise) is not a turn; v1 has never announced one.
      if (event.final && !event.text) return undefined;
      return { type: 'transcript', text: event.text, final: event.final };
    case 'reply_text_delta':
      return { type: 'reply', text: event.delta, final: false };
    case 'reply_text_done':
      return { type: 'reply', text: event.text, final: true };
    case 'reply_audio_started':
      return { type: 'audio_start', sampleRate: event.format.sampleRate };
    case 'reply_audio_done':
      return { type: 'audio_end' };
    case 'reply_interrupted':
      return { type: 'interrupted', playedText: event.playedText };
    case 'conversation_ended':
      return { type: 'conversation_ended', status: event.outcome.status };
    case 'shutting_down':
      return { type: 'shutting_down', deadlineMs: event.deadlineMs };
    case 'error':
      return { type: 'error', code: event.code, message: event.message };
    default:
      return undefined;
  }
};
