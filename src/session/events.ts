import type { AudioFormat } from '../audio/audio-format.js';
import type { AudioSink } from './audio-sink.js';

/** How a conversation ended, as the transport needs it (a phone transport dials `transferTarget`). */
export interface ConversationOutcome {
  /** The conversation's final status (`completed`, `ended`, `transferred`, …). */
  readonly status: string;
  /** Where a `transfer` sends the caller: the configured number or URI, and its name. */
  readonly transferTarget?: string;
  readonly transferTo?: string;
  /** Why the agent ended the call, when it said. */
  readonly reason?: string;
}

/** Stage times of one turn in ms; a stage the turn did not have (typed input, a scripted agent's LLM) is absent. */
export interface TurnTimings {
  /** The silence that ended the caller's turn, and the rule that chose it (session/turn-ending.ts). */
  readonly endOfTurnMs?: number;
  readonly endOfTurnRule?: string;
  /** From the end of the turn to the final transcript. */
  readonly sttFinalMs?: number;
  readonly llmFirstTokenMs?: number;
  /** From the first sentence's synthesis request to its first audio. */
  readonly ttsFirstAudioMs?: number;
  /** From the caller's last word to the reply's first audio. */
  readonly voiceToVoiceMs?: number;
  /** The language model's token counts for the turn, when it used one. */
  readonly promptTokens?: number;
  readonly completionTokens?: number;
}

/** How a reply ended. */
export type ReplyStatus = 'completed' | 'interrupted' | 'cancelled' | 'failed';

/**
 * What a session tells its transport. Semantic, not a wire format: each transport maps these
 * to its own messages (realtime v1, Twilio Media Streams, OpenAI Realtime). Ids are stable:
 * `itemId` is the caller's utterance and `replyId` the agent's reply, both equal to the ids of
 * the stored messages; `segmentId` names one synthesised sentence of a reply.
 */
export type SessionEvent =
  | { readonly type: 'session_ready'; readonly sessionId: string; readonly conversationId: string; readonly output: AudioFormat }
  | { readonly type: 'input_speech_started'; readonly itemId: string; readonly audioStartMs: number }
  | { readonly type: 'input_speech_stopped'; readonly itemId: string; readonly audioEndMs: number }
  /** Partial transcripts repeat the whole text so far. */
  | { readonly type: 'input_transcript'; readonly itemId: string; readonly text: string; readonly final: boolean }
  /** Manual turns: the caller's audio up to now became this item (empty text: nothing was recognised). */
  | { readonly type: 'input_committed'; readonly itemId: string; readonly text: string }
  | { readonly type: 'input_cleared' }
  | { readonly type: 'reply_started'; readonly replyId: string }
  | { readonly type: 'reply_text_delta'; readonly replyId: string; readonly delta: string }
  | { readonly type: 'reply_text_done'; readonly replyId: string; readonly text: string }
  | { readonly type: 'reply_audio_started'; readonly replyId: string; readonly format: AudioFormat }
  | { readonly type: 'reply_segment'; readonly replyId: string; readonly segmentId: string; readonly text: string; readonly startMs: number; readonly durationMs: number }
  | { readonly type: 'reply_audio_done'; readonly replyId: string }
  /** The agent asks the client to run a function it declared; the client answers with its output and asks for a response. */
  | { readonly type: 'reply_function_call'; readonly replyId: string; readonly callId: string; readonly name: string; readonly arguments: string }
  /** Sent the moment the caller barges in or the client cancels: what they heard so far. */
  | { readonly type: 'reply_interrupted'; readonly replyId: string; readonly playedText: string; readonly playedMs: number }
  /** The reply is over and stored: `text` is what is kept in the conversation (the played part if cut). */
  | { readonly type: 'reply_done'; readonly replyId: string; readonly status: ReplyStatus; readonly text: string; readonly playedMs: number }
  /** A late truncate changed what is stored as heard. */
  | { readonly type: 'reply_truncated'; readonly replyId: string; readonly audioEndMs: number; readonly text: string }
  | { readonly type: 'conversation_ended'; readonly outcome: ConversationOutcome }
  /** How long each stage of a turn took, once its reply is stored (for metrics; transports may ignore it). */
  | { readonly type: 'turn_timings'; readonly replyId: string; readonly timings: TurnTimings }
  /**
   * The server is stopping: the reply in progress is finished (for at most `deadlineMs`), words
   * spoken from now on are stored unanswered, then the connection closes (1001).
   */
  | { readonly type: 'shutting_down'; readonly deadlineMs: number }
  | { readonly type: 'error'; readonly code: string; readonly message: string };

/** What a session needs from whatever carries it (browser WebSocket, phone call, OpenAI client…). */
export interface SessionTransport {
  send(event: SessionEvent): void;
  /** Where the agent's audio goes, in the transport's own format. */
  readonly audio: AudioSink;
  /** Ends the connection after the session is done (e.g. the conversation ended). */
  end(reason: string): void;
}
