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
  /** The tenant of the credential that created it; only that tenant (and admins) may see it. */
  tenant: ColumnType<string, string | undefined, string>;
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
  /** LLM replies: which provider/model answered, its time to first token and token usage. */
  llm_model: ColumnType<string | null, string | null | undefined, string | null>;
  llm_first_token_ms: ColumnType<number | null, number | null | undefined, number | null>;
  prompt_tokens: ColumnType<number | null, number | null | undefined, number | null>;
  completion_tokens: ColumnType<number | null, number | null | undefined, number | null>;
  /** Caller turns: the pause that ended the turn and the rule that chose it. */
  end_of_turn_ms: ColumnType<number | null, number | null | undefined, number | null>;
  end_of_turn_rule: ColumnType<string | null, string | null | undefined, string | null>;
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

/** API keys: only a SHA-256 of the secret part is kept. */
export interface ApiKeysTable {
  /** Public part of the key (`hk_<id>_…`), safe to show and log. */
  id: string;
  name: string;
  secret_hash: string;
  /** JSON array of scopes. */
  scopes: string;
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  usage_count: ColumnType<number, number | undefined, number>;
  /** Requests per rate-limit window for this key; null uses rateLimit.requests. */
  rate_limit: number | null;
  /** Concurrent realtime sessions for this key; null uses the general limit. */
  max_sessions: number | null;
  tenant: ColumnType<string, string | undefined, string>;
  /** Requests per UTC day; null uses rateLimit.dailyRequests. */
  daily_limit: ColumnType<number | null, number | null | undefined, number | null>;
}

/** Requests per key and UTC day, so daily quotas survive restarts. */
export interface ApiKeyDailyUsageTable {
  key_id: string;
  /** YYYY-MM-DD (UTC). */
  day: string;
  requests: number;
}

/** Machines (e.g. satellites) that call Harken with a rotating secret. */
export interface ServiceAccountsTable {
  id: string;
  name: string;
  secret_hash: string;
  /** JSON array of permissions (scopes). */
  permissions: string;
  created_at: string;
  rotated_at: string | null;
  disabled_at: string | null;
  last_used_at: string | null;
  tenant: ColumnType<string, string | undefined, string>;
  /** Bumped by each rotation; tokens name the version they came from. */
  secret_version: ColumnType<number, number | undefined, number>;
}

export interface AdminsTable {
  id: string;
  username: string;
  /** argon2id PHC string. */
  password_hash: string;
  created_at: string;
  last_login_at: string | null;
  disabled_at: ColumnType<string | null, string | null | undefined, string | null>;
  password_changed_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** Base32 TOTP secret while enrolling or enrolled; null without a second factor. */
  totp_secret: ColumnType<string | null, string | null | undefined, string | null>;
  /** Set once the first code was confirmed: from then on login needs a code. */
  totp_enabled_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** The 30-second step of the last accepted code: a code is accepted once. */
  totp_last_step: ColumnType<number | null, number | null | undefined, number | null>;
}

/** One-time recovery codes for a TOTP-enrolled admin (hashes only). */
export interface AdminRecoveryCodesTable {
  code_hash: string;
  admin_id: string;
  used_at: string | null;
}

/** Server-side admin sessions behind the HttpOnly cookie; only hashes of the tokens are stored. */
export interface AdminSessionsTable {
  id_hash: string;
  admin_id: string;
  csrf_hash: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  /** Public id of the session (tokens and the sessions list name it). */
  session_id: string;
  last_seen_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** Masked address the session was started from. */
  ip: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Phone calls, inbound and outbound; like conversations, each belongs to one tenant. */
export interface CallsTable {
  id: string;
  tenant: string;
  /** Twilio's CA… id; null until Twilio accepted an outbound call. */
  call_sid: string | null;
  direction: 'inbound' | 'outbound';
  from_number: string;
  to_number: string;
  agent: string;
  /** Twilio's call status: queued, initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled. */
  status: string;
  /** Answering-machine detection: human, machine_start, machine_end_beep, fax, unknown… */
  answered_by: string | null;
  conversation_id: string | null;
  /** Who or what ended it: caller_hung_up, agent_ended, transferred, machine, voicemail_left, api_hangup, … */
  end_reason: string | null;
  error: string | null;
  created_at: string;
  answered_at: string | null;
  ended_at: string | null;
  duration_s: number | null;
  updated_at: string;
}

/** Every status change of a call, in arrival order: Twilio callbacks, the stream, the API. */
export interface CallEventsTable {
  id: Generated<number>;
  call_id: string;
  occurred_at: string;
  /** `twilio` (a status or AMD callback), `stream`, `api`. */
  source: string;
  status: string | null;
  answered_by: string | null;
  /** JSON object. */
  details: string | null;
  dedupe_key: string;
}

/** One start of the server and how it ended (restart tracking). No caller data. */
export interface ServerRunsTable {
  id: string;
  pid: number;
  version: string;
  started_at: string;
  /** When and why it ended, as far as is known (null while it runs, or when it vanished without a trace). */
  ended_at: string | null;
  end_reason: string | null;
  end_detail: string | null;
}

export interface HarkenDatabase {
  server_runs: ServerRunsTable;
  calls: CallsTable;
  call_events: CallEventsTable;
  conversations: ConversationsTable;
  messages: MessagesTable;
  audit_events: AuditEventsTable;
  api_keys: ApiKeysTable;
  service_accounts: ServiceAccountsTable;
  admins: AdminsTable;
  admin_sessions: AdminSessionsTable;
  admin_recovery_codes: AdminRecoveryCodesTable;
  api_key_daily_usage: ApiKeyDailyUsageTable;
}

export type ConversationRow = Selectable<ConversationsTable>;
export type CallRow = Selectable<CallsTable>;
export type CallEventRow = Selectable<CallEventsTable>;
export type MessageRow = Selectable<MessagesTable>;
export type NewMessageRow = Insertable<MessagesTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type ServiceAccountRow = Selectable<ServiceAccountsTable>;
export type AdminRow = Selectable<AdminsTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
