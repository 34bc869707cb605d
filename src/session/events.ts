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
  | { readonly type: 'error'; readonly code: string; readonly message: string };

/** What a session needs from whatever carries it (browser WebSocket, phone call…). */
export interface SessionTransport {
  send(event: ServerEvent): void;
  /** Sends PCM s16 at the session's output rate; resolves when the transport can take more. */
  sendAudio(samples: Int16Array, signal: AbortSignal): Promise<void>;
  /** Ends the connection after the session is done (e.g. the conversation ended). */
  end(reason: string): void;
}
