import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/**
 * Row shapes of Harken's tables. Timestamps are ISO-8601 UTC strings and JSON
 * columns are text, so the same rows work on SQLite and, later, PostgreSQL.
 */
export interface ConversationsTable {
  id: string;
  agent: string;
  /** `active` while the agent is still talking; otherwise how it ended (e.g. `completed`). */
  status: string;
  /** Agent-private progress (JSON), e.g. the dialogue step. */
  state: string;
  /** Structured answers collected so far (JSON object). */
  data: string;
  /** Optimistic-concurrency counter: each turn must see the version it read. */
  version: number;
  message_count: number;
  created_at: string;
  updated_at: string;
}

export interface MessagesTable {
  id: string;
  conversation_id: string;
  /** Position in the conversation, starting at 1. */
  seq: number;
  role: 'user' | 'assistant';
  text: string;
  /** How the turn arrived: typed text or speech. */
  source: 'text' | 'voice';
  created_at: string;
  /** 1 when an assistant reply was cut short by the caller; text then holds only what was played. */
  interrupted: ColumnType<number, number | undefined, number>;
  stt_latency_ms: number | null;
  agent_latency_ms: number | null;
  tts_first_audio_ms: number | null;
  voice_to_voice_ms: number | null;
}

export interface AuditEventsTable {
  id: Generated<number>;
  occurred_at: string;
  action: string;
  outcome: string;
  actor: string | null;
  target: string | null;
  /** Masked client address. */
  ip: string | null;
  details: string | null;
}

export interface HarkenDatabase {
  conversations: ConversationsTable;
  messages: MessagesTable;
  audit_events: AuditEventsTable;
}

export type ConversationRow = Selectable<ConversationsTable>;
export type MessageRow = Selectable<MessagesTable>;
export type NewMessageRow = Insertable<MessagesTable>;
